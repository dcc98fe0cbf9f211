"""Opt-in reduced precision for inference (``-o METHOD.precision=bf16``), in one place.

Methods run in float32 by default: that is what their authors' test scripts do and what
parity is checked against. ``bf16``/``fp16`` run the network under ``torch.autocast`` as a
distinct variant (its scores are never mixed with fp32 ones). On a CPU, oneDNN computes
bf16/fp16 natively only with AVX512-BF16/AMX (or AVX512-FP16); elsewhere it emulates them,
slower than fp32, and :func:`check_precision` warns so.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

from llebench.errors import LLEBenchError

PRECISIONS = ("fp32", "bf16", "fp16")


def check_precision(method: str, precision: str, device: str) -> str:
    """``precision`` if known (else a clear error); warns when the CPU would only emulate it."""
    if precision not in PRECISIONS:
        raise LLEBenchError(f"{method}: precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if str(device).startswith("cpu") and precision != "fp32" and not native_cpu_support(precision):
        import torch

        warnings.warn(f"{method}: this CPU has no native {precision} (oneDNN: emulated; torch CPU capability "
                      f"{torch.backends.cpu.get_cpu_capability()}), so precision={precision} is slower than fp32 "
                      "here: it only shows the numerics. It is fast on CUDA and on CPUs with AVX512-BF16/AMX.",
                      stacklevel=3)
    return precision


def native_cpu_support(precision: str) -> bool:
    """Whether oneDNN computes ``precision`` natively on this CPU (else it emulates it, slower than fp32)."""
    import torch

    if precision == "bf16":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if precision == "fp16":
        return bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())
    return True


@contextlib.contextmanager
def precision_autocast(precision: str, device) -> Iterator[None]:
    """``torch.autocast`` to ``precision`` on ``device``'s type; nothing for ``fp32``."""
    if precision == "fp32":
        yield
        return
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    with torch.autocast(torch.device(device).type, dtype=dtype):
        yield
