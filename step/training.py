"""The training engine every training step shares: network construction, seeded global batches, DDP under
torchrun, resumable checkpoints and the final plain state dict.

The same seed gives the same global batches and the same augmentation of every sample whatever the worker
count or world size: each epoch's order comes from (seed, epoch), each sample's randomness from
(seed, epoch, index), and each rank takes its share of every global batch.
"""
from __future__ import annotations

import importlib
import os
import random
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from misc import distributed, provenance
from misc.errors import PipelineError
from misc.fileio import load_state_dict, resolve_weights, save_torch
from net import resnet50


def build_network(module_name: str, class_name: str, **kwargs) -> torch.nn.Module:
    return getattr(importlib.import_module(module_name), class_name)(**kwargs)


def init_backbone(model: torch.nn.Module, spec: str | None) -> None:
    print(f"backbone weights: {resnet50.load_backbone_weights(model.resnet50, spec)}")


def checkpoint_path(name: str, flag: str, producer: str) -> Path:
    """The checkpoint file under our name or the official ``name.pth``; missing is an error naming both."""
    try:
        return resolve_weights(name)
    except FileNotFoundError as err:
        raise PipelineError(f"checkpoint {name} does not exist (nor {name}.pth; set by {flag}); run {producer} "
                            "first, or put the released file there") from err


def describe_checkpoint(sd: dict) -> str:
    """What network a state dict holds, from its keys and head shapes."""
    def shape(key):
        return "x".join(str(d) for d in sd[key].shape[:2])

    if "label_enc.weight" in sd:
        return f"an AMN network (label_enc {shape('label_enc.weight')})"
    if "fc_edge6.weight" in sd or "fc_dp7.0.weight" in sd:
        return "an IRN network (edge and displacement branches)"
    if any(k.startswith("base.aspp") for k in sd):
        return "a DeepLab-v2 network"
    if "classifier.weight" in sd:
        return f"a CAM network (classifier {shape('classifier.weight')})"
    if "fc.weight" in sd and "conv1.weight" in sd:
        return f"an ImageNet ResNet classifier (fc {shape('fc.weight')})"
    return f"an unknown network ({len(sd)} tensors, first {next(iter(sd), 'none')})"


def load_weights(model: torch.nn.Module, name: str, expected: str = "", flag: str = "", producer: str = "",
                 strict: bool = True) -> Path:
    """Strictly load final weights from ``name`` (or the official ``name.pth``).

    A file of another network, or of another class count, is an error that says what the file holds.
    """
    path = checkpoint_path(name, flag or "the weights flag", producer or "the training step")
    sd = load_state_dict(path)
    try:
        model.load_state_dict(sd, strict=strict)
    except RuntimeError as err:
        held = describe_checkpoint(sd)
        want = expected or type(model).__name__
        if "size mismatch" in str(err):
            raise PipelineError(f"{path} holds {held}, whose head does not fit {want} for "
                                f"{getattr(model, 'n_classes', '?')} classes; use the checkpoint of this dataset "
                                f"({flag})") from err
        raise PipelineError(f"{path} holds the weights of {held}, not of {want}; pass the right file with "
                            f"{flag or 'the weights flag'}") from err
    return path


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of one sample's augmentations in one epoch."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


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
    from misc.torchutils import init_worker

    if len(dataset) < batch_size:
        raise PipelineError(f"the training list has {len(dataset)} images, fewer than one batch of {batch_size}; "
                            "lower the batch size or use a longer list")
    sampler = GlobalBatchSampler(len(dataset), batch_size, seed, distributed.rank(), distributed.world_size())
    return DataLoader(SeededSamples(dataset, seed), batch_sampler=sampler, num_workers=num_workers,
                      pin_memory=device.type == "cuda", persistent_workers=num_workers > 0,
                      worker_init_fn=init_worker, generator=torch.Generator().manual_seed(seed))


def training_device(args) -> torch.device:
    """This process's device: --device, or this rank's GPU under torchrun (joining its group)."""
    from misc.torchutils import process_device

    return distributed.init_distributed(process_device(args.device),
                                        getattr(args, "dist_timeout_min", distributed.DEFAULT_TIMEOUT_MIN))


def poly_optimizer(param_groups: tuple, lr: float, weight_decay: float, max_step: int, new_lr_mult: float = 10):
    """The official PolyOptimizer: ``lr`` on the first group, ``new_lr_mult * lr`` on the second."""
    from misc.torchutils import PolyOptimizer

    return PolyOptimizer([
        {"params": param_groups[0], "lr": lr, "weight_decay": weight_decay},
        {"params": param_groups[1], "lr": new_lr_mult * lr, "weight_decay": weight_decay},
    ], lr=lr, weight_decay=weight_decay, max_step=max_step)


def use_channels_last(model: torch.nn.Module, args) -> None:
    """``--channels_last True``: NHWC weights (faster convolutions on recent GPUs)."""
    if getattr(args, "channels_last", False):
        model.to(memory_format=torch.channels_last)


def batch_input(img: torch.Tensor, device: torch.device, args) -> torch.Tensor:
    """A batch on ``device``, NHWC with ``--channels_last True``."""
    img = img.to(device, non_blocking=True)
    return img.contiguous(memory_format=torch.channels_last) if getattr(args, "channels_last", False) else img


def autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast when ``--amp`` is set, on any device (the networks keep their heads in float32)."""
    from misc.torchutils import autocast as _autocast

    return _autocast(device, enabled)


def resume_path(weights_name: str) -> Path:
    return Path(f"{weights_name}.resume")


def plain_args(args) -> dict:
    """argparse values as JSON-like types, so the checkpoint loads with weights_only=True."""
    return {k: provenance.canonical(v) for k, v in vars(args).items()}


def training_record(args, flags: tuple[str, ...], **extra) -> dict:
    """The settings that change a training result: the named flags plus digests of its inputs."""
    return provenance.canonical({**{f: getattr(args, f, None) for f in flags}, **extra})


def init_digest(spec: str | None) -> str:
    """Content digest of an initialisation file, or the spec itself (none, auto)."""
    if spec is not None and Path(spec).is_file():
        return provenance.file_digest(spec)
    found = resnet50.find_imagenet_weights() if spec in (None, "auto") else None
    return provenance.file_digest(found) if found else str(spec)


def save_resume(weights_name: str, model, optimizer, epoch: int, args, record: dict, unit: str = "epoch") -> None:
    """Everything needed to continue after ``epoch`` epochs (or iterations, ``unit``; the RNG state too), and
    the record it must be continued with."""
    save_torch(resume_path(weights_name), {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                           "epoch": epoch, "unit": unit, "args": plain_args(args),
                                           "record": record, **rng_states()})


def rng_states() -> dict:
    """torch's CPU generator and, where CUDA is used, every GPU's (AMN's dropout draws from the GPU's)."""
    states = {"torch_rng": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda_rng"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(state: dict) -> None:
    """The generators saved by :func:`rng_states` (a GPU state only where this machine has as many GPUs)."""
    if "torch_rng" in state:
        torch.set_rng_state(state["torch_rng"])
    cuda = state.get("cuda_rng")
    if cuda is not None:
        if not torch.cuda.is_available() or torch.cuda.device_count() != len(cuda):
            print("warning: the resume file holds the generators of a machine with other GPUs; random layers "
                  "(dropout) continue from fresh ones")
            return
        torch.cuda.set_rng_state_all(cuda)


def try_resume(weights_name: str, model, optimizer, device: torch.device, record: dict, overwrite: bool) -> int:
    """Load a resumable checkpoint if one exists and was made with ``record``; returns the finished epochs."""
    path = resume_path(weights_name)
    if not path.is_file():
        return 0
    if overwrite:
        print(f"--overwrite True: ignoring {path} and training from the start")
        return 0
    state = load_state_dict(path, map_location="cpu")
    saved = state.get("record")
    if saved != record:
        raise PipelineError(f"{path} was saved by a run with other settings "
                            f"({provenance.describe_difference(saved, record)}); rerun with the same flags to "
                            f"continue it, or delete it (or pass --overwrite True) to start over")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    restore_rng_states(state)
    print(f"resuming from {path} after {state.get('unit', 'epoch')} {state['epoch']}")
    return int(state["epoch"])


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
    start = try_resume(weights_name, model, optimizer, device, record, args.overwrite)
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
        distributed.save_on_master(save_resume, weights_name, model, optimizer, ep + 1, args, record)
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
            distributed.save_on_master(save_resume, weights_name, model, optimizer, iteration, args, record,
                                       "iteration")
    metrics.close()


def _save_final(weights_name: str, model) -> None:
    os.makedirs(Path(weights_name).parent, exist_ok=True)
    save_torch(weights_name, model.state_dict())
    resume_path(weights_name).unlink(missing_ok=True)
    print(f"saved {weights_name}")


def save_final(weights_name: str, model) -> None:
    """The plain state dict under the official file name (rank 0); the resume file is no longer needed."""
    distributed.save_on_master(_save_final, weights_name, model)
