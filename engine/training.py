"""The training loop every training step shares: seeded global batches, DDP under torchrun, resumable
checkpoints, metrics, and the final plain state dict.

The same seed gives the same global batches and the same augmentation of every sample whatever the worker
count or world size: each epoch's order comes from (seed, epoch), each sample's randomness from
(seed, epoch, index), and each rank takes its share of every global batch.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from engine import checkpoints
from engine.inference import init_worker
from engine.seeding import sample_seed
from misc import distributed
from misc.errors import PipelineError
from misc.torchutils import PolyOptimizer


class GlobalBatchSampler(Sampler):
    """Per epoch, a permutation from (seed, epoch) cut into global batches of ``batch_size`` (the last partial
    one dropped, as the official loaders do); this rank yields its contiguous share of each, as
    ``(index, epoch)`` pairs for :class:`SeededSamples`."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        if batch_size % world:
            raise PipelineError(f"the global batch size {batch_size} does not divide over {world} processes; pick a "
                                "batch size that is a multiple of the world size")
        self.n, self.batch_size, self.seed, self.rank, self.world = n, batch_size, seed, rank, world
        self.local = batch_size // world
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """The epoch to draw, and how many of its batches to skip (an iteration-based run resumed mid-epoch)."""
        self.epoch, self.start_batch = epoch, start_batch

    def __len__(self) -> int:
        return self.n // self.batch_size

    def __iter__(self):
        g = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0]))
        order = torch.randperm(self.n, generator=g).tolist()
        for b in range(self.start_batch, len(self)):
            batch = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield [(i, self.epoch) for i in batch[self.rank * self.local:(self.rank + 1) * self.local]]


class SeededSamples(Dataset):
    """A dataset whose item ``(index, epoch)`` draws its random augmentations from ``sample_seed``.

    Python's and NumPy's global generators are seeded for the item and restored after it, so the
    training loop's own randomness (dropout) is untouched and workers do not matter.
    """

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        index, epoch = key
        py_state, np_state = random.getstate(), np.random.get_state()
        s = sample_seed(self.seed, epoch, index)
        random.seed(s)
        np.random.seed(s % 2 ** 32)
        try:
            return self.dataset[index]
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def train_loader(dataset: Dataset, batch_size: int, num_workers: int, device: torch.device,
                 seed: int = 0) -> DataLoader:
    """Seeded global batches of ``batch_size`` (this rank's share under torchrun)."""
    if len(dataset) < batch_size:
        raise PipelineError(f"the training list has {len(dataset)} images, fewer than one batch of {batch_size}; "
                            "lower the batch size or use a longer list")
    sampler = GlobalBatchSampler(len(dataset), batch_size, seed, distributed.rank(), distributed.world_size())
    return DataLoader(SeededSamples(dataset, seed), batch_sampler=sampler, num_workers=num_workers,
                      pin_memory=device.type == "cuda", persistent_workers=num_workers > 0,
                      worker_init_fn=init_worker, generator=torch.Generator().manual_seed(seed))


def poly_optimizer(param_groups: tuple, lr: float, weight_decay: float, max_step: int, new_lr_mult: float = 10):
    """The official PolyOptimizer: ``lr`` on the first group, ``new_lr_mult * lr`` on the second."""
    return PolyOptimizer([
        {"params": param_groups[0], "lr": lr, "weight_decay": weight_decay},
        {"params": param_groups[1], "lr": new_lr_mult * lr, "weight_decay": weight_decay},
    ], lr=lr, weight_decay=weight_decay, max_step=max_step)


def wrap_ddp(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """DDP around ``model`` under torchrun (the caller keeps ``model`` itself: model_without_ddp)."""
    if distributed.world_size() == 1:
        return model
    if any(getattr(m, "frozen", True) is False for m in model.modules()):
        print("warning: BatchNorm trains (--backbone_weights none); under DDP its statistics are per rank, so the "
              "result differs from one process")
    from torch.nn.parallel import DistributedDataParallel

    # Frozen BatchNorm statistics and IRN's path-index buffers never change, so only trained BatchNorm
    # statistics need rank 0's copy broadcast before each forward (IRN's buffers alone are about 223 MB).
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                   find_unused_parameters=True, broadcast_buffers=has_trained_batchnorm(model))


def has_trained_batchnorm(model: torch.nn.Module) -> bool:
    """Whether a BatchNorm of ``model`` updates its statistics in training mode."""
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.training
               and getattr(m, "frozen", False) is False and m.track_running_stats for m in model.modules())


def _begin_training(model, optimizer, weights_name: str, args, device: torch.device, record: dict):
    """Clear a killed run's temporaries, resume if possible, wrap in DDP; returns (finished units, net)."""
    from misc.fileio import remove_stale_temporaries

    if distributed.is_main():
        remove_stale_temporaries(Path(weights_name).parent)
    distributed.barrier()
    start = checkpoints.try_resume(weights_name, model, optimizer, device, record, args.overwrite)
    # train() freezes the stem (requires_grad); DDP must see the final flags when it is built.
    model.train()
    net = wrap_ddp(model, device)
    return start, net


def run_metrics(args, desc: str):
    """The training step's metrics writer: metrics.jsonl (and TensorBoard) in the run folder, rank 0 only."""
    from misc.experiment import Metrics

    folder = getattr(args, "work_dir", None) or getattr(args, "result_dir", None)
    return Metrics(folder, desc, getattr(args, "log_every", 50), getattr(args, "tensorboard", False),
                   enabled=distributed.is_main())


def peak_memory_mb(device: torch.device) -> float:
    """torch's peak allocation on CUDA, the process's peak resident size elsewhere."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _report(metrics, pbar, iteration: int, total: int, shown: dict, images: int, epoch: int | None,
            device: torch.device) -> None:
    line = metrics.iteration(iteration, total, shown, images * distributed.world_size(), epoch,
                             peak_memory_mb(device))
    if line:
        pbar.write(line)


def fit(model, optimizer, loader, epochs: int, weights_name: str, args, device: torch.device, desc: str,
        train_step, record: dict, after_epoch=None) -> None:
    """Resume if possible, then run ``train_step(net, pack) -> (loss, shown values)`` over the remaining
    epochs; rank 0 saves a resumable checkpoint after each one. ``net`` is the DDP-wrapped model.
    ``after_epoch(epoch)`` may return validation scores, which go to the metrics."""
    from tqdm import tqdm

    start, net = _begin_training(model, optimizer, weights_name, args, device, record)
    metrics = run_metrics(args, desc)
    for ep in range(start, epochs):
        loader.batch_sampler.set_epoch(ep)
        pbar = tqdm(loader, desc=f"{desc} {ep + 1}/{epochs}", dynamic_ncols=True, disable=not distributed.is_main())
        for i, pack in enumerate(pbar):
            loss, shown = train_step(net, pack)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            pbar.set_postfix({k: f"{v:.4f}" for k, v in shown.items()})
            _report(metrics, pbar, ep * len(loader) + i + 1, epochs * len(loader), shown, len(pack["img"]), ep + 1,
                    device)
        if after_epoch is not None and distributed.is_main():
            scores = after_epoch(ep)
            if scores:
                metrics.validation((ep + 1) * len(loader), ep + 1, scores)
        distributed.save_on_master(checkpoints.save_resume, weights_name, model, optimizer, ep + 1, args, record)
    metrics.close()


def cycle_batches(loader: DataLoader, start: int = 0):
    """The loader's batches epoch after epoch, forever, beginning after ``start`` batches (for resuming)."""
    if len(loader) == 0:
        raise PipelineError("the training loader yields no batch")
    epoch, skip = divmod(start, len(loader))
    while True:
        loader.batch_sampler.set_epoch(epoch, skip)
        yield from loader
        epoch, skip = epoch + 1, 0


def fit_iterations(model, optimizer, loader, iter_max: int, iter_size: int, weights_name: str, args,
                   device: torch.device, desc: str, train_step, record: dict, save_every: int,
                   before_step=None) -> None:
    """The iteration-based engine (deeplab-pytorch's): ``iter_max`` optimizer steps, each on ``iter_size``
    accumulated batches; ``before_step(iteration)`` sets the learning rate of the 1-based iteration. Rank 0
    saves a resumable checkpoint every ``save_every`` iterations; a resumed run draws the same batches."""
    from tqdm import tqdm

    start, net = _begin_training(model, optimizer, weights_name, args, device, record)
    metrics = run_metrics(args, desc)
    batches = cycle_batches(loader, start * iter_size)
    pbar = tqdm(range(start + 1, iter_max + 1), desc=desc, initial=start, total=iter_max, dynamic_ncols=True,
                disable=not distributed.is_main())
    for iteration in pbar:
        if before_step is not None:
            before_step(iteration)
        optimizer.zero_grad()
        shown_sum: dict[str, float] = {}
        images = 0
        for _ in range(iter_size):
            pack = next(batches)
            loss, shown = train_step(net, pack)
            (loss / iter_size).backward()
            images += len(pack["img"])
            for k, v in shown.items():
                shown_sum[k] = shown_sum.get(k, 0.0) + v / iter_size
        optimizer.step()
        pbar.set_postfix({k: f"{v:.4f}" for k, v in shown_sum.items()})
        _report(metrics, pbar, iteration, iter_max, shown_sum, images, None, device)
        if iteration % save_every == 0 and iteration < iter_max:
            distributed.save_on_master(checkpoints.save_resume, weights_name, model, optimizer, iteration, args, record,
                                       "iteration")
    metrics.close()
