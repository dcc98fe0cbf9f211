"""The dataset zoo: each real layout built in miniature in tmp_path, loaded, and broken on purpose."""

from __future__ import annotations

from llebench.context import Context

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from llebench.errors import DatasetUnavailable, ImageError, RunConfigError
from llebench_datasets.custom import FolderDataset
from llebench_datasets.folders import DICM, LIME, MEF, NPE, VV
from llebench_datasets.paired import LOL, LSRW, LOLv2Real, LOLv2Synthetic
from llebench_datasets.sice import SICEPart2, resize_lanczos


def write_image(path: Path, size: tuple[int, int] = (12, 8), seed: int = 0) -> Path:
    """A small random RGB picture (W x H = ``size``) in the format the suffix says."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def write_pairs(low: Path, high: Path, names: list[str], size: tuple[int, int] = (12, 8)) -> None:
    for i, name in enumerate(names):
        write_image(low / name, size, seed=i)
        write_image(high / name, size, seed=100 + i)


# -- no-reference sets -----------------------------------------------------------------------


@pytest.mark.parametrize("cls, subdir, suffix", [
    (DICM, "DICM", ".jpg"), (LIME, "LIME", ".bmp"), (MEF, "MEF", ".png"), (NPE, "NPE", ".jpg"), (VV, "VV", ".jpg"),
])
def test_no_reference_sets_load_in_natural_order(tmp_path, cls, subdir, suffix):
    for number in (10, 2, 1):
        write_image(tmp_path / subdir / f"{number}{suffix}", seed=number)
    (tmp_path / subdir / "notes.txt").write_text("not an image")
    dataset = cls(Context(data_root=tmp_path))
    assert dataset.kind == "no-reference" and not dataset.has_reference
    assert dataset.ids() == [f"1{suffix}", f"2{suffix}", f"10{suffix}"]
    assert dataset.location() == tmp_path / subdir
    sample = dataset.load(f"2{suffix}")
    assert sample.input.shape == (1, 3, 8, 12) and sample.reference is None
    assert sample.meta["path"] == str(tmp_path / subdir / f"2{suffix}")


@pytest.mark.parametrize("cls", [DICM, LIME, MEF, NPE, VV, LOL, LOLv2Real, LOLv2Synthetic, LSRW, SICEPart2])
def test_absent_data_names_the_expected_layout(tmp_path, cls):
    with pytest.raises(DatasetUnavailable) as missing:
        cls(Context(data_root=tmp_path)).ids()
    message = str(missing.value)
    assert f"{tmp_path / cls.subdir} is not a directory" in message
    assert f"expected layout: {cls.layout}" in message and cls.source in message
    with pytest.raises(DatasetUnavailable, match=r"needs a data root: set \$LLEBENCH_DATA"):
        cls(Context(data_root=None)).ids()


def test_empty_folder_is_a_wrong_layout(tmp_path):
    (tmp_path / "LIME").mkdir()
    with pytest.raises(DatasetUnavailable, match=r"no images in .*LIME \(expected layout: \$LLEBENCH_DATA/LIME/"):
        LIME(Context(data_root=tmp_path)).ids()


def test_dicm_loads_the_real_64_images(shared_data):
    dataset = DICM(Context(data_root=shared_data))
    ids = dataset.ids()
    assert len(ids) == 64 and ids[:3] == ["01.jpg", "02.jpg", "03.jpg"]
    sample = dataset.load(ids[0])
    assert sample.input.shape[:2] == (1, 3) and 0.0 <= float(sample.input.min()) <= float(sample.input.max()) <= 1.0


# -- LOL, LOL-v2, LSRW -----------------------------------------------------------------------


def test_lol_splits(tmp_path):
    write_pairs(tmp_path / "LOL/eval15/low", tmp_path / "LOL/eval15/high", ["1.png", "22.png", "111.png"])
    write_pairs(tmp_path / "LOL/our485/low", tmp_path / "LOL/our485/high", ["2.png", "5.png"])
    test = LOL(Context(data_root=tmp_path))
    assert test.ids() == ["1.png", "22.png", "111.png"]
    sample = test.load("22.png")
    assert sample.reference is not None and sample.reference.shape == sample.input.shape
    assert not torch.equal(sample.reference, sample.input)
    assert sample.meta["reference"] == str(tmp_path / "LOL/eval15/high/22.png")
    assert test.settings() == {"root": str(tmp_path / "LOL"), "split": "test", "split_dir": "eval15"}
    train = LOL(Context(data_root=tmp_path), split="train")
    assert train.ids() == ["2.png", "5.png"] and train.settings()["split_dir"] == "our485"


def test_lol_without_references_is_a_wrong_layout(tmp_path):
    write_image(tmp_path / "LOL/eval15/low/1.png")
    with pytest.raises(DatasetUnavailable) as wrong:
        LOL(Context(data_root=tmp_path)).ids()
    assert f"{tmp_path}/LOL/eval15/high is missing" in str(wrong.value)
    assert "expected layout: $LLEBENCH_DATA/LOL/{eval15,our485}/{low,high}/*.png" in str(wrong.value)


def test_missing_reference_still_loads_and_says_why(tmp_path):
    write_pairs(tmp_path / "LOL/eval15/low", tmp_path / "LOL/eval15/high", ["1.png"])
    write_image(tmp_path / "LOL/eval15/low/2.png")
    write_image(tmp_path / "LOL/eval15/high/9.png")
    dataset = LOL(Context(data_root=tmp_path))
    sample = dataset.load("2.png")
    assert sample.reference is None
    assert sample.meta["missing_reference"] == f"no image named 2.* in {tmp_path}/LOL/eval15/high"
    assert list(dataset.check()) == [f"{tmp_path}/LOL/eval15/high/9.png: reference without an input in "
                                     f"{tmp_path}/LOL/eval15/low"]


def test_lolv2_real_pairs_low_and_normal_prefixes(tmp_path):
    root = tmp_path / "LOL-v2/Real_captured/Test"
    write_image(root / "Low/low00690.png", seed=1)
    write_image(root / "Normal/normal00690.png", seed=2)
    write_image(root / "Low/00691.png", seed=3)  # copies renamed to plain numbers pair too
    write_image(root / "Normal/00691.png", seed=4)
    dataset = LOLv2Real(Context(data_root=tmp_path))
    assert dataset.ids() == ["00691.png", "low00690.png"]
    assert dataset.load("low00690.png").meta["reference"] == str(root / "Normal/normal00690.png")
    assert dataset.load("00691.png").reference is not None
    assert list(dataset.check()) == []
    with pytest.raises(DatasetUnavailable, match="Real_captured/Train/Low is missing"):
        LOLv2Real(Context(data_root=tmp_path), split="train").ids()


def test_lolv2_synthetic(tmp_path):
    write_pairs(tmp_path / "LOL-v2/Synthetic/Test/Low", tmp_path / "LOL-v2/Synthetic/Test/Normal",
                ["r000da4f1t.png", "r0a1b2c3dt.png"])
    dataset = LOLv2Synthetic(Context(data_root=tmp_path))
    assert len(dataset.ids()) == 2 and dataset.has_reference
    assert dataset.load("r000da4f1t.png").reference.shape == (1, 3, 8, 12)


def test_lsrw_cameras_and_splits(tmp_path):
    write_pairs(tmp_path / "LSRW/Eval/Huawei/low", tmp_path / "LSRW/Eval/Huawei/high", ["2.jpg", "10.jpg"])
    write_pairs(tmp_path / "LSRW/Eval/Nikon/low", tmp_path / "LSRW/Eval/Nikon/high", ["3.jpg"])
    write_pairs(tmp_path / "LSRW/Training data/Nikon/low", tmp_path / "LSRW/Training data/Nikon/high", ["7.jpg"])
    assert LSRW(Context(data_root=tmp_path)).ids() == ["Huawei/2.jpg", "Huawei/10.jpg", "Nikon/3.jpg"]
    assert LSRW(Context(data_root=tmp_path), camera="nikon").ids() == ["Nikon/3.jpg"]
    sample = LSRW(Context(data_root=tmp_path)).load("Huawei/10.jpg")
    assert sample.meta["reference"] == str(tmp_path / "LSRW/Eval/Huawei/high/10.jpg")
    assert LSRW(Context(data_root=tmp_path), split="train", camera="nikon").ids() == ["Nikon/7.jpg"]
    with pytest.raises(DatasetUnavailable, match="Training data/Huawei/low is missing"):
        LSRW(Context(data_root=tmp_path), split="train").ids()


def test_option_values_are_checked():
    with pytest.raises(RunConfigError, match="split='val'"):
        LOL(split="val")
    with pytest.raises(RunConfigError, match="camera='canon'"):
        LSRW(camera="canon")
    with pytest.raises(RunConfigError, match="resize='big'"):
        SICEPart2(resize="big")
    with pytest.raises(RunConfigError, match="exposures='over'"):
        SICEPart2(exposures="over")
    with pytest.raises(TypeError):
        LOL(splitt="train")  # a typo is not silently ignored


# -- SICE Part2 ------------------------------------------------------------------------------


def make_sice(root: Path, sequences: dict[str, int], labels: list[str], size: tuple[int, int] = (30, 20)) -> None:
    for scene, count in sequences.items():
        for k in range(1, count + 1):
            write_image(root / "SICE_part2" / scene / f"{k}.JPG", size, seed=k)
    for scene in labels:
        write_image(root / "SICE_part2" / "Label" / f"{scene}.JPG", size, seed=99)


def test_sice_part2_follows_the_zero_dce_protocol(tmp_path):
    make_sice(tmp_path, {"1": 7, "2": 9, "10": 7}, ["1", "2", "10"])
    dataset = SICEPart2(Context(data_root=tmp_path))
    # the first 3 of 7 and the first 4 of 9 exposures (darkest first), scenes in natural order
    assert dataset.ids() == ["1/1.JPG", "1/2.JPG", "1/3.JPG", "2/1.JPG", "2/2.JPG", "2/3.JPG", "2/4.JPG",
                             "10/1.JPG", "10/2.JPG", "10/3.JPG"]
    sample = dataset.load("2/4.JPG")
    assert sample.input.shape == sample.reference.shape == (1, 3, 900, 1200)
    assert sample.meta["reference"] == str(tmp_path / "SICE_part2/Label/2.JPG")
    settings = dataset.settings()
    assert settings["resize"] == "1200x900" and "Lanczos" in settings["resize_filter"]
    native = SICEPart2(Context(data_root=tmp_path), resize="none", exposures="all")
    assert len(native.ids()) == 7 + 9 + 7
    assert native.load("1/7.JPG").input.shape == (1, 3, 20, 30)
    assert SICEPart2(Context(data_root=tmp_path), resize="60x45").load("1/1.JPG").reference.shape == (1, 3, 45, 60)


def test_sice_part2_problems(tmp_path):
    make_sice(tmp_path, {"1": 7, "2": 7}, ["1", "3"])
    dataset = SICEPart2(Context(data_root=tmp_path), resize="none")
    assert dataset.load("2/1.JPG").reference is None
    assert "no image named 2.* in" in dataset.load("2/1.JPG").meta["missing_reference"]
    assert list(dataset.check()) == [f"{tmp_path}/SICE_part2/Label/3.JPG: reference without a scene folder 3/"]
    make_sice(tmp_path / "other", {"1": 7}, labels=[])
    with pytest.raises(DatasetUnavailable, match=r"SICE_part2/Label is missing \(expected layout: \$LLEBENCH_DATA/"):
        SICEPart2(Context(data_root=tmp_path / "other")).ids()


def test_lanczos_resize_keeps_a_flat_image_flat():
    flat = torch.full((1, 3, 20, 30), 100 / 255)
    resized = resize_lanczos(flat, (12, 9))
    assert resized.shape == (1, 3, 9, 12)
    assert torch.allclose(resized, flat[..., :9, :12], atol=1 / 255)
    assert resize_lanczos(flat, (30, 20)) is flat


# -- folder:PATH -----------------------------------------------------------------------------


def test_folder_without_reference(tmp_path):
    write_image(tmp_path / "mine/b.png")
    write_image(tmp_path / "mine/a.jpg")
    dataset = FolderDataset(arg=str(tmp_path / "mine"))
    assert dataset.kind == "no-reference" and not dataset.has_reference
    assert dataset.ids() == ["a.jpg", "b.png"] and dataset.load("a.jpg").reference is None
    assert dataset.label == f"folder:{tmp_path / 'mine'}"
    assert dataset.settings() == {"path": str(tmp_path / "mine"), "ref": None}
    with pytest.raises(DatasetUnavailable, match="needs a path: use folder:PATH"):
        FolderDataset().ids()
    with pytest.raises(DatasetUnavailable, match=f"{tmp_path}/nothere is not a directory"):
        FolderDataset(arg=str(tmp_path / "nothere")).ids()


def test_folder_with_reference_pairs_by_stem(tmp_path):
    write_image(tmp_path / "in/a.jpg", seed=1)
    write_image(tmp_path / "in/b.jpg", seed=2)
    write_image(tmp_path / "gt/a.png", seed=3)
    dataset = FolderDataset(arg=str(tmp_path / "in"), ref=str(tmp_path / "gt"))
    assert dataset.kind == "paired" and dataset.has_reference
    assert dataset.load("a.jpg").meta["reference"] == str(tmp_path / "gt/a.png")
    assert dataset.load("b.jpg").reference is None
    write_image(tmp_path / "gt/a.bmp")
    with pytest.raises(DatasetUnavailable, match="a.bmp and a.png in .* are both the reference of 'a'"):
        FolderDataset(arg=str(tmp_path / "in"), ref=str(tmp_path / "gt")).ids()
    with pytest.raises(DatasetUnavailable, match="reference folder .*nope is not a directory"):
        FolderDataset(arg=str(tmp_path / "in"), ref=str(tmp_path / "nope")).ids()


def test_unreadable_image_names_the_file(tmp_path):
    (tmp_path / "DICM").mkdir()
    (tmp_path / "DICM/1.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ImageError, match=f"{tmp_path}/DICM/1.jpg"):
        DICM(Context(data_root=tmp_path)).load("1.jpg")
