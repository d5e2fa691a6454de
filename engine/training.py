"""The training loop every training step shares: seeded global batches, DDP under torchrun, resumable
checkpoints, metrics, and the final plain state dict.

The same seed gives the same global batches and the same augmentation of every sample whatever the worker
count or world size: each epoch's order comes from (seed, epoch), each sample's randomness from
(seed, epoch, index), and each rank takes its share of every global batch.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from engine import checkpoints
from engine.inference import init_worker
from engine.seeding import sample_seed
from misc import distributed
from misc.errors import PipelineError


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


@dataclass(frozen=True)
class TrainRun:
    """One training run's identity and bookkeeping, read from the flags once by the step (``step/_training.py``):
    where the final weights go, the record that made them (a resume must match it), the device, the progress
    name, whether to ignore a resumable checkpoint, where metrics are written, and the flags the resumable
    checkpoint stores."""

    weights_name: str
    desc: str
    record: dict
    device: torch.device
    overwrite: bool
    run_dir: str
    log_every: int
    tensorboard: bool
    saved_flags: dict


def _begin_training(model, optimizer, run: TrainRun):
    """Clear a killed run's temporaries, resume if possible, wrap in DDP; returns (finished units, net, the
    hooks' saved state)."""
    from misc.fileio import remove_stale_temporaries

    if distributed.is_main():
        remove_stale_temporaries(Path(run.weights_name).parent)
    distributed.barrier()
    start, hook_states = checkpoints.try_resume(run.weights_name, model, optimizer, run.device, run.record,
                                                run.overwrite)
    # train() freezes the stem (requires_grad); DDP must see the final flags when it is built.
    model.train()
    net = wrap_ddp(model, run.device)
    return start, net, hook_states


def run_metrics(run: TrainRun):
    """The training step's metrics writer: metrics.jsonl (and TensorBoard) in the run folder, rank 0 only."""
    from misc.experiment import Metrics

    return Metrics(run.run_dir, run.desc, run.log_every, run.tensorboard, enabled=distributed.is_main())


def peak_memory_mb(device: torch.device) -> float:
    """torch's peak allocation on CUDA, the process's peak resident size elsewhere."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cycle_batches(loader: DataLoader, start: int = 0):
    """The loader's batches epoch after epoch, forever, beginning after ``start`` batches (for resuming)."""
    if len(loader) == 0:
        raise PipelineError("the training loader yields no batch")
    epoch, skip = divmod(start, len(loader))
    while True:
        loader.batch_sampler.set_epoch(epoch, skip)
        yield from loader
        epoch, skip = epoch + 1, 0


# Schedules: what one optimizer step consumes, and when an epoch ends -------------------------------------

@dataclass(frozen=True)
class Epochs:
    """IRN's schedule: ``epochs`` passes over the loader, one batch per optimizer step; resumable after each
    epoch (the checkpoint counts epochs)."""

    epochs: int
    unit = "epoch"
    save_every = 0  # checkpoints follow epochs, not steps

    def total_steps(self, loader: DataLoader) -> int:
        return self.epochs * len(loader)

    def steps_done(self, finished: int, loader: DataLoader) -> int:
        return finished * len(loader)

    def groups(self, loader: DataLoader, finished: int):
        """(1-based epoch, the batches of one optimizer step, whether the epoch ends with it)."""
        for ep in range(finished, self.epochs):
            loader.batch_sampler.set_epoch(ep)
            for i, pack in enumerate(loader):
                yield ep + 1, [pack], i == len(loader) - 1


@dataclass(frozen=True)
class Iterations:
    """deeplab-pytorch's schedule: ``iter_max`` optimizer steps, each on ``iter_size`` accumulated batches,
    drawn epoch after epoch; resumable every ``save_every`` steps (the checkpoint counts iterations)."""

    iter_max: int
    iter_size: int = 1
    save_every: int = 0
    unit = "iteration"

    def total_steps(self, loader: DataLoader) -> int:
        return self.iter_max

    def steps_done(self, finished: int, loader: DataLoader) -> int:
        return finished

    def groups(self, loader: DataLoader, finished: int):
        batches = cycle_batches(loader, finished * self.iter_size)
        for _ in range(finished, self.iter_max):
            yield None, [next(batches) for _ in range(self.iter_size)], False


def _bar(desc: str, total: int, initial: int):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True, disable=not distributed.is_main())


# Hooks: logging, validation, checkpoints and learning rates around the loop -----------------------------

@dataclass
class LoopState:
    """What the loop shares with its hooks: the model and optimizer, the schedule, the metrics writer the loop
    owns (hooks write scores to it), the 1-based optimizer step being run (or just run) and the total, the
    1-based epoch of an epoch schedule (None for iterations), the values the step showed, the images it
    consumed, and the hooks themselves (for the checkpoint to collect their state)."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: Epochs | Iterations
    metrics: object
    iteration: int
    total: int
    epoch: int | None = None
    shown: dict = field(default_factory=dict)
    images: int = 0
    hooks: Sequence["Hook"] = ()


class Hook:
    """Called before and after the run (``after_train`` even when it fails), around each optimizer step and at
    each epoch's end; every method may be left out. A hook with state that resuming must restore returns it
    from ``state_dict`` (plain values) and takes it back in ``load_state_dict``."""

    def before_train(self, state: LoopState) -> None:
        pass

    def before_step(self, state: LoopState) -> None:
        pass

    def after_step(self, state: LoopState) -> None:
        pass

    def after_epoch(self, state: LoopState) -> None:
        pass

    def after_train(self, state: LoopState) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class LearningRate(Hook):
    """``set_lr(iteration)`` before every optimizer step (the segmentation network's poly schedule)."""

    def __init__(self, set_lr: Callable[[int], None]):
        self.set_lr = set_lr

    def before_step(self, state: LoopState) -> None:
        self.set_lr(state.iteration)


class Logging(Hook):
    """The progress bar (one per epoch, or one for an iteration schedule), its values, and periodic lines plus
    metrics.jsonl / TensorBoard rows (rank 0). It owns the bar: opened before a step where none is open, closed
    at each epoch's end (before the epoch's validation prints) and at the end of the run."""

    def __init__(self, desc: str, loader: DataLoader, device: torch.device):
        self.desc, self.loader, self.device = desc, loader, device
        self.pbar = None

    def before_step(self, state: LoopState) -> None:
        if self.pbar is not None:
            return
        if state.epoch is not None:  # an epoch schedule: one bar per epoch, as the official steps print
            self.pbar = _bar(f"{self.desc} {state.epoch}/{state.schedule.epochs}", len(self.loader), 0)
        else:
            self.pbar = _bar(self.desc, state.total, state.iteration - 1)

    def after_step(self, state: LoopState) -> None:
        self.pbar.set_postfix({k: f"{v:.4f}" for k, v in state.shown.items()})
        line = state.metrics.iteration(state.iteration, state.total, state.shown,
                                      state.images * distributed.world_size(), state.epoch,
                                      peak_memory_mb(self.device))
        if line:
            self.pbar.write(line)
        self.pbar.update(1)

    def after_epoch(self, state: LoopState) -> None:
        self._close()

    def after_train(self, state: LoopState) -> None:
        self._close()

    def _close(self) -> None:
        if self.pbar is not None:
            self.pbar = self.pbar.close()


class Validation(Hook):
    """``evaluate(epoch)`` after each (1-based) epoch on rank 0; the scores it returns go to the metrics."""

    def __init__(self, evaluate: Callable[[int], dict | None]):
        self.evaluate = evaluate

    def after_epoch(self, state: LoopState) -> None:
        if not distributed.is_main():
            return
        scores = self.evaluate(state.epoch)
        if scores:
            state.metrics.validation(state.iteration, state.epoch, scores)


class Checkpointing(Hook):
    """A resumable checkpoint on rank 0, with every hook's state: after each epoch, or every ``save_every``
    iterations (not after the last, which save_final follows)."""

    def __init__(self, run: TrainRun):
        self.run = run

    def _save(self, state: LoopState, count: int) -> None:
        hooks = {type(h).__name__: h.state_dict() for h in state.hooks if h.state_dict()}
        distributed.save_on_master(checkpoints.save_resume, self.run.weights_name, state.model, state.optimizer,
                                   count, state.schedule.unit,
                                   {"args": self.run.saved_flags, "record": self.run.record, "hooks": hooks})

    def after_epoch(self, state: LoopState) -> None:
        self._save(state, state.epoch)

    def after_step(self, state: LoopState) -> None:
        every = state.schedule.save_every
        if every and state.iteration % every == 0 and state.iteration < state.total:
            self._save(state, state.iteration)


def train(model, optimizer, loader, schedule: Epochs | Iterations, run: TrainRun, train_step,
          hooks: Sequence[Hook] = ()) -> None:
    """The training loop of every training step: resume if possible (the hooks' state too), then
    ``train_step(net, pack) -> (loss, shown values)`` over the schedule's remaining optimizer steps (``net`` is
    the DDP-wrapped model; a step of several batches averages their gradients). The progress bar and logging
    run first, then ``hooks``, then the checkpoints; ``after_train`` runs even when a step fails."""
    start, net, hook_states = _begin_training(model, optimizer, run)
    hooks = [Logging(run.desc, loader, run.device), *hooks, Checkpointing(run)]
    for hook in hooks:
        hook.load_state_dict(hook_states.get(type(hook).__name__, {}))
    total, done = schedule.total_steps(loader), schedule.steps_done(start, loader)
    state = LoopState(model, optimizer, schedule, run_metrics(run), done, total, hooks=hooks)
    try:
        for hook in hooks:
            hook.before_train(state)
        for epoch, packs, ends_epoch in schedule.groups(loader, start):
            state.iteration, state.epoch = state.iteration + 1, epoch
            _optimizer_step(state, net, packs, train_step)
            if ends_epoch:
                for hook in hooks:
                    hook.after_epoch(state)
    finally:
        for hook in hooks:
            hook.after_train(state)
        state.metrics.close()


def _optimizer_step(state: LoopState, net, packs: list, train_step) -> None:
    """One optimizer step on ``packs``, the hooks around it; the shown values are averaged over the packs."""
    for hook in state.hooks:
        hook.before_step(state)
    state.optimizer.zero_grad()
    state.shown, state.images = {}, 0
    for pack in packs:
        loss, shown = train_step(net, pack)
        (loss / len(packs) if len(packs) > 1 else loss).backward()
        state.images += len(pack["img"])
        for k, v in shown.items():
            state.shown[k] = state.shown.get(k, 0.0) + v / len(packs)
    state.optimizer.step()
    for hook in state.hooks:
        hook.after_step(state)
