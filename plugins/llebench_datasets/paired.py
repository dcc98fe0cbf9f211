"""Paired datasets: a folder of low-light inputs beside a folder of references.

Inputs and references are matched by :meth:`PairedDataset.pair_key` (the file stem, so
``1.png`` pairs with ``1.jpg``). An input whose reference is absent still loads, with
``reference=None`` and ``meta["missing_reference"]`` saying what was looked for: its
no-reference scores are computed and its full-reference ones fail, naming the problem.
A reference whose size differs from its input also loads as it is (full-reference
metrics fail on it); ``llebench data check`` reports both, and references with no input.
"""

from __future__ import annotations

import abc
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Iterator, NamedTuple

from llebench.sdk import Context, Sample, pair_key, read_image

from llebench_datasets.folders import DiskDataset, choose
from llebench.sdk import list_images

SPLITS = ("test", "train")


class Group(NamedTuple):
    """One input folder and its reference folder (None: no references); ids start with ``prefix``."""

    prefix: str
    inputs: Path
    references: Path | None


class Pair(NamedTuple):
    input: Path
    reference: Path | None
    missing: str  # why ``reference`` is None ("" when there is one, or none is expected)


class PairedDataset(DiskDataset):
    """Inputs paired with references; subclasses say how the files are found."""

    kind = "paired"

    @abc.abstractmethod
    def find_pairs(self) -> dict[str, Pair]:
        """Every sample id with its files, in id order; raise :meth:`unavailable` on a wrong layout."""

    @cached_property
    def pairs(self) -> dict[str, Pair]:
        """:meth:`find_pairs`, computed once: ids() and load() share it."""
        return self.find_pairs()

    @staticmethod
    def pair_key(file_name: str) -> str:
        """What an input and its reference have in common: the file stem, without a leading
        ``low``/``normal``/``high`` (:func:`llebench.sdk.pair_key`)."""
        return pair_key(file_name)

    def references(self, directory: Path) -> dict[str, Path]:
        """Reference files by pair key; two files with one key is a wrong layout."""
        found: dict[str, Path] = {}
        for name in list_images(directory):
            key = self.pair_key(name)
            if key in found:
                raise self.unavailable(f"{found[key].name} and {name} in {directory} are both the reference of {key!r}")
            found[key] = directory / name
        return found

    def ids(self) -> list[str]:
        return list(self.pairs)

    def files(self, sample_id: str) -> list[Path]:
        pair = self.pairs[sample_id]
        return [pair.input] + ([pair.reference] if pair.reference is not None else [])

    def load(self, sample_id: str) -> Sample:
        pair = self.pairs.get(sample_id)
        if pair is None:
            raise self.unavailable(f"no sample {sample_id!r}")
        meta: dict[str, Any] = {"path": str(pair.input)}
        reference = None
        if pair.reference is not None:
            reference = read_image(pair.reference)
            meta["reference"] = str(pair.reference)
        elif pair.missing:
            meta["missing_reference"] = pair.missing
        return Sample(id=sample_id, input=read_image(pair.input), reference=reference, meta=meta)


class FolderPairsDataset(PairedDataset):
    """Inputs and references in parallel folders (one :class:`Group` per input folder)."""

    @abc.abstractmethod
    def groups(self) -> list[Group]:
        """The folders to read; raise :meth:`unavailable` when one is missing."""

    def find_pairs(self) -> dict[str, Pair]:
        pairs: dict[str, Pair] = {}
        for group in self.groups():
            names = self.images_in(group.inputs)
            refs = self.references(group.references) if group.references is not None else {}
            for name in names:
                key = self.pair_key(name)
                reference = refs.get(key)
                missing = ""
                if reference is None and group.references is not None:
                    missing = f"no image named {key}.* in {group.references}"
                pairs[group.prefix + name] = Pair(group.inputs / name, reference, missing)
        return pairs

    def check(self) -> Iterator[str]:
        """References that no input uses (a sign of a mixed-up or incomplete copy)."""
        used = {pair.reference for pair in self.pairs.values()}
        for group in self.groups():
            if group.references is None:
                continue
            for path in self.references(group.references).values():
                if path not in used:
                    yield f"{path}: reference without an input in {group.inputs}"


class SplitDataset(FolderPairsDataset):
    """A paired dataset with a ``split`` option: ``test`` (default) or ``train``."""

    #: the folder of each split under the dataset root
    split_dirs: ClassVar[dict[str, str]]
    #: input and reference folder names inside a split folder
    input_dir: ClassVar[str]
    reference_dir: ClassVar[str]
    #: the published number of pairs of each split
    split_sizes: ClassVar[dict[str, int]]

    def __init__(self, context: Context | None = None, split: str = "test") -> None:
        super().__init__(context)
        self.split = choose("split", split, SPLITS)

    def published_size(self) -> int | None:
        return self.split_sizes.get(self.split)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "split": self.split, "split_dir": self.split_dirs[self.split]}

    def groups(self) -> list[Group]:
        split_dir = self.split_dirs[self.split]
        return [Group("", self.directory(split_dir, self.input_dir), self.directory(split_dir, self.reference_dir))]


class LOL(SplitDataset):
    name = "lol"
    description = "LOL (Wei et al. 2018, RetinexNet): real low/normal-light pairs, 600x400"
    subdir = "LOL"
    split_dirs = {"test": "eval15", "train": "our485"}
    split_sizes = {"test": 15, "train": 485}
    input_dir, reference_dir = "low", "high"
    layout = ("$LLEBENCH_DATA/LOL/{eval15,our485}/{low,high}/*.png (eval15: 15 pairs, the test split; "
              "our485: 485 pairs, the train split; same file name in low/ and high/)")
    source = ("https://daooshee.github.io/BMVC2018website/ (LOLdataset.zip; "
              "mirror: https://drive.google.com/file/d/157bjO1_cFuSd0HWDUuAmcHRJDVyWpOxB)")


class LOLv2Real(SplitDataset):
    name = "lolv2_real"
    description = "LOL-v2 real captured (Yang et al. 2021): low/normal-light pairs, 600x400"
    subdir = "LOL-v2/Real_captured"
    split_dirs = {"test": "Test", "train": "Train"}
    split_sizes = {"test": 100, "train": 689}
    input_dir, reference_dir = "Low", "Normal"
    layout = ("$LLEBENCH_DATA/LOL-v2/Real_captured/{Test,Train}/{Low,Normal}/*.png (Test: 100 pairs, "
              "Train: 689; low00690.png pairs with normal00690.png, or with the same name)")
    source = ("Yang et al., TIP 2021 (https://github.com/flyywh/SGM-Low-Light); mirror in "
              "https://github.com/caiyuanhao1998/Retinexformer#2-prepare-dataset")


class LOLv2Synthetic(SplitDataset):
    name = "lolv2_synthetic"
    description = "LOL-v2 synthetic (Yang et al. 2021): RAISE photos darkened synthetically, 384x384"
    subdir = "LOL-v2/Synthetic"
    split_dirs = {"test": "Test", "train": "Train"}
    split_sizes = {"test": 100, "train": 900}
    input_dir, reference_dir = "Low", "Normal"
    layout = ("$LLEBENCH_DATA/LOL-v2/Synthetic/{Test,Train}/{Low,Normal}/*.png (Test: 100 pairs, "
              "Train: 900; same file name in Low/ and Normal/)")
    source = LOLv2Real.source


class LSRW(FolderPairsDataset):
    name = "lsrw"
    description = "LSRW (Hai et al. 2023, R2RNet): real low/normal-light pairs from a Huawei phone and a Nikon camera"
    subdir = "LSRW"
    split_dirs: ClassVar[dict[str, str]] = {"test": "Eval", "train": "Training data"}
    cameras: ClassVar[tuple[str, ...]] = ("Huawei", "Nikon")
    layout = ("$LLEBENCH_DATA/LSRW/{Eval,Training data}/{Huawei,Nikon}/{low,high}/*.jpg (Eval: 50 pairs, "
              "the test split; Training data: about 5,600 pairs; same file name in low/ and high/); "
              "ids are CAMERA/FILE")
    source = "https://github.com/JianghaiSCU/R2RNet#dataset (Baidu disk, code scua)"

    def __init__(self, context: Context | None = None, split: str = "test", camera: str = "all") -> None:
        super().__init__(context)
        self.split = choose("split", split, SPLITS)
        self.camera = choose("camera", camera, ("all", "huawei", "nikon"))

    def published_size(self) -> int | None:
        return 50 if (self.split, self.camera) == ("test", "all") else None

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "split": self.split, "camera": self.camera}

    def groups(self) -> list[Group]:
        split_dir = self.split_dirs[self.split]
        chosen = [c for c in self.cameras if self.camera in ("all", c.lower())]
        return [Group(f"{camera}/", self.directory(split_dir, camera, "low"), self.directory(split_dir, camera, "high"))
                for camera in chosen]
