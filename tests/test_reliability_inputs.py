"""Bad input: a generated corpus of awkward files, read one by one and run end to end.

Every case is either a clear per-image error naming the file or a documented conversion
(llebench/images.py, docs/reliability.md), and the rest of the run is computed and saved.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from llebench.cli import main
from llebench.errors import ImageError, RunConfigError
from llebench.images import read_image

RNG = np.random.default_rng(7)
#: test-only plugins: the ``mean`` metric, the ``sleepy`` and ``oom_above`` methods
HELPERS = Path(__file__).parent / "reliability_plugins"


#: large enough for NIQE (pyiqa needs at least 96x96)
H, W = 120, 160


def rgb_array(height: int = H, width: int = W) -> np.ndarray:
    return (RNG.random((height, width, 3)) * 120).astype(np.uint8)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` (8-bit RGB) and holds no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)) + struct.pack(">I", 0) + b"IEND"
            + struct.pack(">I", zlib.crc32(b"IEND")))


def encoded(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def exif_rotated_jpeg() -> bytes:
    """An HxW JPEG whose EXIF says "rotate 90°" (orientation 6)."""
    image = Image.fromarray(rgb_array())
    exif = Image.Exif()
    exif[0x0112] = 6
    return encoded(image, "JPEG", exif=exif.tobytes(), quality=95)


def write_corpus(folder: Path) -> dict[str, str]:
    """Write the bad-input corpus; returns {file name: expected error text ('' = reads)}."""
    folder.mkdir(parents=True)
    rgb = Image.fromarray(rgb_array())
    jpeg, png = encoded(rgb, "JPEG", quality=95), encoded(rgb, "PNG")
    files: dict[str, tuple[bytes, str]] = {
        "good.png": (png, ""),
        "zero bytes.jpg": (b"", "empty file (0 bytes)"),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], "damaged or truncated"),
        "truncated_png.png": (png[: len(png) // 2], "damaged or truncated"),  # one stem, one file
        "text.jpg": (b"this is not an image\n" * 10, "not a readable image"),
        "grey.png": (encoded(rgb.convert("L"), "PNG"), ""),
        "rgba.png": (encoded(rgb.convert("RGBA"), "PNG"), ""),
        "grey16.png": (encoded(Image.fromarray(rgb_array()[:, :, 0].astype(np.uint16) * 257), "PNG"), ""),
        "palette.png": (encoded(rgb.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"), ""),
        "cmyk.jpg": (encoded(rgb.convert("CMYK"), "JPEG", quality=95), ""),
        "exif_rotated.jpg": (exif_rotated_jpeg(), ""),
        "one_pixel.png": (encoded(Image.fromarray(rgb_array(1, 1)), "PNG"), ""),
        "odd_3x5.png": (encoded(Image.fromarray(rgb_array(3, 5)), "PNG"), ""),
        "bomb_40000x40000.png": (png_header_only(40000, 40000), "exceeds the pixel limit"),
        "ünïcödé name 日本.png": (png, ""),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    os.symlink("loop_b.jpg", folder / "loop_a.jpg")  # a file symlink loop
    os.symlink("loop_a.jpg", folder / "loop_b.jpg")
    os.symlink("gone.png", folder / "dangling.png")  # a link to nothing
    os.symlink(".", folder / "subdir_loop")  # a directory loop: never followed
    os.symlink(".", folder / "dir_loop.png")  # ... even when named like an image
    links = {"loop_a.jpg": "symbolic link loop", "loop_b.jpg": "symbolic link loop",
             "dangling.png": "broken symbolic link (its target gone.png does not exist)"}
    return {**{name: expected for name, (_, expected) in files.items()}, **links}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("corpus") / "inputs"
    return folder, write_corpus(folder)


def test_each_bad_file_is_an_error_naming_it(corpus):
    folder, expected = corpus
    for name, error in expected.items():
        if not error:
            continue
        with pytest.raises(ImageError) as info:
            read_image(folder / name)
        assert str(folder / name) in str(info.value) and error in str(info.value), name


def test_symlink_loop_and_missing_file_are_errors_naming_the_file(corpus, tmp_path):
    folder, _ = corpus
    with pytest.raises(ImageError, match="loop_a.jpg: symbolic link loop"):
        read_image(folder / "loop_a.jpg")
    with pytest.raises(ImageError, match=r"dangling.png: broken symbolic link \(its target gone.png"):
        read_image(folder / "dangling.png")
    with pytest.raises(ImageError, match="nothing.png: file not found"):
        read_image(tmp_path / "nothing.png")


def test_broken_links_are_listed_and_fail_per_image_and_directory_links_are_not_followed(tmp_path, capsys):
    """folder:PATH lists looping and dangling links, so each becomes failed rows naming it;
    links to directories (a loop to '.' included) are not listed and never recursed into."""
    from llebench_datasets.custom import FolderDataset

    folder = tmp_path / "inputs"
    folder.mkdir()
    Image.fromarray(rgb_array(8, 8)).save(folder / "good.png")
    os.symlink("good.png", folder / "alias.png")  # a working link is its target
    os.symlink("loop_b.jpg", folder / "loop_a.jpg")
    os.symlink("loop_a.jpg", folder / "loop_b.jpg")
    os.symlink("gone.png", folder / "dangling.png")
    os.symlink(".", folder / "dir_loop.png")
    os.symlink("..", folder / "up")
    dataset = FolderDataset(arg=str(folder))
    assert dataset.ids() == ["alias.png", "dangling.png", "good.png", "loop_a.jpg", "loop_b.jpg"]
    out = tmp_path / "run"
    code, text = run_cli(capsys, "--methods", "input", "--datasets", f"folder:{folder}", "--metrics", "mean",
                         "--out", str(out), "--no-report")
    assert code == 1, text
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False).set_index("image")
    assert set(scores.index) == set(dataset.ids())
    assert scores.loc["good.png", "status"] == "ok" and scores.loc["alias.png", "status"] == "ok"
    for name, error in (("loop_a.jpg", "symbolic link loop"), ("loop_b.jpg", "symbolic link loop"),
                        ("dangling.png", "broken symbolic link")):
        assert scores.loc[name, "status"] == "failed" and f"{folder / name}: {error}" in scores.loc[name, "error"]


def test_documented_conversions(corpus):
    folder, _ = corpus
    good = read_image(folder / "good.png")
    assert good.shape == (1, 3, H, W) and good.dtype == torch.float32
    grey = read_image(folder / "grey.png")
    assert grey.shape == (1, 3, H, W) and (grey[:, 0] == grey[:, 1]).all() and (grey[:, 1] == grey[:, 2]).all()
    # alpha is dropped, not composited: RGBA reads exactly like the RGB it came from
    assert read_image(folder / "rgba.png").equal(good)
    # 16-bit greyscale is scaled by 1/65535 (v * 257 / 65535 == v / 255)
    grey16 = read_image(folder / "grey16.png")
    expected16 = np.asarray(Image.open(folder / "grey16.png"), dtype=np.float64) / 65535
    assert np.allclose(grey16[0, 0].numpy(), expected16, atol=1e-7)
    assert read_image(folder / "palette.png").shape == (1, 3, H, W)
    cmyk = read_image(folder / "cmyk.jpg")
    assert cmyk.shape == (1, 3, H, W) and float((cmyk - good).abs().mean()) < 0.05
    assert read_image(folder / "one_pixel.png").shape == (1, 3, 1, 1)
    assert read_image(folder / "odd_3x5.png").shape == (1, 3, 3, 5)
    assert read_image(folder / "ünïcödé name 日本.png").equal(good)


def test_exif_orientation_is_not_applied(corpus):
    """Pixels as stored, like the official Zero-DCE / SCL-LLE test scripts."""
    folder, _ = corpus
    assert Image.open(folder / "exif_rotated.jpg").getexif()[0x0112] == 6
    assert read_image(folder / "exif_rotated.jpg").shape == (1, 3, H, W)  # not WxH


def test_16bit_rgb_png_is_read_at_8_bits(tmp_path):
    import cv2

    data = (np.arange(4 * 6 * 3, dtype=np.uint16).reshape(4, 6, 3) * 900)
    cv2.imwrite(str(tmp_path / "rgb16.png"), data[:, :, ::-1])  # cv2 writes BGR
    image = read_image(tmp_path / "rgb16.png")[0].permute(1, 2, 0).numpy()
    assert np.allclose(image, (data >> 8) / 255.0, atol=1e-6)  # Pillow keeps the high byte


def test_pixel_limit_is_configurable(tmp_path, monkeypatch):
    path = tmp_path / "small.png"
    Image.fromarray(rgb_array(20, 20)).save(path)
    monkeypatch.setenv("LLEBENCH_MAX_PIXELS", "399")
    with pytest.raises(ImageError, match=r"small.png: 20x20 exceeds the pixel limit of 399"):
        read_image(path)
    monkeypatch.setenv("LLEBENCH_MAX_PIXELS", "400")
    assert read_image(path).shape == (1, 3, 20, 20)
    # above twice the limit Pillow's own guard fires first: still our message and variable
    monkeypatch.setenv("LLEBENCH_MAX_PIXELS", "100")
    with pytest.raises(ImageError, match=r"small.png: .*LLEBENCH_MAX_PIXELS"):
        read_image(path)
    # a limit above Pillow's default (89 Mpx) is honoured: the header is all that is read
    bomb = tmp_path / "big.png"
    bomb.write_bytes(png_header_only(12000, 12000))  # 144 Mpx < 200 Mpx default
    monkeypatch.delenv("LLEBENCH_MAX_PIXELS")
    with pytest.raises(ImageError, match="damaged or truncated"):  # passes the size check
        read_image(bomb)
    monkeypatch.setenv("LLEBENCH_MAX_PIXELS", "lots")
    with pytest.raises(RunConfigError, match="LLEBENCH_MAX_PIXELS"):
        read_image(path)


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(["run", "--plugins-dir", str(HELPERS), "--no-progress", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.slow
def test_corpus_through_llebench_run(corpus, shared_weights, tmp_path, capsys):
    """zero_dce and niqe over the whole corpus (folder:PATH): errors per image, the rest scored."""
    folder, expected = corpus
    out = tmp_path / "run"
    code, text = run_cli(capsys, "--methods", "input,zero_dce", "--datasets", f"folder:{folder}",
                         "--metrics", "niqe,mean", "--out", str(out))
    assert code == 1, text  # some images failed: not a clean run, but a finished one
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False)
    assert not scores.duplicated(["method", "dataset", "image", "metric"]).any()
    images = set(scores.image)
    assert images == set(expected)  # broken links are listed (and fail); directory links are not
    for name, error in expected.items():
        rows = scores[scores.image == name]
        assert len(rows) == 4, name  # 2 methods x 2 metrics, each recorded
        if error:
            assert (rows.status == "failed").all() and all(str(folder / name) in e for e in rows.error), name
    readable = [name for name, error in expected.items() if not error]
    ok = scores[scores.status == "ok"]
    # DCE-Net works at any size, 1x1 and 3x5 included: every readable image has its output
    assert set(ok[(ok.method == "zero_dce") & (ok.metric == "mean")].image) == set(readable)
    (saved,) = (out / "images" / "zero_dce").iterdir()  # one dataset folder
    assert {p.name for p in saved.iterdir()} == {str(Path(name).with_suffix(".png")) for name in readable}
    # pyiqa NIQE cannot score tiny images: a per-image metric failure that says which image
    tiny = scores[(scores.metric == "niqe") & scores.image.isin(["one_pixel.png", "odd_3x5.png"])]
    assert (tiny.status == "failed").all() and all(f"[{folder}" in e for e in tiny.error)
    big = [name for name in readable if name not in ("one_pixel.png", "odd_3x5.png")]
    assert set(ok[ok.metric == "niqe"].image) == set(big)
    assert (out / "report.html").exists()


def test_folder_without_images_is_a_clear_error_and_other_datasets_still_run(tmp_path, capsys):
    empty, full = tmp_path / "empty", tmp_path / "full"
    empty.mkdir()
    full.mkdir()
    (empty / "notes.txt").write_text("no images here")
    Image.fromarray(rgb_array(8, 8)).save(full / "a.png")
    out = tmp_path / "run"
    code, text = run_cli(capsys, "--methods", "input", "--datasets", f"folder:{empty},folder:{full}",
                         "--metrics", "mean", "--out", str(out), "--no-report")
    assert code == 2 and f"no images in {empty}" in text  # a dataset that cannot be used: a configuration error
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False)
    assert list(scores.status) == ["ok"] and scores.dataset.item() == f"folder:{full}"


def test_reference_of_a_different_size_fails_full_reference_metrics_only(tmp_path, capsys):
    inputs, refs = tmp_path / "low", tmp_path / "high"
    inputs.mkdir()
    refs.mkdir()
    for name, ref_size in (("same.png", (16, 12)), ("other.png", (20, 12))):
        Image.fromarray(rgb_array(12, 16)).save(inputs / name)
        Image.fromarray(rgb_array(ref_size[1], ref_size[0])).save(refs / name)
    out = tmp_path / "run"
    code, _ = run_cli(capsys, "--methods", "input", "--datasets", f"folder:{inputs}", "--ref", str(refs),
                         "--metrics", "psnr,mean", "--out", str(out), "--no-report")
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False).set_index(["image", "metric"])
    assert code == 1
    assert scores.loc[("same.png", "psnr"), "status"] == "ok"
    assert scores.loc[("other.png", "mean"), "status"] == "ok"
    failed = scores.loc[("other.png", "psnr")]
    assert failed.status == "failed" and str(inputs / "other.png") in failed.error
