"""The one inference loop (:func:`inference_on_dataset`, after detectron2's): a model, a loader and a
:class:`Processor` that turns each batch into outputs and files; the make steps run it on every device
(:func:`run_inference`: one worker process per device, each with its own model built from a picklable factory),
the per-epoch evaluations in the training process. Plus a process pool for CPU work (CRF) that dies with the
step."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from engine.devices import parse_devices
from engine.precision import configure_kernels, use_channels_last
from engine.seeding import seed_rngs
from misc import distributed
from misc.parallel import die_with_parent, spawn_pool
from misc.torchutils import split_dataset


@dataclass(frozen=True)
class InferenceConfig:
    """The run settings every inference step shares, read once from the flags of the same names by the step
    (``step/_config.py``): devices (``cuda``, ``cpu``, ``cuda:0,cuda:1``, ``cpu,cpu``), loader or pool workers,
    the seed and kernels, bfloat16 autocast, channels-last memory, and whether to redo finished outputs."""

    device: str
    num_workers: int
    seed: int
    deterministic: bool
    tf32: bool | None
    amp: bool
    channels_last: bool
    overwrite: bool


def first_item(batch):
    """collate_fn for batch size 1 that keeps numpy arrays and tuples as they are."""
    return batch[0]


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
    def of(cls, config: InferenceConfig) -> "WorkerSetup":
        """The set-up of ``config``'s workers, with this process's CPU thread count."""
        return cls(config.seed, config.deterministic, config.tf32, torch.get_num_threads())

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
                   *work_args) -> None:
    """Call ``work(process_id, device, shard, *work_args)`` per device.

    Under torchrun ``dataset`` is this rank's share and runs on this rank's device. Otherwise several
    devices (every GPU, or a ``--device`` list such as ``cpu,cpu``) get one spawned process each, as the
    official make_cam does; a single device runs in this process. ``work_args`` travel to spawned processes by
    pickling, so they hold settings and model factories, never a model.
    """
    if distributed.world_size() > 1:  # the caller has taken this rank's share already (rank_share)
        devices = [devices[distributed.local_rank() % len(devices)]]
    if len(dataset) == 0:
        return
    if len(devices) == 1:
        work(0, devices[0], dataset, *work_args)
        return
    shards = split_dataset(dataset, len(devices))
    torch.multiprocessing.spawn(_spawned, nprocs=len(devices), args=(work, shards, devices, setup, work_args),
                                join=True)


def _spawned(process_id: int, work: Callable, shards, devices, setup: WorkerSetup, work_args) -> None:
    die_with_parent()
    setup.apply(devices[process_id], len(devices))
    if devices[process_id].type == "cuda":
        torch.cuda.set_device(devices[process_id])
    work(process_id, devices[process_id], shards[process_id], *work_args)


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
    with spawn_pool(n_proc) as pool:
        for _ in tqdm(pool.imap_unordered(fn, jobs, chunksize=chunksize), total=len(jobs), desc=desc,
                      dynamic_ncols=True):
            pass


# The one inference loop -------------------------------------------------------------------------------------

class Processor:
    """Turns one batch of a loader into outputs and files (detectron2's evaluator protocol, for inference that
    writes): ``process`` per batch, ``result`` once at the end (a score, or None when it only writes)."""

    def process(self, model: torch.nn.Module, pack, device: torch.device) -> None:
        raise NotImplementedError

    def result(self):
        return None


@contextlib.contextmanager
def inference_context(model: torch.nn.Module):
    """``model`` in eval mode for the block and back in its former mode after (detectron2's
    ``inference_context``), so an evaluation between training epochs leaves training as it was."""
    training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(training)


def image_loader(dataset: Dataset, workers: int, collate_fn: Callable | None = first_item, batch_size: int = 1,
                 drop_last: bool = False) -> DataLoader:
    """The loader of every inference and evaluation loop: batches in list order (``first_item`` keeps a single
    pack's numpy arrays; None: torch's collate), loader workers that die with the step."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_fn, drop_last=drop_last,
                      worker_init_fn=init_worker, num_workers=workers)


def inference_on_dataset(model: torch.nn.Module, loader, processor: Processor, device: torch.device,
                         desc: str, position: int = 0):
    """``processor.process(model, pack, device)`` for every pack of ``loader``, in eval mode without autograd,
    under a progress bar; returns ``processor.result()``."""
    with inference_context(model), torch.inference_mode():
        for pack in tqdm(loader, desc=desc, position=position, dynamic_ncols=True):
            processor.process(model, pack, device)
    return processor.result()


@dataclass(frozen=True)
class InferenceJob:
    """What the worker of each device receives: the model factory (picklable: a module-level function or a
    partial of one; each worker builds and loads its own copy, so no model travels between processes), the
    processor, the progress name and whether the model runs channels-last."""

    build_model: Callable[[], torch.nn.Module]
    processor: Processor
    desc: str
    channels_last: bool = False


def run_inference(dataset: Dataset, job: InferenceJob, config: InferenceConfig) -> None:
    """``job`` over ``dataset`` on every device of ``config`` (one spawned process per device; this process
    alone for one device or under torchrun), with the loader workers shared out between the devices."""
    devices = parse_devices(config.device)
    run_on_devices(_inference_work, dataset, devices, WorkerSetup.of(config), job,
                   worker_count(config.num_workers, len(devices)))


def _inference_work(process_id: int, device: torch.device, shard, job: InferenceJob, loader_workers: int) -> None:
    model = job.build_model().eval().to(device)
    use_channels_last(model, job.channels_last)
    inference_on_dataset(model, image_loader(shard, loader_workers), job.processor, device,
                         f"{job.desc}[{process_id}]", process_id)
