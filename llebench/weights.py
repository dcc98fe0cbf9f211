"""Resolving pretrained files: explicit path, $LLEBENCH_WEIGHTS, the user cache, download.

Every pretrained file (network checkpoints, metric parameter files) goes through
:func:`resolve`, so a user can run fully offline by dropping the files in one directory,
and a file that is present but different from the published one is never used silently.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from llebench.atomic import atomic_writer
from llebench.errors import ChecksumMismatch, WeightsNotFound

ENV_WEIGHTS = "LLEBENCH_WEIGHTS"
ENV_CACHE = "LLEBENCH_CACHE"
ENV_OFFLINE = "LLEBENCH_OFFLINE"
#: torch hub's HASH_REGEX (``-([a-f0-9]*)\.``), restricted to 8 or more digits before the last suffix
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.[^.]+$")


@dataclass(frozen=True)
class WeightsFile:
    """A published pretrained file: where it comes from and what it must hash to."""

    filename: str
    url: str
    sha256: str | None
    description: str = ""
    #: the licence as its authors state it (shown by ``llebench weights list``)
    licence: str = ""


def cache_dir() -> Path:
    """``$LLEBENCH_CACHE/weights`` or ``~/.cache/llebench/weights``."""
    root = os.environ.get(ENV_CACHE)
    base = Path(root) if root else Path.home() / ".cache" / "llebench"
    return base / "weights"


def search_dirs() -> list[Path]:
    """Directories searched, in order, for a file that was not given explicitly."""
    dirs = []
    env = os.environ.get(ENV_WEIGHTS)
    if env:
        dirs.extend(Path(p) for p in env.split(os.pathsep) if p)
    dirs.append(cache_dir())
    return dirs


def sha256sum(path: Path) -> str:
    """Hex sha256 of a file (cached per path, size and mtime)."""
    stat = path.stat()
    return _sha256_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=256)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_prefix(filename: str) -> str | None:
    """The sha256 prefix a file name carries by torch hub's convention (``name-<hex>.ext``,
    e.g. ``resnet34-b627a593.pth``), or None. At least 8 hex digits, as torch hub and BasicSR
    (which pyiqa's files follow) name their files; fewer would match too much by chance."""
    match = _HASH_IN_NAME.search(filename)
    return match.group(1) if match else None


def verify(path: Path, spec: WeightsFile) -> str:
    """Return the file's sha256, raising :class:`ChecksumMismatch` if it is not the published one.

    Without a published sha256, a hash prefix in the file name is checked instead (what
    ``torch.hub.load_state_dict_from_url(check_hash=True)`` does): a real, if shorter, check.
    """
    actual = sha256sum(path)
    if spec.sha256 and actual != spec.sha256:
        raise ChecksumMismatch(
            f"{path} has sha256 {actual}, but the published {spec.filename} has {spec.sha256}. "
            f"It is a different or damaged file: replace it with the one from {spec.url}"
        )
    prefix = None if spec.sha256 else hash_prefix(spec.filename)
    if prefix is not None and not actual.startswith(prefix):
        raise ChecksumMismatch(
            f"{path} has sha256 {actual}, but {spec.filename} names the first digits of its sha256: {prefix}. "
            f"It is a different or damaged file: replace it with the one from {spec.url}"
        )
    return actual


def resolve(spec: WeightsFile, explicit: str | os.PathLike[str] | None = None) -> Path:
    """Find ``spec`` on disk (downloading it if allowed) and return its path.

    An explicit path is the user's own file (e.g. a checkpoint they trained): it must
    exist but is not compared with the published checksum. Files found in the search
    directories or downloaded must match the published sha256.
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeightsNotFound(f"weights file {path} does not exist")
        return path
    for directory in search_dirs():
        candidate = directory / spec.filename
        if candidate.is_file():
            verify(candidate, spec)
            return candidate
    return download(spec)


def describe_missing(spec: WeightsFile, reason: str) -> str:
    dirs = search_dirs()
    return (
        f"pretrained file {spec.filename} not found ({reason}). Download it from {spec.url} "
        f"and save it as {dirs[0] / spec.filename}"
        + (f" (searched: {', '.join(map(str, dirs))})" if len(dirs) > 1 else "")
        + f", or set ${ENV_WEIGHTS} to the directory that holds it."
    )


def download(spec: WeightsFile, timeout: float = 30.0) -> Path:
    """Download ``spec`` into the cache, verify its sha256, and only then keep it."""
    if os.environ.get(ENV_OFFLINE, "").lower() in {"1", "true", "yes"}:
        raise WeightsNotFound(describe_missing(spec, f"${ENV_OFFLINE} is set, no download tried"))
    target = cache_dir() / spec.filename
    try:
        with atomic_writer(target) as out, urllib.request.urlopen(spec.url, timeout=timeout) as response:
            shutil.copyfileobj(response, out, 1 << 20)
            out.flush()
            verify(Path(out.name), spec)  # a mismatch raises: the download is never kept
        return target
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise WeightsNotFound(describe_missing(spec, f"download failed: {exc}")) from exc
