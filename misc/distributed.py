"""torch.distributed helpers: one process per rank under torchrun, a no-op world of one otherwise."""
from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist


def _initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """The number of ranks: the process group's, else torchrun's WORLD_SIZE (1 without torchrun)."""
    return dist.get_world_size() if _initialized() else int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's rank: the process group's, else torchrun's RANK (0 without torchrun)."""
    return dist.get_rank() if _initialized() else int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """Whether this process logs, validates and writes checkpoints (rank 0)."""
    return rank() == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def local_world_size() -> int:
    """The processes torchrun started on this machine (1 without torchrun)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))


# Rank 0 alone evaluates, validates and estimates IRN's mean shift while the other ranks wait in a
# collective; NCCL's default 10 minutes aborts that wait on COCO-sized lists.
DEFAULT_TIMEOUT_MIN = 120


def init_distributed(device: torch.device, timeout_min: float = DEFAULT_TIMEOUT_MIN) -> torch.device:
    """Join the torchrun group (nccl on CUDA, gloo on CPU) with a collective timeout of ``timeout_min``;
    ``device`` is this rank's device (devices.rank_device)."""
    if not launched_by_torchrun():
        return device
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                timeout=datetime.timedelta(minutes=timeout_min))
    return device


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def global_sum(x: torch.Tensor) -> torch.Tensor:
    """The sum of ``x`` over ranks, without gradient (for loss denominators)."""
    if world_size() == 1:
        return x.detach()
    y = x.detach().clone()
    dist.all_reduce(y)
    return y


def gradient_scale() -> int:
    """DDP averages gradients over ranks; a loss built from global sums is multiplied by this to undo it."""
    return world_size()


def save_on_master(fn, *args, **kwargs) -> None:
    """Run a writer on rank 0 only, then let every rank continue together."""
    if is_main():
        fn(*args, **kwargs)
    barrier()
