"""Keep freed memory in the process on CPU, so tensors stop paying for page faults.

Why: PyTorch's CPU tensors come from glibc's ``malloc``. Every activation of a forward
pass (and every gradient of a training step) is a fresh multi-megabyte block, and by
default glibc serves such blocks with ``mmap`` and returns them with ``munmap`` (or trims
the heap top), so each image or step maps, zero-fills and faults in the same hundreds of
megabytes again. Disabling ``mmap`` for ``malloc`` (``M_MMAP_MAX = 0``) and raising the
trim threshold keeps the freed blocks in the heap for the next use, like the caching
allocator PyTorch uses on CUDA. On the 2-core development machine this makes a DCE-Net
forward on a DICM image 40% faster and a Zero-DCE training step 25-45% faster
(``bench/throughput.py``, ``bench/train_step.py``); results do not change.

The setting is process-wide and lasts until the process exits: memory freed after the
peak stays with the process (as with any caching allocator). It applies to glibc only;
elsewhere (macOS, musl, Windows) it does nothing. ``llebench run`` and ``llebench train``
apply it on CPU; ``--no-memory-reuse`` (run) and ``train.reuse_cpu_memory = false`` turn
it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
#: freed memory at the top of the heap is returned to the system only beyond this
TRIM_THRESHOLD = 1 << 30


@functools.cache
def _glibc_mallopt():
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not hasattr(libc, "gnu_get_libc_version"):  # not glibc: its mallopt (if any) means something else
        return None
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed blocks for reuse; True if the setting took effect."""
    mallopt = _glibc_mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
