"""RUAS (plugins/llebench_ruas): parity with the official test.py, weights, options, tiling."""

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
from llebench.sdk import ChecksumMismatch, LLEBenchError, WeightsNotFound, read_image, tiled
from llebench_ruas.enhancer import RUAS, WEIGHTS
from llebench_ruas.network import ENHANCE_RADIUS, RECEPTIVE_RADIUS, RUASNetwork

VARIANTS = ("upe", "lol", "dark")
GOLDEN_IDS = ("01", "12", "27")
#: the run labels are the golden column names (ruas_upe, ruas_lol, ruas_dark)
METHODS = ",".join(f"ruas_{v}=ruas" for v in VARIANTS)
OPTIONS = [arg for v in VARIANTS for arg in ("-o", f"ruas_{v}.variant={v}")]


def run_ruas(out: Path, data_root: Path | None, metrics: str, limit: int | None = None) -> pd.DataFrame:
    args = ["run", "--methods", METHODS, *OPTIONS, "--datasets", "dicm", "--metrics", metrics,
            "--out", str(out), "--no-progress", "--no-report"]
    if data_root is not None:
        args += ["--data-root", str(data_root)]
    if limit:
        args += ["--limit", str(limit)]
    assert main(args) == 0
    return pd.read_csv(out / "scores.csv")


@pytest.fixture(scope="module")
def golden_run(shared_data, shared_weights, tmp_path_factory):
    """One run of the three variants on the three images that have official outputs."""
    tmp = tmp_path_factory.mktemp("ruas_golden")
    subset = tmp / "data" / "DICM"
    subset.mkdir(parents=True)
    for image_id in GOLDEN_IDS:
        (subset / f"{image_id}.jpg").symlink_to(shared_data / "DICM" / f"{image_id}.jpg")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # as the one_torch_thread fixture: a busy 2-core machine
    try:
        scores = run_ruas(tmp / "run", tmp / "data", "seconds,params")
    finally:
        torch.set_num_threads(previous)
    return tmp / "run", scores


def test_outputs_match_the_official_pngs(golden_run, golden_dir):
    run, _ = golden_run
    for variant in VARIANTS:
        for image_id in GOLDEN_IDS:
            ours = np.asarray(Image.open(run / "images" / f"ruas_{variant}" / "dicm" / f"{image_id}.png"), dtype=int)
            theirs = np.asarray(Image.open(golden_dir / "official_outputs" / f"ruas_{variant}_DICM_{image_id}.png"),
                                dtype=int)
            assert ours.shape == theirs.shape
            diff = np.abs(ours - theirs)
            # measured: upe and dark identical; lol (the denoised output) <= 1e-5 of the values off by one level
            assert diff.max() <= 1, (variant, image_id)
            assert (diff > 0).mean() < 1e-4, (variant, image_id, (diff > 0).mean())
            if variant != "lol":
                assert diff.max() == 0, (variant, image_id)


def test_every_variant_is_recorded_and_params_counted(golden_run):
    _, scores = golden_run
    assert (scores["status"] == "ok").all()
    by_method = scores.fillna({"variant": ""}).groupby("method")["variant"].unique().to_dict()
    # the default (upe) is the published configuration: its rows name no variant
    assert {m: list(v) for m, v in by_method.items()} == {f"ruas_{v}": ["" if v == "upe" else v] for v in VARIANTS}
    params = scores[scores["metric"] == "params"].groupby("method")["value"].unique().to_dict()
    # lol: the whole official Network (1,161 enhancement + 2,277 denoiser); upe and dark save
    # the enhancement before the denoiser, which therefore is not run nor counted
    assert {m: list(v) for m, v in params.items()} == {"ruas_lol": [3438], "ruas_upe": [1161], "ruas_dark": [1161]}


def test_flops_are_counted(shared_weights, one_torch_thread):
    from torch.utils.flop_counter import FlopCounterMode  # what the flops metric uses

    image = torch.full((1, 3, 32, 48), 0.5)
    counts = {}
    for variant in VARIANTS:
        counter = FlopCounterMode(display=False)
        with torch.inference_mode(), counter:
            RUAS(variant=variant).enhance(image)
        counts[variant] = counter.get_total_flops()
    # convolutions, 2 FLOPs per multiply-add: per pixel 3 stages x 369 MACs (upe, dark), plus the
    # denoiser's 2,160 (lol: stem 162 + 3 cells x 612 + final 162)
    pixels = 32 * 48
    assert counts == {"upe": 2 * 1107 * pixels, "lol": 2 * (1107 + 2160) * pixels, "dark": 2 * 1107 * pixels}


def test_parameter_counts_of_the_network():
    net = RUASNetwork()
    assert sum(p.numel() for p in net.parameters()) == 3438
    assert sum(p.numel() for p in net.enhance_net.parameters()) == 1161
    assert sum(p.numel() for p in net.denoise_net.parameters()) == 2277


def test_checkpoints_load_strictly_with_the_official_key_names(shared_weights):
    for variant in VARIANTS:
        raw = torch.load(shared_weights / f"ruas_{variant}.pt", map_location="cpu", weights_only=True)
        assert set(raw) == set(RUASNetwork().state_dict())


def test_the_separate_denoise_file_cannot_affect_outputs(shared_weights):
    """test.py's Network() loads model/denoise.pt into its denoiser, then loads the whole
    checkpoint strictly, which overwrites every one of those tensors: the file is not declared."""
    denoise = torch.load(shared_weights / "ruas_denoise.pt", map_location="cpu", weights_only=True)
    for variant in VARIANTS:
        raw = torch.load(shared_weights / f"ruas_{variant}.pt", map_location="cpu", weights_only=True)
        replaced = {key.removeprefix("denoise_net.") for key in raw if key.startswith("denoise_net.")}
        assert replaced == set(denoise)
        assert any(not torch.equal(raw[f"denoise_net.{key}"], value) for key, value in denoise.items())
    assert "ruas_denoise.pt" not in {spec.filename for spec in RUAS.weights_files}


def test_metadata_and_default_variant():
    assert RUAS.variants[0] == "upe"  # test.py's --model default
    assert RUAS.venue == "CVPR" and RUAS.year == 2021 and "Retinex-inspired Unrolling" in RUAS.paper
    assert RUAS.licence.startswith("none stated")
    assert {spec.filename for spec in RUAS.weights_files} == {f"ruas_{v}.pt" for v in VARIANTS}
    for spec in RUAS.weights_files:
        assert spec.url.startswith("https://github.com/KarelZhang/RUAS/raw/main/ckpt/") and len(spec.sha256) == 64


def test_tampered_weights_are_refused(shared_weights, tmp_path, monkeypatch):
    copy = tmp_path / "ruas_upe.pt"
    shutil.copyfile(shared_weights / "ruas_upe.pt", copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    monkeypatch.setenv("LLEBENCH_WEIGHTS", str(tmp_path))
    with pytest.raises(ChecksumMismatch, match="ruas_upe.pt"):
        RUAS()


def test_missing_weights_offline_is_one_clear_message(isolated_weights):
    with pytest.raises(WeightsNotFound) as info:
        RUAS(variant="lol")
    message = str(info.value)
    assert "ruas_lol.pt" in message and WEIGHTS["lol"].url in message and "LLEBENCH_WEIGHTS" in message


@pytest.mark.parametrize("options, match", [
    ({"variant": "mit5k"}, "variant must be one of upe, lol, dark"),
    ({"precision": "fp8"}, "precision must be one of fp32, bf16, fp16"),
    ({"tile": 0}, "tile must be a positive number"),
    ({"tile": True}, "tile must be a positive number"),
])
def test_bad_options_are_clear_errors(shared_weights, options, match):
    with pytest.raises(LLEBenchError, match=match):
        RUAS(**options)


def test_unknown_option_and_foreign_checkpoint(shared_weights, tmp_path):
    with pytest.raises(TypeError):
        RUAS(strength=2)
    foreign = tmp_path / "other.pt"
    torch.save({"conv.weight": torch.zeros(3, 3, 3, 3)}, foreign)
    with pytest.raises(LLEBenchError, match="other.pt: not a RUAS Network state_dict"):
        RUAS(weights=foreign)


def test_user_weights_are_accepted(shared_weights, tmp_path):
    mine = tmp_path / "mine.pt"
    shutil.copyfile(shared_weights / "ruas_dark.pt", mine)
    enhancer = RUAS(variant="dark", weights=mine)
    assert enhancer.weights_used() == {"mine.pt": WEIGHTS["dark"].sha256}
    assert enhancer.settings()["output"].startswith("u3 (")


def test_receptive_radius_bounds_the_influence_of_one_pixel(shared_weights, one_torch_thread):
    assert (ENHANCE_RADIUS, RECEPTIVE_RADIUS, RUAS.tile_halo) == (9, 17, 17)
    image = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0)) * 0.2
    poked = image.clone()
    poked[..., 24, 24] += 0.3
    for variant, (up, down) in (("upe", (9, 6)), ("lol", (17, 14))):
        enhancer = RUAS(variant=variant)
        with torch.inference_mode():
            changed = (enhancer.forward_float(image) - enhancer.forward_float(poked)).abs().amax(1)[0] > 0
        rows, cols = torch.nonzero(changed, as_tuple=True)
        # the 2x2 max looks right/down, so influence spreads further up/left
        assert 24 - int(rows.min()) <= up and int(rows.max()) - 24 <= down
        assert 24 - int(cols.min()) <= up and int(cols.max()) - 24 <= down
        if variant == "upe":  # the bound is reached
            assert (24 - int(rows.min()), int(rows.max()) - 24) == (up, down)


@pytest.mark.parametrize("variant", ["upe", "lol"])
def test_tiled_equals_untiled(shared_data, shared_weights, variant, one_torch_thread):
    image = read_image(shared_data / "DICM" / "27.jpg")[..., :150, :170].contiguous()
    enhancer = RUAS(variant=variant)
    with torch.inference_mode():
        whole = enhancer.forward_float(image)
        pieces = tiled(enhancer.forward_float, image, 64, RUAS.tile_halo)
        assert (whole - pieces).abs().max() < 1e-5
        levels = enhancer.enhance(image)
        tiled_levels = RUAS(variant=variant, tile=64).enhance(image)
    diff = (levels - tiled_levels).abs() * 255
    assert diff.max() <= 1 + 1e-4 and (diff > 0.5).float().mean() < 1e-3


def test_output_is_truncated_like_the_official_save(shared_weights, one_torch_thread):
    enhancer = RUAS()
    image = torch.rand(1, 3, 32, 40, generator=torch.Generator().manual_seed(1)) * 0.3
    with torch.inference_mode():
        raw = enhancer.forward_float(image)
        levels = enhancer.enhance(image)
    expected = np.clip(raw[0].numpy() * 255.0, 0, 255).astype("uint8")  # test.py's save_images
    assert np.array_equal(np.floor(levels[0].numpy() * 255 + 0.5).astype("uint8"), expected)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_is_close_to_fp32(shared_data, shared_weights, precision, one_torch_thread):
    image = read_image(shared_data / "DICM" / "01.jpg")[..., 100:196, 200:328].contiguous()
    full = RUAS(variant="lol")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no native bf16 on this CPU"
        half = RUAS(variant="lol", precision=precision)
    assert half.variant == f"lol+{precision}" and full.variant == "lol"
    with torch.inference_mode():
        a, b = full.enhance(image), half.enhance(image)
    assert b.dtype == torch.float32
    mse = float(((a - b) ** 2).mean())
    assert mse == 0 or 10 * np.log10(1 / mse) >= 45


@pytest.mark.slow
def test_dicm_niqe_of_all_images_matches_the_official_outputs(shared_data, shared_weights, golden_dir, tmp_path):
    scores = run_ruas(tmp_path / "run", None, "niqe")
    golden = pd.read_csv(golden_dir / "dicm_niqe_zoo.csv")
    assert len(golden) == 64
    means = {}
    for variant in VARIANTS:
        ours = scores[scores["method"] == f"ruas_{variant}"].set_index("image")["value"]
        theirs = golden.set_index("image")[f"ruas_{variant}"]
        assert len(ours) == 64 and set(ours.index) == set(theirs.index)
        diff = (ours - theirs.loc[ours.index]).abs()
        # includes the saturated outliers (NIQE 10-30): they must match too
        assert diff.max() < 0.01, (variant, diff.idxmax(), diff.max())
        means[variant] = (float(ours.mean()), float(theirs.mean()))
    # golden means 5.274 / 7.291 / 7.604 (lol's is 7.29147: a rounding boundary, so compare closely)
    assert {v: round(golden_mean, 3) for v, (_, golden_mean) in means.items()} == {
        "upe": 5.274, "lol": 7.291, "dark": 7.604}
    assert all(abs(ours_mean - golden_mean) < 1e-3 for ours_mean, golden_mean in means.values()), means
