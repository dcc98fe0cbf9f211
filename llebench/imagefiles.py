"""Finding image files on disk: listing a folder, natural order, pairing inputs with references.

Shared by datasets (what is benchmarked) and trainers (what is trained on), so that a
training folder and the benchmark dataset of the same data agree on which files exist
and which form a pair.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from llebench.errors import DatasetUnavailable
from llebench.images import is_image_file

#: leading words that name the side of a pair in published file names (LOL-v2 Real:
#: ``Low/low00690.png`` beside ``Normal/normal00690.png``)
PAIR_PREFIXES = ("normal", "high", "low")


def natural_key(name: str) -> list[Any]:
    """Sort '2.jpg' before '10.jpg' (case-insensitively)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_images(directory: Path) -> list[str]:
    """Image file names directly in ``directory``, naturally sorted.

    Symbolic links count as what they point to, and a link that points nowhere (dangling,
    or a loop) is listed too: loading it fails for that image with an error naming the
    link, so a broken copy shows up as failed rows instead of silently fewer images. A
    link to a directory is never followed (listings are flat), so a directory loop
    cannot make a listing recurse or hang.
    """
    return sorted((p.name for p in directory.iterdir() if is_image_file(p) and (p.is_file() or _broken_link(p))),
                  key=natural_key)


def _broken_link(path: Path) -> bool:
    """A symbolic link whose target cannot be reached (missing, or a loop of links)."""
    return path.is_symlink() and not path.exists()


def pair_key(file_name: str) -> str:
    """What an input file and its reference have in common: the stem, without a leading
    ``low``/``normal``/``high`` (so ``low00690.png`` pairs with ``normal00690.png``, and
    ``1.png`` with ``1.jpg``)."""
    stem = Path(file_name).stem
    for prefix in PAIR_PREFIXES:
        if stem.lower().startswith(prefix) and len(stem) > len(prefix):
            return stem[len(prefix):]
    return stem


def match_pairs(low_dir: Path, high_dir: Path) -> list[tuple[Path, Path]]:
    """``(input, reference)`` files of two folders, paired by :func:`pair_key`.

    Every input needs its reference, and no two references may share a key: either is a
    :class:`~llebench.errors.DatasetUnavailable` naming the files.
    """
    for directory in (low_dir, high_dir):
        if not directory.is_dir():
            raise DatasetUnavailable(f"{directory} is not a directory")
    lows = [low_dir / name for name in list_images(low_dir)]
    if not lows:
        raise DatasetUnavailable(f"{low_dir}: no image files")
    by_key: dict[str, Path] = {}
    for name in list_images(high_dir):
        key = pair_key(name)
        if key in by_key:
            raise DatasetUnavailable(f"{high_dir}: {by_key[key].name} and {name} are both the reference of {key!r}")
        by_key[key] = high_dir / name
    missing = [p.name for p in lows if pair_key(p.name) not in by_key]
    if missing:
        raise DatasetUnavailable(f"{high_dir}: no reference for {', '.join(missing[:5])}"
                                 + (" ..." if len(missing) > 5 else "")
                                 + f" of {low_dir} (files pair by stem, a leading 'low'/'normal'/'high' ignored)")
    return [(low, by_key[pair_key(low.name)]) for low in lows]
