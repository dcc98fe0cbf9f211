"""One way to write a file so that nobody ever sees half of it.

Every file llebench writes into a results directory, a training run or the weights cache
(CSVs, manifests, PNGs, arrays, checkpoints, downloads) goes through :func:`atomic_writer`:
the data goes to a temporary file in the same directory, is flushed and fsynced, and is
renamed over the final name (atomic on POSIX). A process killed at any moment leaves
the old file or the new one, never a torn one; what it leaves behind is a temporary
named ``.llebench-tmp-*``, which :func:`remove_stale_temporaries` deletes on the next
start.

Files get the mode any tool's files get (0644 under the usual umask 022), not the 0600 of
:func:`tempfile.mkstemp`: reports and results are meant to be shared. A full disk or a
read-only directory is :class:`~llebench.errors.OutputNotWritable`, with the earlier file
(if any) untouched.
"""

from __future__ import annotations

import errno
import functools
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from llebench.errors import OutputNotWritable

#: the prefix of every temporary file llebench creates beside its final file
TEMP_PREFIX = ".llebench-tmp-"
#: errors of writing to a file that mean the output location is unusable
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG})


@functools.cache
def _file_mode() -> int:
    """0666 minus the process umask: the mode ``open()`` would give a new file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_writer(path: str | os.PathLike[str], *, text: bool = False, fsync_dir: bool = False) -> Iterator[IO]:
    """Yield a file object; on a clean exit its content replaces ``path`` atomically.

    ``handle.name`` is the temporary file's path, to check the content before it is kept.
    ``text`` opens it as UTF-8 text with ``\\n`` newlines, else binary. ``fsync_dir`` also
    syncs the directory entry (checkpoints: the rename itself survives a power cut).
    On an exception nothing changes at ``path`` and the temporary is removed.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=target.suffix, dir=target.parent)
    except OSError as exc:
        raise OutputNotWritable.wrap(target, exc) from exc
    tmp = Path(tmp_name)
    in_body = False
    try:
        os.fchmod(fd, _file_mode())
        os.close(fd)
        # opened by path, so ``handle.name`` is the temporary's path (a download verifies it there)
        # surrogate escapes (undecodable bytes of a file name) are written back as those bytes
        with (open(tmp, "w", encoding="utf-8", errors="surrogateescape", newline="") if text
              else open(tmp, "wb")) as handle:
            in_body = True
            yield handle
            in_body = False
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        # the caller's own errors pass through (a failed download is not a full disk), except
        # the ones its writes into the handle raise when the disk is full or read-only
        if isinstance(exc, OSError) and (not in_body or exc.errno in WRITE_ERRNOS):
            raise OutputNotWritable.wrap(target, exc) from exc
        raise
    if fsync_dir:
        _fsync_directory(target.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` by ``text`` (UTF-8) atomically."""
    with atomic_writer(path, text=True) as handle:
        handle.write(text)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically."""
    with atomic_writer(path) as handle:
        handle.write(data)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not supported on this platform or filesystem
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(root: str | os.PathLike[str], older_than: float = 0.0) -> int:
    """Delete llebench's own temporaries under ``root`` (left by a killed process).

    Only files named ``.llebench-tmp-*`` are touched, and only those last modified more
    than ``older_than`` seconds ago. Call it only while holding the directory's writer
    lock, so no live writer's temporary is taken; for the same reason the walk does not
    enter a sub-directory holding a lock file of its own (another run or training
    directory nested inside, with its own writer) nor follow links. Returns how many were
    removed.
    """
    from llebench.lock import LOCK_NAME

    root = Path(root)
    if not root.is_dir():
        return 0
    cutoff = time.time() - older_than
    removed = 0
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [name for name in subdirs if not (Path(directory, name) / LOCK_NAME).exists()]
        for name in files:
            stale = Path(directory, name)
            try:
                if (name.startswith(TEMP_PREFIX) and not stale.is_symlink()
                        and stale.stat().st_mtime <= cutoff):
                    stale.unlink()
                    removed += 1
            except OSError:
                continue
    return removed
