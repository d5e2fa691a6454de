"""Devices: what ``--device`` names, each process's device under torchrun (joining its group), the data-loader
worker count, and each rank's share of an image list."""
from __future__ import annotations

import os
from typing import Sequence

import torch

from misc import distributed

# The flags this module reads (see misc/settings.py).
SETTINGS = ("device", "dist_timeout_min")


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


def training_device(device: str, dist_timeout_min: float) -> torch.device:
    """This process's device: ``device`` (--device), or this rank's GPU under torchrun (joining its group)."""
    return distributed.init_distributed(process_device(device), dist_timeout_min)


def default_workers(device: str, cores: int | None = None) -> int:
    """Data-loader workers (and CRF processes) when ``--num_workers`` is not given: on the CPU half the
    cores, at most 4, since the network computes there too; on GPUs the cores shared among the local
    processes and devices, at most 16 per process."""
    cores = cores or os.cpu_count() or 1
    if "cuda" not in device and not (device == "auto" and torch.cuda.is_available()):
        return max(min(cores, 8) // 2, 1)
    share = max(distributed.local_world_size(), 1)
    return max(min(cores // share, 16), 1)


def rank_share(indices: Sequence[int]) -> list[int]:
    """The indices (into the full image list) this rank processes: those equal to its rank modulo the world.

    Ranks decide by the image's place in the full list, not in the list of pending outputs, so they agree
    even when one has already written some outputs before another looks.
    """
    rank, world = distributed.rank(), distributed.world_size()
    return [i for i in indices if i % world == rank] if world > 1 else list(indices)
