"""llebench's own NIQE, BRISQUE and LOE (plugins/llebench_metrics/nss.py, niqe.py, brisque.py,
loe.py) against their references: pyiqa's ``niqe`` and ``brisque``, pyiqa's MATLAB
``imresize`` and colour conversion, and the LOE llebench computed with them before.

Correctness only (``bench/metrics_speed.py`` measures the speed). The CPU path works in
pieces on the calling thread; ``nss.DEVICE_PATH_ON_CPU`` runs the one-piece path that
CUDA takes on CPU tensors, so both are checked here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from llebench.api import EnhanceRecord, Sample
from llebench.cli import main
from llebench.errors import LLEBenchError, RunConfigError
from llebench.images import quantize, read_image, write_png
from llebench_metrics import loe, nss
from llebench_metrics.brisque import BRISQUEModel, brisque_features
from llebench_metrics.niqe import NIQEModel, niqe_features
from llebench_metrics.pyiqa_bridge import BRISQUE, NIQE

RECORD = EnhanceRecord(0.0, "cpu")


@pytest.fixture(params=["pieces", "device path"])
def path(request, monkeypatch):
    """Run a test on the CPU path (pieces) and on the one-piece device path."""
    monkeypatch.setattr(nss, "DEVICE_PATH_ON_CPU", request.param == "device path")
    return request.param


@pytest.fixture(scope="module")
def niqe_file(shared_weights) -> Path:
    return shared_weights / "niqe_modelparameters.mat"


@pytest.fixture(scope="module")
def pyiqa_niqe(niqe_file):
    import pyiqa

    return pyiqa.create_metric("niqe", device="cpu", pretrained_model_path=str(niqe_file))


@pytest.fixture(scope="module")
def svr_file(tmp_path_factory) -> Path:
    """A small BRISQUE SVR of the LIVE file's form ((sv_coef, sv)), made here: the real one is not in ../shared."""
    generator = torch.Generator().manual_seed(0)
    path = tmp_path_factory.mktemp("brisque") / "brisque_svm_weights.pth"
    torch.save((torch.randn(40, generator=generator), torch.rand(40, 36, generator=generator) * 2 - 1), path)
    return path


@pytest.fixture(scope="module")
def pyiqa_brisque(svr_file):
    import pyiqa

    return pyiqa.create_metric("brisque", device="cpu", pretrained_model_path=str(svr_file))


def dicm(shared_data: Path, count: int | None = None) -> list[Path]:
    paths = sorted((shared_data / "DICM").glob("*.jpg"))
    assert len(paths) == 64
    return paths[:count]


def flat_blocks(height: int, width: int, seed: int = 1) -> torch.Tensor:
    """An 8-bit image of large constant blocks (flat regions: the hard case of MSCN signs), some black."""
    generator = torch.Generator().manual_seed(seed)
    levels = torch.randint(0, 256, (1, 3, 5, 7), generator=generator).float()
    levels[..., :2, :2] = 0
    return torch.nn.functional.interpolate(levels / 255, size=(height, width), mode="nearest")


# -- building blocks ---------------------------------------------------------------------

@pytest.mark.parametrize("shape, dtype", [((192, 288), torch.float64), ((97, 131), torch.float64),
                                          ((60, 731), torch.float32), ((24, 32), torch.float64), ((7, 9), torch.float32)])
def test_imresize_is_bit_identical_to_pyiqa(shape, dtype, path):
    from pyiqa.matlab_utils import imresize as reference

    height, width = shape
    levels = (torch.rand(2, 1, height, width, dtype=dtype, generator=torch.Generator().manual_seed(0)) * 255).round()
    for options in ({"scale": 0.5}, {"sizes": (50, max(1, round(50 * width / height)))}, {"sizes": (100, 100)},
                    {"sizes": (height, 2 * width)}):
        if min(height, width) < 8 and "scale" in options:
            continue
        expected = reference(levels, **options)
        ours = nss.imresize(levels, **options)
        assert ours.dtype == expected.dtype and torch.equal(ours, expected), options
    expected = reference(levels / 255.0, scale=0.5) * 255.0 if min(shape) >= 8 else None
    if expected is not None:
        assert torch.equal(nss.imresize(levels, scale=0.5, divide_by=255.0, multiply_by=255.0), expected)


def test_y_levels_round_like_pyiqa_for_every_8bit_colour_sampled(path):
    from pyiqa.utils.color_util import to_y_channel

    generator = torch.Generator().manual_seed(0)
    colours = torch.randint(0, 256, (1, 3, 500, 800), generator=generator).float() / 255  # 400k colours
    expected = to_y_channel(colours, 255, "yiq").round()
    assert torch.equal(nss.y_levels(colours), expected.double())
    assert torch.equal(nss.y_levels(colours, torch.float32), to_y_channel(colours, 255.0))


def test_grid_fit_equals_pyiqas_argmin_over_the_whole_table():
    fit = nss.grid_fit(torch.float64)
    gamma = torch.arange(0.2, 10 + 0.001, 0.001).double()
    aggd_table = (2 * torch.lgamma(2.0 / gamma) - (torch.lgamma(1.0 / gamma) + torch.lgamma(3.0 / gamma))).exp()
    ggd_table = (torch.lgamma(1.0 / gamma) + torch.lgamma(3.0 / gamma) - 2 * torch.lgamma(2.0 / gamma)).exp()
    generator = torch.Generator().manual_seed(0)
    values = torch.cat([torch.rand(2000, generator=generator, dtype=torch.float64) * 12 - 1,
                        aggd_table[::97], ggd_table[::97],  # on the table
                        (aggd_table[1:300:7] + aggd_table[:299:7]) / 2,  # half-way: ties go to the lower index
                        torch.tensor([float("nan"), float("inf"), -float("inf"), 0.0, 1e9], dtype=torch.float64)])
    for table, ascending, negated in ((aggd_table, fit.aggd_table, False), (ggd_table, fit._ggd_negated, True)):
        expected = (table.unsqueeze(0) - values.unsqueeze(1)).abs().argmin(dim=-1).numpy()
        ours = fit._nearest(table.numpy(), ascending, values.numpy(), negated)
        assert (ours == expected).all()


def test_neighbour_moments_match_rolled_products(path):
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(2, 192, 240, generator=generator, dtype=torch.float64)
    image[0, :40, :50] = 0  # exact zeros count on neither side
    shifts = ((0, 1), (1, 0), (1, 1), (1, -1), (-1, 1))
    ours = nss.neighbour_moments(image, (96, 120), shifts)
    tiles = image.view(2, 2, 96, 2, 120).permute(0, 1, 3, 2, 4).reshape(2, 4, 96, 120)
    for s, block in enumerate([tiles] + [tiles * torch.roll(tiles, shift, dims=(-2, -1)) for shift in shifts]):
        flat = block.reshape(2, 4, -1)
        expected = torch.stack([(flat < 0).sum(-1).double(), (flat > 0).sum(-1).double(),
                                (flat * (flat < 0)).pow(2).sum(-1), (flat * (flat > 0)).pow(2).sum(-1),
                                flat.abs().sum(-1)], dim=-1)
        torch.testing.assert_close(ours[s], expected, rtol=1e-12, atol=0)
    whole = nss.neighbour_moments(image[:1], (192, 240), shifts)  # one tile larger than a piece
    flat = (image[:1] * torch.roll(image[:1], (1, -1), dims=(-2, -1))).reshape(1, 1, -1)
    torch.testing.assert_close(whole[4, :, :, 3], (flat * (flat > 0)).pow(2).sum(-1), rtol=1e-12, atol=0)


# -- NIQE --------------------------------------------------------------------------------

def assert_niqe_matches(images: list[torch.Tensor], pyiqa_niqe, model: NIQEModel, tolerance: float) -> float:
    worst = 0.0
    with torch.inference_mode():
        for image in images:
            expected, ours = float(pyiqa_niqe(image)), float(model(image)[0])
            assert math.isnan(ours) == math.isnan(expected)
            worst = max(worst, abs(ours - expected) if not math.isnan(expected) else 0.0)
    assert worst < tolerance
    return worst


def test_niqe_matches_pyiqa_on_dicm_images(shared_data, niqe_file, pyiqa_niqe):
    images = [read_image(p) for p in dicm(shared_data, 2)]  # 640x480 and 480x640
    assert_niqe_matches(images, pyiqa_niqe, NIQEModel.from_file(niqe_file), 1e-9)


@pytest.mark.slow
def test_niqe_matches_pyiqa_on_all_64_dicm_images(shared_data, niqe_file, pyiqa_niqe):
    """The issue's acceptance: within 1e-3 of pyiqa on every DICM image (in fact ~1e-12)."""
    images = [read_image(p) for p in dicm(shared_data)]
    assert_niqe_matches(images, pyiqa_niqe, NIQEModel.from_file(niqe_file), 1e-9)


def test_niqe_matches_pyiqa_on_flat_dark_and_odd_sized_images(niqe_file, pyiqa_niqe):
    generator = torch.Generator().manual_seed(3)
    noise = quantize(torch.rand(1, 3, 250, 333, generator=generator) * 0.1)  # dark, crops to 192x288
    assert_niqe_matches([flat_blocks(300, 420), noise, quantize(flat_blocks(200, 250) * 0.2 + noise[..., :200, :250])],
                        pyiqa_niqe, NIQEModel.from_file(niqe_file), 1e-9)


def test_niqe_batches_equal_single_images(shared_data, niqe_file, path):
    model = NIQEModel.from_file(niqe_file)
    images = torch.cat([read_image(p)[..., :288, :384] for p in dicm(shared_data, 3)])
    batch = model(images)
    single = torch.cat([model(images[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(batch, single, rtol=0, atol=1e-12)


def test_niqe_refuses_images_smaller_than_one_patch(niqe_file):
    model = NIQEModel.from_file(niqe_file)
    for size in ((24, 32), (95, 200), (200, 95)):
        with pytest.raises(LLEBenchError, match=rf"at least 96x96 pixels.*got {size[0]}x{size[1]}"):
            model(torch.rand(1, 3, *size))
    assert model(torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(0))).isfinite().all()


def test_niqe_metric_both_implementations_and_a_clear_error_in_a_run(shared_data, shared_weights, tmp_path):
    image = read_image(dicm(shared_data, 1)[0])
    sample = Sample(id="01", input=image)
    ours, reference = NIQE(), NIQE(implementation="pyiqa")
    assert abs(ours.compute(image, sample, RECORD) - reference.compute(image, sample, RECORD)) < 1e-9
    assert ours.batchable and not ours.expensive and reference.expensive
    assert ours.settings()["files"] == reference.settings()["files"]
    assert ours.settings()["options"] == reference.settings()["options"]
    assert ours.settings()["score_range"] == reference.settings()["score_range"]
    assert ours.settings()["implementation"].startswith("llebench niqe")
    assert reference.settings()["implementation"].startswith("pyiqa ")
    small = torch.rand(1, 3, 24, 32)
    for metric in (ours, reference):
        with pytest.raises(LLEBenchError, match="at least 96x96 pixels.*got 24x32"):
            metric.compute(small, Sample(id="s", input=small), RECORD)
    with pytest.raises(RunConfigError, match="implementation must be"):
        NIQE(implementation="matlab")
    # through the runner: the small image fails alone, with the message
    folder = tmp_path / "photos"
    write_png(small, folder / "small.png")
    write_png(image[..., :200, :300], folder / "big.png")
    out = tmp_path / "run"
    assert main(["run", "--methods", "input", "--datasets", f"folder:{folder}", "--metrics", "niqe",
                 "--out", str(out), "--no-progress", "--no-report"]) == 1
    scores = pd.read_csv(out / "scores.csv").set_index("image")
    assert scores.loc["big.png", "status"] == "ok"
    assert scores.loc["small.png", "status"] == "failed"
    assert "NIQE needs images of at least 96x96 pixels (one 96x96 patch), got 24x32" in scores.loc["small.png", "error"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["metrics"]["niqe"]["settings"]["implementation"].startswith("llebench niqe")


def test_short_names_of_own_implementations_state_pyiqas_options():
    from pyiqa.default_model_configs import DEFAULT_CONFIGS

    for cls in (NIQE, BRISQUE):
        config = DEFAULT_CONFIGS[cls.pyiqa_name]
        options = {k: v for k, v in config["metric_opts"].items() if k != "type"}
        assert cls.reference_config == {"options": options, "score_range": config["score_range"]}


# -- BRISQUE -----------------------------------------------------------------------------

def assert_brisque_matches(images: list[torch.Tensor], pyiqa_brisque, model: BRISQUEModel) -> None:
    from pyiqa.archs import brisque_arch
    from pyiqa.matlab_utils import imresize
    from pyiqa.utils.color_util import to_y_channel

    with torch.inference_mode():
        for image in images:
            luma = to_y_channel(image, 255.0)
            expected = torch.cat([brisque_arch.natural_scene_statistics(luma),
                                  brisque_arch.natural_scene_statistics(imresize(luma, scale=0.5))], dim=-1)[0]
            ours = torch.from_numpy(brisque_features(image)[0])
            # float32 sums in another order: ~1e-7 relative; the eta statistics (differences of two sigmas) 1e-4
            torch.testing.assert_close(ours, expected, rtol=2e-4, atol=1e-6)
            assert abs(float(model(image)[0]) - float(pyiqa_brisque(image).flatten()[0])) < 1e-3


def test_brisque_matches_pyiqa_on_dicm_and_flat_images(shared_data, svr_file, pyiqa_brisque):
    images = [read_image(p) for p in dicm(shared_data, 1)] + [flat_blocks(240, 320), flat_blocks(61, 90, seed=2)]
    assert_brisque_matches(images, pyiqa_brisque, BRISQUEModel.from_file(svr_file))


@pytest.mark.slow
def test_brisque_matches_pyiqa_on_all_64_dicm_images(shared_data, svr_file, pyiqa_brisque):
    assert_brisque_matches([read_image(p) for p in dicm(shared_data)], pyiqa_brisque, BRISQUEModel.from_file(svr_file))


def test_brisque_metric_uses_the_resolved_file_and_refuses_tiny_images(svr_file, tmp_path, monkeypatch):
    monkeypatch.setenv("LLEBENCH_WEIGHTS", str(svr_file.parent))
    monkeypatch.setenv("LLEBENCH_OFFLINE", "1")
    monkeypatch.setenv("LLEBENCH_CACHE", str(tmp_path / "cache"))
    ours, reference = BRISQUE(), BRISQUE(implementation="pyiqa")
    image = flat_blocks(120, 160)
    sample = Sample(id="x", input=image)
    assert abs(ours.compute(image, sample, RECORD) - reference.compute(image, sample, RECORD)) < 1e-3
    assert ours.settings()["files"] == reference.settings()["files"] == {
        "brisque_svm_weights.pth": __import__("hashlib").sha256(svr_file.read_bytes()).hexdigest()}
    batch = torch.cat([image, flat_blocks(120, 160, seed=5)])
    assert ours.compute_batch(batch, [sample, sample], [RECORD, RECORD]) == pytest.approx(
        [ours.compute(batch[i:i + 1], sample, RECORD) for i in range(2)], abs=1e-4)
    tiny = torch.rand(1, 3, 12, 40)
    for metric in (ours, reference):
        with pytest.raises(LLEBenchError, match="at least 13x13 pixels.*got 12x40"):
            metric.compute(tiny, Sample(id="t", input=tiny), RECORD)


# -- LOE ---------------------------------------------------------------------------------

def previous_loe(metric: loe.LOE, output: torch.Tensor, low: torch.Tensor) -> float:
    """LOE as llebench computed it with pyiqa's imresize, torch rounding and torch counting."""
    from pyiqa.matlab_utils import imresize

    def levels(image: torch.Tensor) -> torch.Tensor:
        light = torch.round(image.clamp(0, 1) * 255).amax(dim=1, keepdim=True).double()
        if isinstance(metric, loe.LOENPECode):
            return loe.every_step(loe.local_max(light, radius=7))
        return torch.round(imresize(light, sizes=metric.target_size(*image.shape[-2:]))).clamp(0, 255)

    a, b = levels(low).flatten().long(), levels(output).flatten().long()
    joint = torch.bincount(a * 256 + b, minlength=256 * 256).view(256, 256)
    below = joint.cumsum(0).cumsum(1)
    return float((below[a, 255] + below[255, b] - 2 * below[a, b]).sum()) / a.numel()


def assert_loe_identical(images: list[torch.Tensor]) -> None:
    for low in images:
        for output in (quantize(low.clamp(1e-6, 1) ** 0.4), quantize(low.flip(-1) * 0.5 + 0.3)):
            for metric in (loe.LOE(), loe.LOELIME(), loe.LOENPECode()):
                assert metric.compute(output, Sample(id="x", input=low), RECORD) == previous_loe(metric, output, low)


def test_loe_equals_the_pyiqa_imresize_implementation(shared_data):
    assert_loe_identical([read_image(dicm(shared_data, 1)[0])])


def test_loe_equals_the_pyiqa_imresize_implementation_on_odd_sizes(path):
    assert_loe_identical([flat_blocks(37, 301), quantize(flat_blocks(150, 233, seed=4) * 0.3)])


def test_the_device_path_gives_the_cpu_paths_values(shared_data, niqe_file, svr_file, monkeypatch):
    """What CUDA runs (each step in one piece, batched) equals the CPU path (pieces, one image at a time)."""
    images = torch.cat([read_image(p)[..., :288, :384] for p in dicm(shared_data, 2)] + [flat_blocks(288, 384)])
    niqe, brisque = NIQEModel.from_file(niqe_file), BRISQUEModel.from_file(svr_file)
    cpu = niqe_features(images), brisque_features(images), niqe(images), brisque(images)
    monkeypatch.setattr(nss, "DEVICE_PATH_ON_CPU", True)
    device = niqe_features(images), brisque_features(images), niqe(images), brisque(images)
    np.testing.assert_allclose(device[0], cpu[0], rtol=1e-12, atol=1e-15)  # float64: summation order only
    np.testing.assert_allclose(device[1], cpu[1], rtol=1e-5, atol=1e-7)  # float32
    torch.testing.assert_close(device[2], cpu[2], rtol=0, atol=1e-12)
    torch.testing.assert_close(device[3], cpu[3], rtol=0, atol=1e-4)


@pytest.mark.slow
def test_loe_equals_the_pyiqa_imresize_implementation_on_all_64_dicm_images(shared_data):
    assert_loe_identical([read_image(p) for p in dicm(shared_data)])


def test_the_metric_modules_do_not_import_pyiqa():
    import ast

    for name in ("nss.py", "niqe.py", "brisque.py", "loe.py"):
        tree = ast.parse((Path(loe.__file__).parent / name).read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        assert not any(module.split(".")[0] == "pyiqa" for module in imported), name
