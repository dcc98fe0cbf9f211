"""Classical baselines (``he``, ``clahe``, ``gamma``): each equals its plain OpenCV call, pixel for pixel."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from llebench.cli import main
from llebench.sdk import LLEBenchError, quantize, read_image, tiled, to_uint8_array
from llebench_classical.methods import CLAHE, Gamma, HistogramEqualisation

IDS = ("01", "12", "27")


def rgb8(path: Path) -> np.ndarray:
    """The file as HxWx3 uint8 RGB, read with PIL alone."""
    return np.asarray(Image.open(path).convert("RGB"))


def plain_luma(rgb: np.ndarray, equalise, space: str = "ycrcb") -> np.ndarray:
    """The textbook recipe: convert, equalise channel 0, convert back (OpenCV only)."""
    forward, backward = {"ycrcb": (cv2.COLOR_RGB2YCrCb, cv2.COLOR_YCrCb2RGB),
                         "lab": (cv2.COLOR_RGB2Lab, cv2.COLOR_Lab2RGB)}[space]
    converted = cv2.cvtColor(rgb, forward)
    converted[:, :, 0] = equalise(np.ascontiguousarray(converted[:, :, 0]))
    return cv2.cvtColor(converted, backward)


def plain_per_channel(rgb: np.ndarray, equalise) -> np.ndarray:
    return np.dstack([equalise(np.ascontiguousarray(rgb[:, :, c])) for c in range(3)])


def ours(enhancer, path: Path) -> np.ndarray:
    """What the runner would save: enhance, then its own rounding."""
    with torch.inference_mode():
        return to_uint8_array(quantize(enhancer.enhance(read_image(path))))


@pytest.mark.parametrize("image_id", IDS)
def test_he_equals_equalize_hist_on_luma(shared_data, image_id):
    path = shared_data / "DICM" / f"{image_id}.jpg"
    expected = plain_luma(rgb8(path), cv2.equalizeHist)
    assert np.array_equal(ours(HistogramEqualisation(), path), expected)


@pytest.mark.parametrize("image_id", IDS)
def test_clahe_equals_create_clahe_apply_on_luma(shared_data, image_id):
    path = shared_data / "DICM" / f"{image_id}.jpg"
    expected = plain_luma(rgb8(path), cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply)
    assert np.array_equal(ours(CLAHE(), path), expected)


@pytest.mark.parametrize("image_id", IDS)
def test_gamma_equals_the_power_law_on_each_channel(shared_data, image_id):
    path = shared_data / "DICM" / f"{image_id}.jpg"
    rgb = rgb8(path)
    expected = np.floor(255 * (rgb / 255.0) ** (1 / 2.2) + 0.5).astype(np.uint8)
    assert np.array_equal(ours(Gamma(), path), expected)
    lut = cv2.LUT(rgb, np.floor(255 * (np.arange(256) / 255.0) ** (1 / 2.2) + 0.5).astype(np.uint8))
    assert np.array_equal(ours(Gamma(), path), lut)


def test_other_spaces_and_options_equal_opencv(shared_data):
    path = shared_data / "DICM" / "12.jpg"
    rgb = rgb8(path)
    assert np.array_equal(ours(HistogramEqualisation(space="rgb"), path), plain_per_channel(rgb, cv2.equalizeHist))
    assert np.array_equal(ours(HistogramEqualisation(variant="lab"), path), plain_luma(rgb, cv2.equalizeHist, "lab"))
    clahe = cv2.createCLAHE(clipLimit=4.0, tileGridSize=(6, 3))
    assert np.array_equal(ours(CLAHE(clip_limit=4, grid="6x3", space="lab"), path),
                          plain_luma(rgb, clahe.apply, "lab"))
    assert np.array_equal(ours(CLAHE(variant="clip=4,grid=6x3,rgb"), path), plain_per_channel(rgb, clahe.apply))
    gamma = ours(Gamma(gamma=1.5), path)
    assert np.array_equal(gamma, np.floor(255 * (rgb / 255.0) ** (1 / 1.5) + 0.5).astype(np.uint8))


def test_cli_run_and_cached_pngs(shared_data, tmp_path):
    """``llebench run --methods input,he,clahe,gamma --datasets dicm --metrics niqe --limit 2`` works,
    and the cached PNGs are the OpenCV outputs of the image files."""
    out = tmp_path / "run"
    assert main(["run", "--methods", "input,he,clahe,gamma", "--datasets", "dicm", "--metrics", "niqe",
                 "--limit", "2", "--out", str(out), "--no-progress"]) == 0
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False)
    assert len(scores) == 8 and (scores["status"] == "ok").all()
    assert scores.groupby("method")["variant"].first().to_dict() == {
        "input": "", "he": "", "clahe": "", "gamma": ""}  # defaults: the published configurations
    rgb = rgb8(shared_data / "DICM" / "01.jpg")
    expected = {"he": plain_luma(rgb, cv2.equalizeHist),
                "clahe": plain_luma(rgb, cv2.createCLAHE(2.0, (8, 8)).apply),
                "gamma": np.floor(255 * (rgb / 255.0) ** (1 / 2.2) + 0.5).astype(np.uint8)}
    for method, array in expected.items():
        cached = np.asarray(Image.open(out / "images" / method / "dicm" / "01.png"))
        assert np.array_equal(cached, array), method


def test_non_default_options_are_visible_in_scores(shared_data, tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--methods", "he_rgb=he,clahe4=clahe,clahe_v=clahe,g18=gamma",
                 "-o", "he_rgb.space=rgb", "-o", "clahe4.clip_limit=4.0", "-o", "clahe4.grid=[8, 4]",
                 "-o", "clahe_v.variant=clip=40,grid=8x8,lab", "-o", "g18.gamma=1.8",
                 "--datasets", "dicm", "--limit", "1", "--metrics", "seconds", "--out", str(out),
                 "--no-progress"]) == 0
    scores = pd.read_csv(out / "scores.csv")
    assert (scores["status"] == "ok").all()
    assert scores.groupby("method")["variant"].first().to_dict() == {
        "he_rgb": "rgb", "clahe4": "clip=4,grid=8x4", "clahe_v": "clip=40,grid=8x8,lab", "g18": "gamma=1.8"}


def test_every_listed_variant_builds_and_round_trips():
    for cls in (HistogramEqualisation, CLAHE, Gamma):
        for name in cls.variants:
            assert cls(variant=name).variant == name
        assert cls().variant == cls.variants[0]  # the first listed is the default


def test_gamma_tiles_exactly():
    assert Gamma.tile_halo == 0 and HistogramEqualisation.tile_halo is None and CLAHE.tile_halo is None
    torch.manual_seed(0)
    image = torch.rand(1, 3, 97, 130)
    gamma = Gamma()
    assert torch.equal(tiled(gamma.enhance, image, 32, 0), gamma.enhance(image))


def test_float_input_is_quantised_like_the_runner():
    """A non-8-bit input (e.g. 16-bit PNG) is rounded to 8 bits by the runner's rule first."""
    torch.manual_seed(1)
    image = torch.rand(1, 3, 40, 50)
    levels = to_uint8_array(quantize(image))
    with torch.inference_mode():
        out = to_uint8_array(quantize(HistogramEqualisation(space="rgb").enhance(image)))
    assert np.array_equal(out, plain_per_channel(levels, cv2.equalizeHist))
    # outputs are exact levels: the runner's rounding leaves them unchanged
    assert torch.equal(quantize(Gamma().enhance(image)), Gamma().enhance(image))


def test_4000x3000_images_are_fast():
    image = torch.rand(1, 3, 3000, 4000, generator=torch.Generator().manual_seed(2)).mul_(0.3)
    for cls in (HistogramEqualisation, CLAHE, Gamma):
        start = time.perf_counter()
        with torch.inference_mode():
            out = cls().enhance(image)
        seconds = time.perf_counter() - start
        assert out.shape == image.shape and out.dtype == torch.float32
        assert seconds < 20, (cls.name, seconds)  # ~0.3-0.6 s on an idle 2-core CPU


def test_no_network_no_weights():
    for cls in (HistogramEqualisation, CLAHE, Gamma):
        enhancer = cls()
        assert enhancer.network() is None and enhancer.weights_used() == {} and cls.weights_files == ()
        assert cls.paper and cls.year and cls.licence and enhancer.settings()


@pytest.mark.parametrize("cls, options, match", [
    (HistogramEqualisation, {"space": "hsv"}, "space must be one of"),
    (HistogramEqualisation, {"variant": "gamma=2"}, "cannot read variant"),
    (HistogramEqualisation, {"variant": "rgb", "space": "lab"}, "disagrees"),
    (CLAHE, {"clip_limit": 0}, "positive number"),
    (CLAHE, {"clip_limit": "lots"}, "positive number"),
    (CLAHE, {"clip_limit": True}, "positive number"),
    (CLAHE, {"grid": 0}, "grid must be"),
    (CLAHE, {"grid": [8]}, "grid must be"),
    (CLAHE, {"grid": "8by8"}, "grid must be"),
    (CLAHE, {"variant": "clip=2,clip=3"}, "cannot read variant"),
    (CLAHE, {"variant": "clip=4,grid=8x8", "clip_limit": 2}, "disagrees"),
    (CLAHE, {"variant": ""}, "non-empty"),
    (Gamma, {"gamma": 0}, "positive number"),
    (Gamma, {"gamma": -2.2}, "positive number"),
    (Gamma, {"gamma": float("nan")}, "positive number"),
    (Gamma, {"variant": "2.2"}, "cannot read variant"),
])
def test_bad_options_are_clear_errors(cls, options, match):
    with pytest.raises(LLEBenchError, match=match):
        cls(**options)


def test_unknown_option_is_a_type_error():
    with pytest.raises(TypeError):
        CLAHE(clip=2.0)
