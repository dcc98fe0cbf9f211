"""CLIP-LIT (``clip_lit``): official parity, weights handling, variants, options, tiling.

Parity data come from ../shared/golden (the authors' test.py run on DICM): three official
8-bit outputs and the per-image NIQE of all 64 images (``dicm_niqe_zoo.csv``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import llebench_clip_lit.enhancer as clip_lit_enhancer
from llebench.cli import main
from llebench.sdk import ChecksumMismatch, LLEBenchError, WeightsNotFound, to_uint8_array
from llebench_clip_lit.enhancer import CLIPLIT
from llebench_clip_lit.network import (
    HALO, LightMapNet, light_map_tiled, pooled_means, pooling_cells, resize_crop,
)

WEIGHTS = "clip_lit_enhancement.pth"
GOLDEN_IDS = ("01", "12", "27")
#: the tests run small images on one thread (conftest's one_torch_thread: on a small shared CPU,
#: OpenMP spinning makes small convolutions many times slower); the real-size ones use them all
pytestmark = pytest.mark.usefixtures("one_torch_thread")
ALL_THREADS = torch.get_num_threads()


def smooth_image(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """A dark, structured test image (low-frequency shapes plus a little noise)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, max(2, height // 16), max(2, width // 16), generator=g)
    image = F.interpolate(coarse, (height, width), mode="bilinear", align_corners=False) * 0.4
    return (image + 0.03 * torch.rand(1, 3, height, width, generator=g)).clamp(0, 1)


@pytest.fixture(scope="module")
def enhancer(shared_weights) -> CLIPLIT:
    return CLIPLIT(weights=shared_weights / WEIGHTS)


# --- the network and the official weights ------------------------------------------------------

def test_parameter_count_is_the_golden_readme_s(golden_dir):
    text = (golden_dir / "README.md").read_text()
    section = text[text.index("## clip_lit"):]
    section = section[:section.index("\n## ", 1)]
    stated = int(re.search(r"([\d,]+) parameters", section).group(1).replace(",", ""))
    assert stated == 278_790
    assert sum(p.numel() for p in LightMapNet().parameters()) == stated
    assert sum(p.numel() for p in LightMapNet(padding="zeros").parameters()) == stated


def test_official_state_dict_loads_unchanged(shared_weights):
    raw = torch.load(shared_weights / WEIGHTS, map_location="cpu", weights_only=True)
    assert all(key.startswith("module.") for key in raw)
    net = LightMapNet()
    assert set(net.state_dict()) == {key[len("module."):] for key in raw}
    net.load_state_dict({key[len("module."):]: value for key, value in raw.items()})
    # the padding of the authors' test network: reflect, except the pyramid's fusion conv
    pads = {name: m.padding_mode for name, m in net.named_modules()
            if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)}
    assert len(pads) == 17
    assert pads == {name: "zeros" if name == "PPM1.fuse.0" else "reflect" for name in pads}


def test_params_and_flops_metrics(enhancer):
    from llebench.sdk import EnhanceRecord, Sample
    from llebench_metrics.efficiency import FLOPs, Params

    image = torch.full((1, 3, 16, 24), 0.2)
    sample, record = Sample("x", image), EnhanceRecord(0.0, "cpu", enhancer=enhancer, size=(16, 24))
    assert Params().compute(image, sample, record) == 278_790
    # 277,632 multiply-adds per pixel in the 3x3 convolutions, plus the pooled 1x1 convolutions
    per_pixel = 3 * 32 * 9 + 4 * 32 * 32 * 9 + 64 * 32 * 9 + 32 * 64 * 9 + 4 * 64 * 64 * 9 + 64 * 32 * 9 \
        + 4 * 32 * 32 * 9 + 32 * 1 * 9
    assert per_pixel == 277_632
    pooled = 32 * 8 * (1 + 4 + 9 + 36)
    gflops = FLOPs(height=16, width=24).compute(image, sample, record)
    assert gflops == pytest.approx(2 * (per_pixel * 16 * 24 + pooled) / 1e9, rel=1e-9)


# --- parity with the authors' outputs -------------------------------------------------------------

def test_outputs_match_the_official_pngs(shared_data, shared_weights, golden_dir, tmp_path):
    torch.set_num_threads(ALL_THREADS)
    subset = tmp_path / "data" / "DICM"
    subset.mkdir(parents=True)
    for image_id in GOLDEN_IDS:
        (subset / f"{image_id}.jpg").symlink_to(shared_data / "DICM" / f"{image_id}.jpg")
    out = tmp_path / "run"
    assert main(["run", "--methods", "clip_lit", "--datasets", "dicm", "--metrics", "seconds",
                 "--data-root", str(tmp_path / "data"), "--out", str(out), "--no-progress", "--no-report"]) == 0
    for image_id in GOLDEN_IDS:
        ours = np.asarray(Image.open(out / "images" / "clip_lit" / "dicm" / f"{image_id}.png"), dtype=int)
        theirs = np.asarray(Image.open(golden_dir / "official_outputs" / f"clip_lit_DICM_{image_id}.png"), dtype=int)
        assert ours.shape == theirs.shape
        diff = np.abs(ours - theirs)
        # measured: max 1, on 6.5e-6 of the values (6 of 921,600) on each image
        assert diff.max() <= 1, image_id
        assert (diff > 0).mean() < 1e-4, image_id
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False)
    assert set(scores["variant"]) == {""}  # the default is the published configuration: no variant named
    assert scores["weights"].str.startswith(f"{WEIGHTS}@67aa1bdbac345842").all()


def run_dicm_niqe(out: Path) -> pd.DataFrame:
    assert main(["run", "--methods", "clip_lit", "--datasets", "dicm", "--metrics", "niqe",
                 "--out", str(out), "--no-progress", "--no-report"]) == 0
    return pd.read_csv(out / "scores.csv")


@pytest.mark.slow
def test_dicm_niqe_of_all_64_images(shared_data, shared_weights, golden_dir, tmp_path):
    torch.set_num_threads(ALL_THREADS)
    scores = run_dicm_niqe(tmp_path / "run")
    golden = pd.read_csv(golden_dir / "dicm_niqe_zoo.csv")[["image", "clip_lit"]]
    merged = golden.merge(scores[scores["metric"] == "niqe"], on="image")
    assert len(merged) == 64 and (merged["status"] == "ok").all()
    diff = (merged["value"] - merged["clip_lit"]).abs()
    assert diff.max() < 0.01, merged.loc[diff.idxmax(), "image"]
    assert round(merged["value"].mean(), 3) == round(golden["clip_lit"].mean(), 3) == 3.917


# --- weights -------------------------------------------------------------------------------------

def test_tampered_weights_are_refused(shared_weights, tmp_path, monkeypatch):
    data = bytearray((shared_weights / WEIGHTS).read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / WEIGHTS).write_bytes(bytes(data))
    monkeypatch.setenv("LLEBENCH_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("LLEBENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ChecksumMismatch, match=WEIGHTS):
        CLIPLIT()


def test_missing_weights_offline_is_one_clear_message(isolated_weights):
    with pytest.raises(WeightsNotFound) as caught:
        CLIPLIT()
    message = str(caught.value)
    assert WEIGHTS in message and "LLEBENCH_OFFLINE" in message
    assert "https://github.com/ZhexinLiang/CLIP-LIT/raw/main/pretrained_models/enhancement_model.pth" in message


def test_a_file_of_another_network_is_a_clear_error(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"module.conv.weight": torch.zeros(3, 3, 3, 3)}, path)
    with pytest.raises(LLEBenchError, match="not a CLIP-LIT enhancement state_dict"):
        CLIPLIT(weights=path)


# --- variants and options ---------------------------------------------------------------------------

def test_every_variant_runs_and_is_recorded(shared_weights, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for seed in range(2):
        Image.fromarray(to_uint8_array(smooth_image(40, 56, seed))).save(folder / f"{seed}.png")
    out = tmp_path / "run"
    labels = {f"clip_lit_{variant}": variant for variant in CLIPLIT.variants}
    methods = ",".join(f"{label}=clip_lit" for label in labels)
    options = [arg for label, variant in labels.items() for arg in ("-o", f"{label}.variant={variant}")]
    assert main(["run", "--methods", methods, "--datasets", f"folder:{folder}", "--metrics", "seconds",
                 "--out", str(out), "--no-progress", "--no-report", *options]) == 0
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False)
    assert (scores["status"] == "ok").all() and len(scores) == 2 * len(labels)
    assert dict(scores.groupby("method")["variant"].agg(lambda v: set(v))) == {
        label: {"" if variant == CLIPLIT.variants[0] else variant} for label, variant in labels.items()}


def test_zero_pad_variant_differs_only_near_the_border(shared_weights):
    image = smooth_image(72, 90)
    with torch.inference_mode():
        reflect = CLIPLIT(weights=shared_weights / WEIGHTS).light_map(image)
        zeros = CLIPLIT(weights=shared_weights / WEIGHTS, variant="zero_pad").light_map(image)
    changed = (reflect - zeros).abs() > 1e-6
    assert changed.any()
    # the border effect reaches inward through the 17 stacked 3x3 convolutions and, much weaker,
    # through the pyramid's global averages: away from the border the maps nearly agree
    inner = (reflect - zeros)[..., HALO:-HALO, HALO:-HALO].abs().max()
    assert inner < (reflect - zeros).abs().max() / 2


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_variants_are_close_to_fp32(shared_weights, precision):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no native bf16" on CPUs that emulate it
        half = CLIPLIT(weights=shared_weights / WEIGHTS, precision=precision)
    full = CLIPLIT(weights=shared_weights / WEIGHTS)
    assert half.variant == f"reflect+{precision}" and full.variant == "reflect"
    image = smooth_image(48, 64)
    with torch.inference_mode():
        a, b = full.enhance(image), half.enhance(image)
    assert b.dtype == torch.float32 and b.shape == a.shape
    mse = float(((a - b) ** 2).mean())
    assert 0 < mse and 10 * np.log10(1 / mse) >= 45


@pytest.mark.parametrize("options, words", [
    ({"variant": "enhancement"}, "unknown variant 'enhancement'"),
    ({"precision": "int8"}, "precision must be one of fp32, bf16, fp16"),
    ({"tile": -4}, "tile must be"),
    ({"tile": 1.5}, "tile must be"),
    ({"tile": True}, "tile must be"),
    ({"min_light": -0.1}, "min_light must be a finite number >= 0"),
    ({"min_light": float("nan")}, "min_light must be"),
    ({"min_light": "small"}, "min_light must be"),
])
def test_bad_options_are_clear_errors(shared_weights, options, words):
    with pytest.raises(LLEBenchError, match=re.escape(words)):
        CLIPLIT(**options)


def test_unknown_option_is_a_type_error(shared_weights):
    with pytest.raises(TypeError):
        CLIPLIT(tiles=4)


def test_a_bad_option_on_the_command_line_fails_the_method_with_its_message(shared_weights, tmp_path, capsys):
    out = tmp_path / "run"
    main(["run", "--methods", "clip_lit", "--datasets", "sample", "--metrics", "seconds", "--limit", "1",
          "--out", str(out), "--no-progress", "--no-report", "-o", "clip_lit.precision=fp8"])
    assert "precision must be one of fp32, bf16, fp16" in (out / "manifest.json").read_text() + capsys.readouterr().err


def test_too_small_images_are_a_clear_error(enhancer):
    with pytest.raises(LLEBenchError, match="at least 2x2"):
        enhancer.enhance(torch.rand(1, 3, 1, 40))


def test_settings_and_variant_labels(shared_weights):
    default = CLIPLIT(weights=shared_weights / WEIGHTS)
    assert default.settings() == {"variant": "reflect", "padding": "reflect", "precision": "fp32", "min_light": 0.0,
                                  "tile": "auto", "halo": HALO, "output": "clamp(x / light_map, 0, 1); 0/0 -> 0"}
    guarded = CLIPLIT(weights=shared_weights / WEIGHTS, variant="zero_pad", min_light=0.01, tile=256)
    assert guarded.variant == "zero_pad+min_light=0.01"
    assert guarded.settings()["tile"] == 256 and guarded.settings()["padding"] == "zeros"
    assert default.weights_used() == {WEIGHTS: "67aa1bdbac345842670e494b02953f299e5088bcb3f98a18bd60b06fef48b5c9"}


# --- the division by the light map ------------------------------------------------------------------

def test_division_by_a_zero_light_map(enhancer, shared_weights, monkeypatch):
    image = torch.tensor([0.0, 0.3, 0.5, 0.2]).view(1, 1, 1, 4).expand(1, 3, 2, 4).contiguous()
    light = torch.tensor([0.0, 0.0, 0.25, 0.4]).view(1, 1, 1, 4).expand(1, 1, 2, 4).contiguous()
    # the official formula, saved by torchvision's save_image: 0/0 is NaN, which becomes 0
    official = torch.clamp(image / light, 0, 1)
    assert torch.isnan(official[..., 0]).all()
    saved = official.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
    assert saved[0, 0, 0].tolist() == [0, 255, 255, 128]

    monkeypatch.setattr(enhancer, "light_map", lambda x: light)
    with torch.inference_mode():
        default = enhancer.enhance(image)
    assert torch.isfinite(default).all()
    assert default[0, 0, 0].tolist() == pytest.approx([0.0, 1.0, 1.0, 0.5])
    assert np.array_equal(to_uint8_array(default)[..., 0], saved[0, 0].numpy())  # the official PNG's values

    guarded = CLIPLIT(weights=shared_weights / WEIGHTS, min_light=0.5)
    monkeypatch.setattr(guarded, "light_map", lambda x: light)
    with torch.inference_mode():
        out = guarded.enhance(image)
    assert out[0, 0, 0].tolist() == pytest.approx([0.0, 0.6, 1.0, 0.4])


def test_the_guard_leaves_ordinary_outputs_bit_identical(shared_weights):
    image = smooth_image(40, 52)
    with torch.inference_mode():
        plain = CLIPLIT(weights=shared_weights / WEIGHTS).enhance(image)
        light = CLIPLIT(weights=shared_weights / WEIGHTS).light_map(image)
        guarded = CLIPLIT(weights=shared_weights / WEIGHTS, min_light=1e-3).enhance(image)
    assert float(light.min()) > 1e-3
    assert torch.equal(plain, guarded)


# --- high resolution: exact two-pass tiles -----------------------------------------------------------

def test_pooled_means_equal_adaptive_average_pooling(enhancer):
    image = smooth_image(37, 53)  # cells of 37 rows into 6 bins overlap (floor/ceil bounds)
    assert pooling_cells(37, 6) == [(0, 7), (6, 13), (12, 19), (18, 25), (24, 31), (30, 37)]
    with torch.inference_mode():
        stem = enhancer.net.stem(image)
        for tile in (8, 13, 64):
            means = pooled_means(enhancer.net, image, tile)
            for b, mean in zip((1, 2, 3, 6), means):
                torch.testing.assert_close(mean, F.adaptive_avg_pool2d(stem, b), rtol=1e-5, atol=1e-6)


def test_resize_crop_equals_a_crop_of_the_full_resize():
    small = torch.rand(1, 8, 6, 6)
    full = F.interpolate(small, (301, 417), mode="bilinear", align_corners=True)
    for rows, cols in (((0, 301), (0, 417)), ((17, 90), (200, 417)), ((300, 301), (0, 1))):
        torch.testing.assert_close(resize_crop(small, 301, 417, rows, cols),
                                   full[..., rows[0]:rows[1], cols[0]:cols[1]], rtol=1e-5, atol=1e-6)
    one = torch.rand(1, 8, 1, 1)
    torch.testing.assert_close(resize_crop(one, 5, 7, (1, 4), (2, 7)), one.expand(1, 8, 3, 5))


@pytest.mark.parametrize("variant", CLIPLIT.variants)
def test_tiled_light_map_equals_the_whole_image_one(shared_weights, variant):
    net = CLIPLIT(weights=shared_weights / WEIGHTS, variant=variant).net
    image = smooth_image(83, 107, seed=3).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        whole = net(image)
        for tile in (37, 90):  # 3x3 tiles (cores smaller than the 2 x 17 px halo), 1x2 tiles
            tiled = light_map_tiled(net, image, tile)
            assert tiled.shape == whole.shape
            assert float((tiled - whole).abs().max()) < 2e-5 * float(whole.abs().max()), tile


def test_tile_option_and_automatic_policy(shared_weights, monkeypatch):
    calls = []
    real = clip_lit_enhancer.light_map_tiled

    def spy(net, image, tile, *layout):
        calls.append(tile)
        return real(net, image, tile, *layout)

    monkeypatch.setattr(clip_lit_enhancer, "light_map_tiled", spy)
    image = smooth_image(60, 80)
    with torch.inference_mode():
        whole = CLIPLIT(weights=shared_weights / WEIGHTS).enhance(image)
        assert calls == []
        tiled = CLIPLIT(weights=shared_weights / WEIGHTS, tile=50).enhance(image)
        assert calls == [50]
        assert float((tiled - whole).abs().max()) < 1e-4
        CLIPLIT(weights=shared_weights / WEIGHTS, tile=0).enhance(image)  # 0: never tiled
        assert calls == [50]
        monkeypatch.setattr(clip_lit_enhancer, "AUTO_WHOLE_PIXELS", 60 * 60)
        monkeypatch.setattr(clip_lit_enhancer, "AUTO_TILE", 64)
        auto = CLIPLIT(weights=shared_weights / WEIGHTS).enhance(image)
        assert calls == [50, 64]
        assert float((auto - whole).abs().max()) < 1e-4


def test_out_of_memory_on_the_whole_image_falls_back_to_exact_tiles(shared_weights, monkeypatch):
    enhancer = CLIPLIT(weights=shared_weights / WEIGHTS)
    image = smooth_image(40, 150)
    with torch.inference_mode():
        expected = enhancer.enhance(image)
    tiles = []
    real = clip_lit_enhancer.light_map_tiled

    def spy(net, x, tile, *layout):
        tiles.append(tile)
        if tile > 64:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes")
        return real(net, x, tile, *layout)

    def whole_runs_out_of_memory(x):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 3221225472 bytes")

    monkeypatch.setattr(clip_lit_enhancer, "light_map_tiled", spy)
    monkeypatch.setattr(enhancer.net, "forward", whole_runs_out_of_memory)
    with torch.inference_mode():
        out = enhancer.enhance(image)
    assert tiles == [75, 64]  # half the longer side first, then halved down to 64 px
    assert float((out - expected).abs().max()) < 1e-4
    # with an explicit tile=0 (always whole) the error is the image's failure, as without the fallback
    enhancer.tile = 0
    with pytest.raises(RuntimeError, match="can't allocate"):
        enhancer.enhance(image)


@pytest.mark.slow
def test_megapixel_image_tiled_equals_whole(enhancer):
    torch.set_num_threads(ALL_THREADS)
    image = smooth_image(900, 1200, seed=5)
    with torch.inference_mode():
        whole = enhancer.enhance(image)
        enhancer_tiled = CLIPLIT(weights=enhancer.weights_path, tile=512)
        tiled = enhancer_tiled.enhance(image)
    levels = (to_uint8_array(whole).astype(int) - to_uint8_array(tiled).astype(int))
    assert np.abs(levels).max() <= 1 and (levels != 0).mean() < 1e-4


@pytest.mark.slow
def test_4000x3000_image_runs_on_exact_tiles_in_bounded_memory(shared_weights, tmp_path):
    """The default (auto) policy on a 12-megapixel image: two-pass tiles of 512 px.

    Computed whole, this image would need ~10 GB of activations (64 channels x 12 Mpx x 4 bytes
    = 3 GB per tensor, several alive at once); the whole process (torch and llebench imported:
    ~0.75 GB) peaks under 2.5 GB.
    """
    script = f"""
import torch, torch.nn.functional as F
import llebench_clip_lit.enhancer as m
calls = []
real = m.light_map_tiled
m.light_map_tiled = lambda net, x, tile, *layout: calls.append(tile) or real(net, x, tile, *layout)
g = torch.Generator().manual_seed(0)
image = F.interpolate(torch.rand(1, 3, 30, 40, generator=g), (3000, 4000), mode="bilinear") * 0.4
enhancer = m.CLIPLIT(weights={str(shared_weights / WEIGHTS)!r})
with torch.inference_mode():
    out = enhancer.enhance(image)
assert out.shape == (1, 3, 3000, 4000) and bool(torch.isfinite(out).all())
assert 0 <= float(out.min()) and float(out.max()) <= 1 and float(out.mean()) > float(image.mean())
# VmHWM, not ru_maxrss: Linux carries the parent's peak (pytest's, GBs late in a suite) into
# a child's ru_maxrss across exec; VmHWM is this process's own high-water mark
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("tiles", calls, "peak_kib", peak)
"""
    result = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True,
                            env={**os.environ, "LLEBENCH_OFFLINE": "1"}, timeout=3600)
    assert result.returncode == 0, result.stderr[-2000:]
    words = result.stdout.split()
    print(result.stdout)  # the peak, for the README (pytest -s)
    assert words[:2] == ["tiles", "[512]"]
    assert int(words[-1]) < 2.5 * 1024 * 1024  # KiB
