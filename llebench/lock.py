"""One writer per results directory at a time.

Two runs writing one ``--out`` at once would each rewrite ``scores.csv`` from their own
rows when they finish and erase the other's. :class:`RunLock` takes an exclusive
``flock`` on ``RUN/.llebench.lock`` and writes the holder (pid, host, start time,
command) into it; a second writer fails at once with a message naming the holder. The
kernel releases the lock when the holding process exits in any way (a crash, SIGKILL),
so a lock is never stale: the file's text may remain, but nobody holds it. Readers
(``llebench report``) take no lock and never write scores.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

from llebench.errors import OutputNotWritable, RunConfigError

LOCK_NAME = ".llebench.lock"


class RunLock:
    """``with RunLock(root): ...`` holds the writer lock of ``root`` (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        root = self.path.parent
        if root.exists() and not root.is_dir():
            raise RunConfigError(f"{root} is a file, not a results directory: choose another --out")
        try:
            root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise OutputNotWritable.wrap(self.path, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(os.read(fd, 4096))
            os.close(fd)
            raise RunConfigError(f"{self.path.parent} is being written by another llebench process ({holder}); "
                                 "wait for it to finish, or use another --out") from None
        except OSError as exc:
            os.close(fd)
            raise OutputNotWritable.wrap(self.path, exc) from exc
        holder = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": " ".join(sys.argv)[:500]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()


def _describe(raw: bytes) -> str:
    try:
        holder = json.loads(raw.decode())
        return f"pid {holder['pid']} on {holder['host']}, started {holder['started']}: {holder['command']}"
    except (ValueError, KeyError, TypeError):
        return "holder unknown"
