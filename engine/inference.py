"""The inference runner: one worker process per device (every GPU, or a ``--device`` list), each with its
own model built from a picklable factory, plus a process pool for CPU work (CRF) that dies with the step."""
from __future__ import annotations

import ctypes
import multiprocessing as mp
import signal
import sys
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from engine.precision import configure_kernels
from engine.seeding import seed_rngs
from misc import distributed
from misc.torchutils import split_dataset

# The flags this module reads: the worker set-up (--seed, kernels) and the loader workers per device.
SETTINGS = ("device", "num_workers", "seed", "deterministic", "tf32")


def first_item(batch):
    """collate_fn for batch size 1 that keeps numpy arrays and tuples as they are."""
    return batch[0]


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
        return cls(args.seed, args.deterministic, args.tf32,
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


def worker_count(requested: int, n_devices: int) -> int:
    """DataLoader workers per inference process."""
    return max(requested // max(n_devices, 1), 0)


def run_jobs(fn, jobs: list, desc: str, workers: int, chunksize: int = 2) -> None:
    """``fn`` over ``jobs`` in a spawned pool whose workers die with this process (inline for one worker)."""
    n_proc = max(1, min(workers, len(jobs)))
    if n_proc == 1:
        for job in tqdm(jobs, desc=desc, dynamic_ncols=True):
            fn(job)
        return
    with mp.get_context("spawn").Pool(n_proc, initializer=die_with_parent) as pool:
        for _ in tqdm(pool.imap_unordered(fn, jobs, chunksize=chunksize), total=len(jobs), desc=desc,
                      dynamic_ncols=True):
            pass
