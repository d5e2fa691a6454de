"""Torch helpers: the official poly optimizer, devices, and per-GPU inference workers."""
from __future__ import annotations

import ctypes
import signal
import sys
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from misc import distributed


class PolyOptimizer(torch.optim.SGD):
    """SGD whose learning rates decay as ``(1 - step / max_step) ** 0.9``.

    The official class calls ``SGD(params, lr, weight_decay)``, which hands
    ``weight_decay`` to SGD's third positional parameter, *momentum*; each
    param group then sets its own weight decay. We keep that effective
    optimizer (momentum = weight decay value) so results match the released
    checkpoints; see "Differences from the official code" in the README.
    """

    def __init__(self, params, lr: float, weight_decay: float, max_step: int, momentum: float = 0.9):
        super().__init__(params, lr, momentum=weight_decay)
        self.global_step = 0
        self.max_step = max_step
        self.poly_power = momentum
        self._initial_lr = [group["lr"] for group in self.param_groups]

    def step(self, closure=None):
        if self.global_step < self.max_step:
            lr_mult = (1 - self.global_step / self.max_step) ** self.poly_power
            for group, lr0 in zip(self.param_groups, self._initial_lr):
                group["lr"] = lr0 * lr_mult
        loss = super().step(closure)
        self.global_step += 1
        return loss

    def state_dict(self):
        sd = super().state_dict()
        sd["poly"] = {"global_step": self.global_step, "max_step": self.max_step, "initial_lr": self._initial_lr}
        return sd

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        poly = state_dict.pop("poly")
        super().load_state_dict(state_dict)
        self.global_step, self.max_step = poly["global_step"], poly["max_step"]
        self._initial_lr = list(poly["initial_lr"])


def split_dataset(dataset: Dataset, n_splits: int) -> list[Subset]:
    """Interleaved shards, one per worker, as in the official code."""
    return [Subset(dataset, np.arange(i, len(dataset), n_splits)) for i in range(n_splits)]


def gap2d(x: torch.Tensor, keepdims: bool = False) -> torch.Tensor:
    out = torch.mean(x.view(x.size(0), x.size(1), -1), -1)
    return out.view(out.size(0), out.size(1), 1, 1) if keepdims else out


def freeze_stem(trunk: torch.nn.Module) -> None:
    """Freeze conv1/bn1 as the official nets do, unless the trunk trains from scratch."""
    trainable = not trunk.bn1.frozen
    for p in list(trunk.conv1.parameters()) + list(trunk.bn1.parameters()):
        p.requires_grad = trainable


def resolve_device(name: str) -> torch.device:
    """``auto`` means CUDA when available, else CPU; asking for CUDA without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was given but PyTorch sees no CUDA device; use --device cpu")
    return torch.device(name)


def inference_devices(name: str) -> list[torch.device]:
    """One device per inference worker: every visible GPU for ``cuda``/``auto``, else the CPU."""
    device = resolve_device(name)
    if device.type == "cuda" and device.index is None:
        return [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    return [device]


def die_with_parent() -> None:
    """Have Linux kill this process when its parent dies, even by SIGKILL, so no worker outlives its step."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def init_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: die with the step's process."""
    die_with_parent()


def rank_share(indices: Sequence[int]) -> list[int]:
    """The indices (into the full image list) this rank processes: those equal to its rank modulo the world.

    Ranks decide by the image's place in the full list, not in the list of pending outputs, so they agree
    even when one has already written some outputs before another looks.
    """
    rank, world = distributed.rank(), distributed.world_size()
    return [i for i in indices if i % world == rank] if world > 1 else list(indices)


def run_on_devices(work: Callable, dataset: Dataset, devices: Sequence[torch.device], *args) -> None:
    """Call ``work(process_id, device, shard, *args)`` per device.

    Under torchrun ``dataset`` is this rank's share and runs on its local GPU (or the
    CPU). Otherwise several GPUs get one spawned process each, as the official
    make_cam does; a single device runs in this process, so CPU runs need no spawn.
    """
    if distributed.world_size() > 1:  # the caller has taken this rank's share already (rank_share)
        devices = [devices[distributed.local_rank() % len(devices)]]
    if len(dataset) == 0:
        return
    if len(devices) == 1:
        work(0, devices[0], dataset, *args)
        return
    shards = split_dataset(dataset, len(devices))
    torch.multiprocessing.spawn(_spawned, nprocs=len(devices), args=(work, shards, devices, args), join=True)


def _spawned(process_id: int, work: Callable, shards, devices, args) -> None:
    die_with_parent()
    torch.cuda.set_device(devices[process_id])
    work(process_id, devices[process_id], shards[process_id], *args)


def worker_count(requested: int, n_devices: int) -> int:
    """DataLoader workers per inference process."""
    return max(requested // max(n_devices, 1), 0)
