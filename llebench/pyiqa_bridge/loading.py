"""Build pyiqa metrics with every file they need coming from llebench's weights resolution.

pyiqa downloads files in two ways while it builds a metric: its own parameter files
through ``pyiqa.utils.download_util.load_file_from_url`` (cached in
``<torch hub>/pyiqa``), and torchvision backbones through
``torch.hub.load_state_dict_from_url`` (cached in ``<torch hub>/checkpoints``). Both
end in a ``download_url_to_file(url, dst, hash_prefix, ...)`` call when the file is not
in their cache. :func:`routed_downloads` points both caches at an empty temporary
directory and replaces those two download functions, so *every* file pyiqa asks for is
obtained by :func:`llebench.weights.resolve` (``$LLEBENCH_WEIGHTS``, the llebench cache,
or a verified download) and linked where pyiqa expects it. A file already sitting in
the user's own torch hub cache is therefore never used unverified, and offline a missing
file is llebench's one clear error naming the file, its URL and the directory to use.

It also makes every ``torch.load`` during construction ``weights_only=True`` (pyiqa and
torch hub pass ``weights_only=False``), so a checkpoint cannot run code when loaded.

The patches are process-global for the duration of the ``with`` block: build metrics
from one thread at a time (the runner does).
"""

from __future__ import annotations

import functools
import os
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlparse

import torch
from torch import hub as torch_hub

from llebench.errors import WeightsNotFound
from llebench.weights import WeightsFile, resolve

from llebench.pyiqa_bridge.files import KNOWN_BY_URL


def spec_for_url(url: str) -> WeightsFile:
    """The declared file for ``url``, or an undeclared one named like the URL (no checksum)."""
    known = KNOWN_BY_URL.get(url)
    if known is not None:
        return known
    return WeightsFile(filename=os.path.basename(urlparse(url).path), url=url, sha256=None,
                       description="requested by pyiqa; not in llebench's list, so not checksum-verified")


def resolve_all(files: tuple[WeightsFile, ...]) -> dict[str, Path]:
    """Resolve every file up front, so a metric missing several names them all in one error."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for spec in files:
        try:
            found[spec.filename] = resolve(spec)
        except WeightsNotFound as exc:
            missing.append(str(exc))
    if missing:
        raise WeightsNotFound(" | ".join(missing))
    return found


def _provide(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True,
             *, used: dict[str, Path]) -> None:
    """Stands in for ``download_url_to_file``: resolve through llebench, link to ``dst``.

    ``hash_prefix`` (torch hub's, from the file name) needs no check of its own: resolving
    verifies a file name's hash prefix when no full sha256 is published.
    """
    spec = spec_for_url(url)
    path = resolve(spec)
    os.symlink(path.resolve(), dst)
    used[spec.filename] = path


def _weights_only(load: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(load)
    def safe_load(*args: Any, **kwargs: Any) -> Any:
        kwargs["weights_only"] = True
        return load(*args, **kwargs)

    return safe_load


@contextmanager
def _patched(owner: object, attribute: str, value: object) -> Iterator[None]:
    previous = getattr(owner, attribute)
    setattr(owner, attribute, value)
    try:
        yield
    finally:
        setattr(owner, attribute, previous)


@contextmanager
def routed_downloads() -> Iterator[dict[str, Path]]:
    """While active, pyiqa's and torch hub's downloads resolve through llebench.

    Yields a dict that fills with ``{file name: path}`` of every file provided.
    """
    import pyiqa.utils.download_util as pyiqa_download  # heavy import, only when a metric is built

    used: dict[str, Path] = {}
    provide = functools.partial(_provide, used=used)
    with tempfile.TemporaryDirectory(prefix="llebench-pyiqa-") as private, ExitStack() as stack:
        stack.enter_context(_patched(torch_hub, "get_dir", lambda: private))
        stack.enter_context(_patched(pyiqa_download, "DEFAULT_CACHE_DIR", os.path.join(private, "pyiqa")))
        stack.enter_context(_patched(torch_hub, "download_url_to_file", provide))
        stack.enter_context(_patched(pyiqa_download, "download_url_to_file", provide))
        stack.enter_context(_patched(torch, "load", _weights_only(torch.load)))
        yield used
