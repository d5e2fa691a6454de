"""Torch helpers: the official poly optimizer, devices and precision, and per-device inference workers."""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from dataclasses import dataclass
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


def parse_devices(name: str) -> list[torch.device]:
    """The devices ``--device`` names: ``auto`` (CUDA when available, else the CPU), ``cpu``, ``cuda``,
    ``cuda:N``, or a comma-separated list (``cuda:0,cuda:2``, ``cpu,cpu``). Asking for CUDA without one is an
    error; ``cuda`` and ``auto`` stand for every visible GPU."""
    devices = []
    for part in (p.strip() for p in name.split(",")):
        if part == "auto":
            part = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            device = torch.device(part)
        except RuntimeError as err:
            raise ValueError(f"--device {name}: {part!r} is not a device (auto, cpu, cuda, cuda:N or a "
                             "comma-separated list)") from err
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise RuntimeError(f"--device {name} asks for CUDA but PyTorch sees no CUDA device; use --device cpu")
            if device.index is not None and device.index >= torch.cuda.device_count():
                raise RuntimeError(f"--device {name}: {device} does not exist ({torch.cuda.device_count()} visible "
                                   "GPUs; CUDA_VISIBLE_DEVICES renumbers them from 0)")
            if device.index is None:
                devices += [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
                continue
        devices.append(device)
    return devices


def resolve_device(name: str) -> torch.device:
    """The one device of a process outside torchrun: the first that ``--device`` names."""
    return parse_devices(name)[0]


def rank_device(name: str, local_rank: int, local_world: int) -> torch.device:
    """The device of local rank ``local_rank`` under torchrun (or SLURM): its place in ``--device``'s list.

    ``cuda``/``auto`` list every visible GPU, so rank r takes GPU r modulo the visible count; that is GPU 0
    where the launcher shows each process one GPU (SLURM ``--gpus-per-task``). One explicit ``cuda:N`` for
    several local ranks on a machine with several visible GPUs is refused: every rank would share it.
    """
    devices = parse_devices(name)
    explicit_one = len(devices) == 1 and devices[0].type == "cuda" and "," not in name and ":" in name
    if explicit_one and local_world > 1 and torch.cuda.device_count() > 1:
        raise RuntimeError(f"--device {name} under torchrun would put all {local_world} local ranks on one GPU; "
                           "use --device cuda (rank r takes GPU r) or list one device per local rank")
    return devices[local_rank % len(devices)]


def process_device(name: str) -> torch.device:
    """This process's device: its rank's under torchrun (:func:`rank_device`), else the first listed."""
    if distributed.launched_by_torchrun():
        return rank_device(name, distributed.local_rank(), distributed.local_world_size())
    return resolve_device(name)


def inference_devices(name: str) -> list[torch.device]:
    """One device per inference worker: every GPU ``--device`` names (all visible ones for ``cuda``/``auto``),
    or the listed ones (``cpu,cpu`` runs two CPU workers)."""
    return parse_devices(name)


def autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast for ``--amp`` on any device (on the CPU too: slower, but the same code path)."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _autocast_enabled(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except (TypeError, RuntimeError):  # a device type autocast does not know
        return False


def full_precision(x: torch.Tensor):
    """Autocast switched off around a network head, so heads, losses and saved maps stay float32."""
    if not _autocast_enabled(x.device.type):
        return contextlib.nullcontext()
    return torch.autocast(device_type=x.device.type, enabled=False)


def seed_rngs(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (every CUDA device's too)."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def configure_kernels(deterministic: bool, tf32: bool | None) -> None:
    """Deterministic kernels, and TF32 on Ampere and later GPUs (None leaves PyTorch's defaults: TF32 for
    cuDNN convolutions, full fp32 for matrix products)."""
    if deterministic:
        # cuBLAS reads this when its first handle is made, so it must be set before any CUDA matrix product.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    if tf32 is not None:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = bool(tf32)


def default_workers(device: str, cores: int | None = None) -> int:
    """Data-loader workers (and CRF processes) when ``--num_workers`` is not given: on the CPU half the
    cores, at most 4, since the network computes there too; on GPUs the cores shared among the local
    processes and devices, at most 16 per process."""
    cores = cores or os.cpu_count() or 1
    if "cuda" not in device and not (device == "auto" and torch.cuda.is_available()):
        return max(min(cores, 8) // 2, 1)
    share = max(distributed.local_world_size(), 1)
    return max(min(cores // share, 16), 1)


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


@dataclass(frozen=True)
class WorkerSetup:
    """What a spawned inference worker sets up before its work, as the driver did for the main process:
    the kernels (--deterministic, --tf32), the CPU thread count and the generators (--seed)."""

    seed: int = 0
    deterministic: bool = False
    tf32: bool | None = None
    threads: int = 0

    @classmethod
    def from_args(cls, args) -> "WorkerSetup":
        return cls(getattr(args, "seed", 0), getattr(args, "deterministic", False), getattr(args, "tf32", None),
                   torch.get_num_threads())

    def apply(self, device: torch.device, n_workers: int = 1) -> None:
        """Set up one of ``n_workers`` processes on ``device``."""
        configure_kernels(self.deterministic, self.tf32)
        if self.threads:
            # A GPU worker needs few threads: the parent's are shared. A CPU worker (--device cpu,cpu, the
            # multi-GPU path for testing) keeps the parent's count, so its reductions run in the same order and
            # its outputs equal one process's bit for bit (thread counts move the last bit of convolutions).
            torch.set_num_threads(self.threads if device.type == "cpu" else max(self.threads // n_workers, 1))
        seed_rngs(self.seed)


def run_on_devices(work: Callable, dataset: Dataset, devices: Sequence[torch.device], setup: WorkerSetup,
                   *args) -> None:
    """Call ``work(process_id, device, shard, *args)`` per device.

    Under torchrun ``dataset`` is this rank's share and runs on this rank's device. Otherwise several
    devices (every GPU, or a ``--device`` list such as ``cpu,cpu``) get one spawned process each, as the
    official make_cam does; a single device runs in this process. ``args`` travel to spawned processes by
    pickling, so they hold settings and model factories, never a model.
    """
    if distributed.world_size() > 1:  # the caller has taken this rank's share already (rank_share)
        devices = [devices[distributed.local_rank() % len(devices)]]
    if len(dataset) == 0:
        return
    if len(devices) == 1:
        work(0, devices[0], dataset, *args)
        return
    shards = split_dataset(dataset, len(devices))
    torch.multiprocessing.spawn(_spawned, nprocs=len(devices), args=(work, shards, devices, setup, args), join=True)


def _spawned(process_id: int, work: Callable, shards, devices, setup: WorkerSetup, args) -> None:
    die_with_parent()
    setup.apply(devices[process_id], len(devices))
    if devices[process_id].type == "cuda":
        torch.cuda.set_device(devices[process_id])
    work(process_id, devices[process_id], shards[process_id], *args)


def image_seed(seed: int, name: str) -> int:
    """The generator seed of one image's inference, so random layers (AMN's dropout at inference) draw the
    same for an image whichever worker and device make it."""
    return int(np.random.SeedSequence([seed, *name.encode()]).generate_state(1)[0])


def worker_count(requested: int, n_devices: int) -> int:
    """DataLoader workers per inference process."""
    return max(requested // max(n_devices, 1), 0)
