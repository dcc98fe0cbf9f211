"""Zero-DCE++ (``zero_dce_pp``): parity with the official test script, variants, weights, crop, size."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from llebench.cli import main
from llebench.sdk import ChecksumMismatch, Context, LLEBenchError, WeightsNotFound, read_image, tiled
from llebench_zero_dce_pp.enhancer import ZeroDCEPlusPlus
from llebench_zero_dce_pp.network import CurveEstimator

WEIGHTS = "zero_dce_pp_epoch99.pth"
GOLDEN_IDS = ("01", "12", "27")


def official_forward(net: CurveEstimator, image: torch.Tensor, scale: int = 12) -> torch.Tensor:
    """What lowlight_test.py + model.enhance_net_nopool compute, op for op (unflushed weights)."""
    height, width = image.shape[-2] // scale * scale, image.shape[-1] // scale * scale
    x = image[..., :height, :width]
    small = x if scale == 1 else F.interpolate(x, scale_factor=1 / scale, mode="bilinear")
    r = net(small)
    if scale != 1:
        r = torch.nn.UpsamplingBilinear2d(scale_factor=scale)(r)
    for _ in range(8):
        x = x + r * (torch.pow(x, 2) - x)
    return x


@pytest.fixture(scope="module")
def official_net(shared_weights: Path) -> CurveEstimator:
    net = CurveEstimator().eval()
    net.load_state_dict(torch.load(shared_weights / WEIGHTS, map_location="cpu", weights_only=True))
    return net


@pytest.fixture(scope="module")
def enhancer(shared_weights: Path) -> ZeroDCEPlusPlus:
    return ZeroDCEPlusPlus()


def run(args: list[str]) -> None:
    assert main(["run", *args, "--no-progress", "--no-report"]) == 0


def test_outputs_match_the_official_pngs(shared_data, shared_weights, golden_dir, tmp_path):
    subset = tmp_path / "data" / "DICM"
    subset.mkdir(parents=True)
    for image_id in GOLDEN_IDS:
        (subset / f"{image_id}.jpg").symlink_to(shared_data / "DICM" / f"{image_id}.jpg")
    out = tmp_path / "run"
    run(["--methods", "zero_dce_pp", "--datasets", "dicm", "--metrics", "seconds",
         "--data-root", str(tmp_path / "data"), "--out", str(out)])
    for image_id in GOLDEN_IDS:
        ours = np.asarray(Image.open(out / "images" / "zero_dce_pp" / "dicm" / f"{image_id}.png"), dtype=int)
        theirs = np.asarray(Image.open(golden_dir / "official_outputs" / f"zero_dce_pp_DICM_{image_id}.png"),
                            dtype=int)
        # the official script crops to a multiple of 12: 640x480 -> 636x480, 480x640 -> 480x636
        assert ours.shape == theirs.shape
        assert ours.shape[0] % 12 == 0 and ours.shape[1] % 12 == 0
        diff = np.abs(ours - theirs)
        # measured: max 1 on 2-3 pixels of ~915,000 (float summation order), none differ by more
        assert diff.max() <= 1, image_id
        assert (diff > 0).mean() < 1e-5, image_id


def test_enhance_is_bit_identical_to_the_official_forward(enhancer, official_net, shared_data, one_torch_thread):
    """Strips, in-place curve steps and flushed subnormal weights change no bit of the output."""
    torch.manual_seed(0)
    images = [read_image(shared_data / "DICM" / "01.jpg"), torch.rand(1, 3, 157, 250)]
    for image in images:
        before = image.clone()
        with torch.inference_mode():
            ours = enhancer.enhance(image)
            theirs = official_forward(official_net, image)
        assert torch.equal(image, before)  # the input is never written to
        assert ours.shape == theirs.shape
        assert torch.equal(ours, theirs)


def test_other_scale_factors_follow_the_official_forward(official_net, shared_weights, one_torch_thread):
    torch.manual_seed(1)
    image = torch.rand(1, 3, 61, 75)
    for scale in (1, 4, 8):
        with torch.inference_mode():
            ours = ZeroDCEPlusPlus(scale_factor=scale).enhance(image)
            theirs = official_forward(official_net, image, scale)
        assert ours.shape == theirs.shape == (1, 3, 61 // scale * scale, 75 // scale * scale)
        assert torch.allclose(ours, theirs, atol=1e-6, rtol=0)


@pytest.mark.slow
def test_dicm_niqe_all_images_and_mean(shared_data, shared_weights, golden_dir, tmp_path):
    out = tmp_path / "run"
    run(["--methods", "zero_dce_pp", "--datasets", "dicm", "--metrics", "niqe", "--out", str(out)])
    scores = pd.read_csv(out / "scores.csv")
    assert (scores["status"] == "ok").all()
    golden = pd.read_csv(golden_dir / "dicm_niqe_zoo.csv")[["image", "zero_dce_pp"]]
    merged = golden.merge(scores, on="image")
    assert len(merged) == len(golden) == 64
    difference = (merged["value"] - merged["zero_dce_pp"]).abs()
    assert difference.max() < 0.01
    assert round(merged["value"].mean(), 3) == 3.826


def test_image_not_a_multiple_of_12_is_cropped_and_scores(shared_weights, tmp_path):
    """A 203x149 input: the cached PNG is 192x144 and full-reference metrics compare it with the
    reference cropped alike."""
    rng = np.random.default_rng(0)
    inputs, references = tmp_path / "low", tmp_path / "high"
    inputs.mkdir()
    references.mkdir()
    dark = (rng.random((149, 203, 3)) * 60).astype(np.uint8)
    Image.fromarray(dark).save(inputs / "a.png")
    Image.fromarray(np.clip(dark.astype(int) * 3, 0, 255).astype(np.uint8)).save(references / "a.png")
    out = tmp_path / "run"
    run(["--methods", "zero_dce_pp", "--datasets", f"folder:{inputs}", "--ref", str(references),
         "--metrics", "psnr,ssim,niqe", "--out", str(out)])
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 3
    assert (scores["status"] == "ok").all(), scores["error"].tolist()
    assert np.isfinite(scores["value"]).all()
    png = next((out / "images" / "zero_dce_pp").rglob("a.png"))
    assert Image.open(png).size == (192, 144)
    # a re-run reads the cached (cropped) PNG and scores it the same way
    run(["--methods", "zero_dce_pp", "--datasets", f"folder:{inputs}", "--ref", str(references),
         "--metrics", "psnr,ssim,niqe,loe", "--out", str(out)])
    again = pd.read_csv(out / "scores.csv")
    assert (again["status"] == "ok").all(), again["error"].tolist()


def test_scale_factor_1_tiles_exactly(shared_weights, one_torch_thread):
    enhancer = ZeroDCEPlusPlus(variant="scale1")
    assert enhancer.tile_halo == 7 and ZeroDCEPlusPlus.tile_halo is None
    torch.manual_seed(2)
    image = torch.rand(1, 3, 50, 61)
    with torch.inference_mode():
        whole = enhancer.enhance(image)
        pieces = tiled(enhancer.enhance, image, 32, enhancer.tile_halo)
    assert torch.allclose(whole, pieces, atol=1e-5, rtol=0)


def high_resolution_image() -> torch.Tensor:
    generator = torch.Generator().manual_seed(3)
    return torch.rand(1, 3, 3000, 4000, generator=generator).mul_(0.4)


@pytest.mark.slow
def test_4000x3000_image_runs_whole_and_exactly(enhancer, official_net):
    """The curve map of a 4000x3000 image comes from a 333x250 pass: the whole image is always
    processed at once (about 0.6 GB), and equals the official forward bit for bit."""
    image = high_resolution_image()
    with torch.inference_mode():
        ours = enhancer.enhance(image)
        assert ours.shape == (1, 3, 3000, 3996)
        theirs = official_forward(official_net, image)
    assert torch.equal(ours, theirs)


def test_variants_run_and_are_named_in_scores(shared_data, shared_weights, tmp_path):
    out = tmp_path / "run"
    with pytest.warns(UserWarning, match="saves no time"):
        run(["--methods", "zero_dce_pp,s1=zero_dce_pp,s8=zero_dce_pp,bf=zero_dce_pp,hf=zero_dce_pp",
             "-o", "s1.variant=scale1", "-o", "s8.scale_factor=8", "-o", "bf.precision=bf16",
             "-o", "hf.precision=fp16", "--datasets", "dicm", "--limit", "1", "--metrics", "seconds,params",
             "--out", str(out)])
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False)
    assert (scores["status"] == "ok").all()
    variants = scores.groupby("method")["variant"].first().to_dict()
    assert variants == {"zero_dce_pp": "", "s1": "scale1", "s8": "scale8", "bf": "scale12,bf16",
                        "hf": "scale12,fp16"}
    params = scores[scores["metric"] == "params"]
    assert (params["value"] == 10561).all()  # the golden README's count, in every variant
    sizes = {method: Image.open(out / "images" / method / "dicm" / "01.png").size for method in variants}
    assert sizes == {"zero_dce_pp": (480, 636), "s1": (480, 640), "s8": (480, 640), "bf": (480, 636),
                     "hf": (480, 636)}


def test_reduced_precision_stays_close(enhancer, shared_data, one_torch_thread):
    image = read_image(shared_data / "DICM" / "27.jpg")[..., 120:360, 200:440]
    with pytest.warns(UserWarning):
        halves = [ZeroDCEPlusPlus(precision=p) for p in ("bf16", "fp16")]
    with torch.inference_mode():
        reference = enhancer.enhance(image).clamp(0, 1)
        for half in halves:
            mse = float(((half.enhance(image).clamp(0, 1) - reference) ** 2).mean())
            assert 10 * np.log10(1 / mse) >= 45


def test_parameter_count_and_metadata(enhancer):
    assert sum(p.numel() for p in enhancer.network().parameters()) == 10561
    assert ZeroDCEPlusPlus.variants[0] == "scale12" and ZeroDCEPlusPlus.crops_output
    assert "CC BY-NC 4.0" in ZeroDCEPlusPlus.licence
    assert (ZeroDCEPlusPlus.year, ZeroDCEPlusPlus.venue) == (2021, "IEEE TPAMI")
    assert enhancer.variant == "scale12"
    assert enhancer.settings()["scale_factor"] == 12
    assert set(enhancer.weights_used()) == {WEIGHTS}


def test_tampered_weights_are_refused(shared_weights, tmp_path, monkeypatch):
    tampered = tmp_path / WEIGHTS
    shutil.copyfile(shared_weights / WEIGHTS, tampered)
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    monkeypatch.setenv("LLEBENCH_WEIGHTS", str(tmp_path))
    with pytest.raises(ChecksumMismatch, match=WEIGHTS):
        ZeroDCEPlusPlus()


def test_missing_weights_offline_is_one_clear_message(isolated_weights):
    with pytest.raises(WeightsNotFound) as info:
        ZeroDCEPlusPlus()
    message = str(info.value)
    assert WEIGHTS in message and "Zero-DCE_extension" in message and "LLEBENCH_OFFLINE" in message


@pytest.mark.parametrize("options, match", [
    ({"variant": "official"}, "scaleN"),
    ({"variant": "scale0"}, "scaleN"),
    ({"variant": 12}, "scaleN"),
    ({"scale_factor": 0}, "positive integer"),
    ({"scale_factor": 2.5}, "positive integer"),
    ({"scale_factor": True}, "positive integer"),
    ({"variant": "scale12", "scale_factor": 8}, "disagree"),
    ({"precision": "fp8"}, "precision"),
])
def test_bad_options_are_clear_errors(shared_weights, options, match):
    with pytest.raises(LLEBenchError, match=match):
        ZeroDCEPlusPlus(**options)


def test_unknown_option_and_tiny_image(shared_weights, enhancer, tmp_path):
    with pytest.raises(TypeError):
        ZeroDCEPlusPlus(Context(), scale=12)
    with pytest.raises(LLEBenchError, match="smaller than the scale factor 12"):
        enhancer.enhance(torch.rand(1, 3, 11, 40))
    assert main(["run", "--methods", "zero_dce_pp", "-o", "zero_dce_pp.scalefactor=8", "--datasets", "dicm",
                 "--limit", "1", "--metrics", "seconds", "--out", str(tmp_path / "r"), "--no-progress"]) != 0
