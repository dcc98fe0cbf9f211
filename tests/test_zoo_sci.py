"""SCI (Ma et al., CVPR 2022): parity with the official test.py, weights handling, tiling, options."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from llebench.cli import main
from llebench.sdk import ChecksumMismatch, LLEBenchError, WeightsNotFound, read_image, tiled, to_uint8_array
from llebench_sci.enhancer import SCI, WEIGHTS
from llebench_sci.network import RECEPTIVE_RADIUS, SCITestModel

VARIANTS = ("easy", "medium", "difficult")
GOLDEN_IDS = ("01", "12", "27")
#: measured: at most 7 of the 921,600 values per golden image differ, by one level (float noise
#: at the truncation boundary: 255 r within 2e-5 of an integer); a float64 rerun differs as much
MAX_DIFFERING_FRACTION = 2e-5
#: golden README: mean DICM NIQE of the official outputs (64 images)
GOLDEN_MEANS = {"sci_easy": 3.914, "sci_medium": 4.163, "sci_difficult": 4.045}


def run_cli(args: list[str]) -> None:
    assert main([*args, "--no-progress", "--no-report"]) == 0


def variant_methods() -> list[str]:
    """``--methods`` and ``-o`` arguments running the three official checkpoints as sci_<variant>."""
    args = ["--methods", ",".join(f"sci_{v}=sci" for v in VARIANTS)]
    for v in VARIANTS:
        args += ["-o", f"sci_{v}.variant={v}"]
    return args


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else float(10 * torch.log10(torch.tensor(1.0 / mse)))


# -- parity with the official outputs -----------------------------------------------------


def test_outputs_match_the_official_pngs(shared_data, shared_weights, golden_dir, tmp_path):
    """The cached PNGs (runner rounding included) against test.py's truncated uint8 outputs."""
    subset = tmp_path / "data" / "DICM"
    subset.mkdir(parents=True)
    for image_id in GOLDEN_IDS:
        (subset / f"{image_id}.jpg").symlink_to(shared_data / "DICM" / f"{image_id}.jpg")
    out = tmp_path / "run"
    run_cli(["run", *variant_methods(), "--datasets", "dicm", "--metrics", "seconds",
             "--data-root", str(tmp_path / "data"), "--out", str(out)])
    stats = {}
    for variant in VARIANTS:
        for image_id in GOLDEN_IDS:
            ours = np.asarray(Image.open(out / "images" / f"sci_{variant}" / "dicm" / f"{image_id}.png"), dtype=int)
            theirs = np.asarray(Image.open(golden_dir / "official_outputs" / f"sci_{variant}_DICM_{image_id}.png"),
                                dtype=int)
            assert ours.shape == theirs.shape
            diff = np.abs(ours - theirs)
            stats[variant, image_id] = (int(diff.max()), float((diff > 0).mean()))
    assert all(worst <= 1 and fraction <= MAX_DIFFERING_FRACTION for worst, fraction in stats.values()), stats

    # the default checkpoint (medium) is the published configuration: its rows name no variant
    recorded = pd.read_csv(out / "scores.csv", keep_default_na=False)["variant"].unique()
    assert sorted(recorded) == sorted("" if v == SCI.variants[0] else v for v in VARIANTS)

    # NIQE of the default variant on these images (all 64 x 3: the slow test below)
    run_cli(["run", "--methods", "sci_medium=sci", "--datasets", "dicm", "--metrics", "niqe",
             "--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "niqe")])
    scores = pd.read_csv(tmp_path / "niqe" / "scores.csv")
    golden = pd.read_csv(golden_dir / "dicm_niqe_zoo.csv").set_index("image")
    assert len(scores) == len(GOLDEN_IDS)
    for row in scores.itertuples():
        assert abs(row.value - golden.loc[row.image, row.method]) < 0.01, row


def test_truncation_is_the_official_rounding(shared_data, shared_weights, golden_dir):
    """Rounding r instead of truncating it would move about a quarter of the values."""
    enhancer = SCI(variant="easy")
    image = read_image(shared_data / "DICM" / "01.jpg")
    theirs = np.asarray(Image.open(golden_dir / "official_outputs" / "sci_easy_DICM_01.png"), dtype=int)
    with torch.inference_mode():
        output = enhancer.enhance(image)
        rounded = to_uint8_array(enhancer.reflectance(image)).astype(int)
    levels = output * 255
    assert torch.equal(levels, levels.round())  # k/255 exactly: the runner's rounding keeps k
    assert (to_uint8_array(output).astype(int) != theirs).mean() <= MAX_DIFFERING_FRACTION
    assert (rounded != theirs).mean() > 0.1


@pytest.mark.slow
def test_dicm_niqe_all_images_and_means(shared_data, shared_weights, golden_dir, tmp_path):
    out = tmp_path / "run"
    run_cli(["run", *variant_methods(), "--datasets", "dicm", "--metrics", "niqe", "--out", str(out)])
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 3 * 64 and (scores["status"] == "ok").all()
    golden = pd.read_csv(golden_dir / "dicm_niqe_zoo.csv").melt(
        id_vars="image", value_vars=list(GOLDEN_MEANS), var_name="method", value_name="golden")
    merged = golden.merge(scores, on=["method", "image"])
    assert len(merged) == 3 * 64
    assert (merged["value"] - merged["golden"]).abs().max() < 0.01
    assert merged.groupby("method")["value"].mean().round(3).to_dict() == GOLDEN_MEANS


# -- the network --------------------------------------------------------------------------


def test_parameter_count_is_the_official_test_time_network(shared_weights, tmp_path):
    net = SCITestModel()
    assert sum(p.numel() for p in net.parameters()) == 258  # golden README: 258 used at test time
    assert net.enhance.blocks[0] is net.enhance.conv  # one module, saved under two names
    raw = torch.load(shared_weights / "sci_medium.pt", map_location="cpu", weights_only=True)
    assert set(net.state_dict()) == {k for k in raw if k.startswith("enhance.")}
    # the params metric counts the same network
    out = tmp_path / "run"
    run_cli(["run", "--methods", "sci", "--datasets", "sample", "--limit", "1", "--metrics", "params,flops",
             "--out", str(out)])
    scores = pd.read_csv(out / "scores.csv").set_index("metric")["value"]
    assert scores["params"] == 258
    # three 3x3 convolutions 3 -> 3 channels with bias, at 900 x 1200: 3 * 2 * 81 MACs per pixel
    assert scores["flops"] == pytest.approx(3 * 2 * 81 * 900 * 1200 / 1e9)


def test_default_variant_is_test_py_default_medium(shared_weights):
    assert SCI.variants[0] == "medium" == SCI().variant
    assert [w.filename for w in SCI.weights_files] == ["sci_medium.pt", "sci_easy.pt", "sci_difficult.pt"]
    assert all(w.sha256 and w.url.startswith("https://github.com/vis-opt-group/SCI/raw/main/weights/")
               and "MIT" in w.licence for w in SCI.weights_files)


def test_inference_equals_the_official_network_up_to_float_rounding(shared_weights):
    """enhance folds the eval-mode BatchNorm (eps 1e-5) into its convolution and runs channels_last;
    the network module keeps the official operations. Their r agree to float32 rounding."""
    for variant in VARIANTS:
        enhancer = SCI(variant=variant)
        image = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(1)) * 0.4
        with torch.inference_mode():
            _, official = enhancer.net(image)
            assert float((enhancer.reflectance(image) - official).abs().max()) < 2e-6, variant
    # running statistics with eps: the stored running variances (3e-7..3e-5) make eps matter
    norm = enhancer.net.enhance.conv[1]
    assert not norm.training and norm.eps == 1e-5 and float(norm.running_var.max()) < 1e-4
    norm.eps = 0.0
    with torch.inference_mode():
        _, without_eps = enhancer.net(image)
    assert psnr(without_eps, official) < 60


def test_tiled_equals_untiled(shared_weights, one_torch_thread):
    """Radius 3 (three 3x3 convolutions): tiles with that halo give the untiled output."""
    enhancer = SCI(variant="difficult")
    image = torch.rand(1, 3, 133, 207, generator=torch.Generator().manual_seed(2)) * 0.5
    with torch.inference_mode():
        whole = enhancer.reflectance(image)
        for tile in (29, 64):
            pieces = tiled(enhancer.reflectance, image, tile, RECEPTIVE_RADIUS)
            # equal up to float rounding (vectorised vs scalar tails of the element-wise kernels)
            assert float((pieces - whole).abs().max()) < 1e-5
        # the radius is tight: one pixel less of context changes the output
        assert float((tiled(enhancer.reflectance, image, 50, RECEPTIVE_RADIUS - 1) - whole).abs().max()) > 1e-3
        quantised = SCI(variant="difficult", tile=50).enhance(image)
        differing = (quantised != enhancer.enhance(image)).float().mean()
    assert SCI.tile_halo == RECEPTIVE_RADIUS == 3
    assert float(differing) <= 1e-4  # at most a value on a truncation boundary, by one level


@pytest.mark.slow
def test_tiled_equals_untiled_on_a_4000x3000_image(shared_weights):
    enhancer = SCI()
    image = torch.rand(1, 3, 3000, 4000, generator=torch.Generator().manual_seed(3)) * 0.5
    with torch.inference_mode():
        whole = enhancer.reflectance(image)
        pieces = tiled(enhancer.reflectance, image, 1024, SCI.tile_halo)
    assert float((pieces - whole).abs().max()) < 1e-5


def test_half_precision_variants_are_close_to_fp32(shared_data, shared_weights):
    image = read_image(shared_data / "DICM" / "41.jpg")[..., :240, :320]
    full = SCI()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # emulated bf16/fp16 on CPUs without native support
        halves = {precision: SCI(precision=precision) for precision in ("bf16", "fp16")}
    with torch.inference_mode():
        reference = full.enhance(image)
        for precision, half in halves.items():
            output = half.enhance(image)
            assert half.variant == f"medium-{precision}" and output.dtype == torch.float32
            assert psnr(output, reference) >= 45, precision


# -- weights ------------------------------------------------------------------------------


def test_tampered_weights_are_refused(shared_weights, tmp_path, monkeypatch):
    directory = tmp_path / "weights"
    directory.mkdir()
    copy = directory / "sci_easy.pt"
    shutil.copyfile(shared_weights / "sci_easy.pt", copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    monkeypatch.setenv("LLEBENCH_WEIGHTS", str(directory))
    with pytest.raises(ChecksumMismatch, match="sci_easy.pt") as info:
        SCI(variant="easy")
    assert WEIGHTS["easy"].url in str(info.value)


def test_missing_weights_offline_is_one_clear_message(isolated_weights):
    with pytest.raises(WeightsNotFound) as info:
        SCI(variant="difficult")
    message = str(info.value)
    assert "sci_difficult.pt" in message and WEIGHTS["difficult"].url in message
    assert str(isolated_weights) in message and "LLEBENCH_WEIGHTS" in message


def test_checkpoint_whose_enhance_keys_do_not_all_load_is_refused(shared_weights, tmp_path):
    """The official loader silently keeps random weights for a missing or renamed key; we refuse."""
    raw = torch.load(shared_weights / "sci_medium.pt", map_location="cpu", weights_only=True)

    def saved(name: str, state: dict) -> Path:
        path = tmp_path / name
        torch.save(state, path)
        return path

    renamed = {("enhance.out_conv.1.weight" if k == "enhance.out_conv.0.weight" else k): v for k, v in raw.items()}
    with pytest.raises(LLEBenchError, match=r"missing enhance\.out_conv\.0\.weight.*unexpected enhance\.out_conv\.1"):
        SCI(weights=saved("renamed.pt", renamed))
    only_calibrate = {k: v for k, v in raw.items() if k.startswith("calibrate.")}
    with pytest.raises(LLEBenchError, match="not an SCI checkpoint"):
        SCI(weights=saved("calibrate.pt", only_calibrate))
    twins = dict(raw)
    twins["enhance.blocks.0.0.weight"] = twins["enhance.blocks.0.0.weight"] + 1
    with pytest.raises(LLEBenchError, match="differ"):
        SCI(weights=saved("twins.pt", twins))
    with pytest.raises(LLEBenchError, match="not an SCI checkpoint"):
        SCI(weights=shared_weights / "zero_dce_epoch99.pth")

    # accepted: the test-time part alone (finetune.py's Finetunemodel), and a DataParallel save
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    official = SCI()
    enhance_only = SCI(weights=saved("enhance.pt", {k: v for k, v in raw.items() if k.startswith("enhance.")}))
    parallel = SCI(weights=saved("parallel.pt", {f"module.{k}": v for k, v in raw.items()}))
    no_counter = SCI(weights=saved("no_counter.pt", {k: v for k, v in raw.items() if "num_batches" not in k}))
    assert enhance_only.variant == parallel.variant == no_counter.variant == ""  # the runner adds custom-weights
    assert enhance_only.settings()["checkpoint"] == "weights option"
    with torch.inference_mode():
        assert torch.equal(enhance_only.enhance(image), official.enhance(image))
        assert torch.equal(parallel.enhance(image), official.enhance(image))
        assert torch.equal(no_counter.enhance(image), official.enhance(image))


# -- variants and options -----------------------------------------------------------------


def test_every_variant_runs_and_is_recorded(shared_weights, tmp_path):
    out = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_cli(["run", *variant_methods(), "--datasets", "sample", "--limit", "1", "--metrics", "seconds",
                 "--out", str(out)])
        run_cli(["run", "--methods", "sci,sci_bf16=sci", "-o", "sci_bf16.precision=bf16", "--datasets", "sample",
                 "--limit", "1", "--metrics", "seconds", "--weights", f"sci={shared_weights / 'sci_easy.pt'}",
                 "--out", str(out)])
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False)
    recorded = dict(zip(scores["method"], scores["variant"]))
    assert recorded == {"sci_easy": "easy", "sci_medium": "", "sci_difficult": "difficult",
                        "sci": "custom-weights", "sci_bf16": "medium-bf16"}
    assert (scores["status"] == "ok").all()
    assert scores.set_index("method").loc["sci_easy", "weights"].startswith("sci_easy.pt@b17326a2")
    assert scores.set_index("method").loc["sci", "weights"].startswith("sci_easy.pt@b17326a2")


@pytest.mark.parametrize(("options", "message"), [
    ({"variant": "hard"}, "variant must be one of medium, easy, difficult, got 'hard'"),
    ({"precision": "int8"}, "precision must be one of fp32, bf16, fp16"),
    ({"tile": 0}, "tile must be a positive number of pixels"),
    ({"tile": True}, "tile must be a positive number of pixels"),
    ({"tile": "64"}, "tile must be a positive number of pixels"),
    ({"variant": "easy", "weights": "x.pt"}, "either variant .* or weights"),
    ({"weights": "/nonexistent/sci.pt"}, "does not exist"),
])
def test_bad_options_are_clear_errors(shared_weights, options, message):
    with pytest.raises(LLEBenchError, match=message):
        SCI(**options)


def test_unknown_option_is_a_clear_error_on_the_command_line(shared_weights, tmp_path, capsys):
    assert main(["run", "--methods", "sci", "-o", "sci.layers=3", "--datasets", "sample", "--limit", "1",
                 "--out", str(tmp_path / "run"), "--no-progress", "--no-report"]) == 2
    assert "enhancer 'sci': bad options {'layers': 3}" in capsys.readouterr().err
