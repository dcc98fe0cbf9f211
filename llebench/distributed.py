"""The process group ``torchrun`` provides (RANK, WORLD_SIZE, LOCAL_RANK), for training (DDP)
and for sharded evaluation (``torchrun ... -m llebench run``).

Without those variables the run is a single process. The process group is gloo on CPU
and nccl on CUDA; ``--device cuda`` under torchrun uses ``cuda:LOCAL_RANK``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from llebench.errors import RunConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    #: processes of this job on this host (torchrun's LOCAL_WORLD_SIZE): they share its cores
    local_world_size: int = 1
    #: True when this module created the process group (and so destroys it)
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device: str, timeout: timedelta | None = None) -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by torchrun; return the info and the device to use.

    ``timeout`` bounds every collective (torch's default is 30 minutes when None); a sharded
    evaluation passes a long one, since a rank that finishes its shard early waits for the
    slowest at the end.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    try:
        torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise RunConfigError(f"device {device!r}: not a device torch knows (cpu, cuda, cuda:N)") from exc
    wants_cuda = device.startswith("cuda")
    if wants_cuda and not torch.cuda.is_available():
        raise RunConfigError(f"device {device}: CUDA is not available (torch {torch.__version__})")
    if wants_cuda and world_size > 1:
        target = torch.device("cuda", local_rank)
    else:
        target = torch.device(device)
    if target.type == "cuda":
        torch.cuda.set_device(target)
    owns = False
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if target.type == "cuda" else "gloo", timeout=timeout)
        owns = True
    return DistInfo(rank, world_size, local_rank, local_world_size, owns), target


def teardown(info: DistInfo) -> None:
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def broadcast(value: Any, info: DistInfo) -> Any:
    """Rank 0's ``value`` on every rank (a picklable object; every rank must call this)."""
    if not info.enabled:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def gather(value: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank (every rank must call this)."""
    if not info.enabled:
        return [value]
    found: list[Any] = [None] * info.world_size
    dist.all_gather_object(found, value)
    return found


def mean_over_ranks(values: dict[str, float], info: DistInfo, device: torch.device) -> dict[str, float]:
    """Average logged scalars over processes (every rank must call this at the same step)."""
    if not info.enabled or not values:
        return values
    keys = list(values)  # same order on every rank: the trainer builds it the same way
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    tensor /= info.world_size
    return dict(zip(keys, tensor.tolist()))


def average_gradients(parameters: list[torch.nn.Parameter]) -> None:
    """Average the gradients of parameters DDP does not wrap (a loss term's projection head)
    over the processes, as DDP does for the network (every rank must call this)."""
    world = dist.get_world_size()
    for parameter in parameters:
        if parameter.grad is None:  # unused on this rank this step: it still joins the reduction
            parameter.grad = torch.zeros_like(parameter)
        dist.all_reduce(parameter.grad)
        parameter.grad /= world
