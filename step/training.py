"""Pieces every training step shares: network construction, data loaders,
resumable checkpoints and the final plain state dict."""
from __future__ import annotations

import importlib
import os
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from misc import provenance
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


def train_loader(dataset: Dataset, batch_size: int, num_workers: int, device: torch.device) -> DataLoader:
    from misc.torchutils import init_worker

    if len(dataset) < batch_size:
        raise PipelineError(f"the training list has {len(dataset)} images, fewer than one batch of {batch_size}; "
                         "lower the batch size or use a longer list")
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=num_workers,
                      pin_memory=device.type == "cuda", drop_last=True, persistent_workers=num_workers > 0,
                      worker_init_fn=init_worker)


def poly_optimizer(param_groups: tuple, lr: float, weight_decay: float, max_step: int, new_lr_mult: float = 10):
    """The official PolyOptimizer: ``lr`` on the first group, ``new_lr_mult * lr`` on the second."""
    from misc.torchutils import PolyOptimizer

    return PolyOptimizer([
        {"params": param_groups[0], "lr": lr, "weight_decay": weight_decay},
        {"params": param_groups[1], "lr": new_lr_mult * lr, "weight_decay": weight_decay},
    ], lr=lr, weight_decay=weight_decay, max_step=max_step)


def autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast on CUDA when ``--amp`` is set; a no-op elsewhere."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")


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


def save_resume(weights_name: str, model, optimizer, epoch: int, args, record: dict) -> None:
    """Everything needed to continue after ``epoch`` epochs, and the record it must be continued with."""
    save_torch(resume_path(weights_name), {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                           "epoch": epoch, "args": plain_args(args), "record": record})


def try_resume(weights_name: str, model, optimizer, device: torch.device, record: dict, overwrite: bool) -> int:
    """Load a resumable checkpoint if one exists and was made with ``record``; returns the finished epochs."""
    path = resume_path(weights_name)
    if not path.is_file():
        return 0
    if overwrite:
        print(f"--overwrite True: ignoring {path} and training from the start")
        return 0
    state = load_state_dict(path, map_location=device)
    saved = state.get("record")
    if saved != record:
        raise PipelineError(f"{path} was saved by a run with other settings "
                            f"({provenance.describe_difference(saved, record)}); rerun with the same flags to "
                            f"continue it, or delete it (or pass --overwrite True) to start over")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    print(f"resuming from {path} after epoch {state['epoch']}")
    return int(state["epoch"])


def fit(model, optimizer, loader, epochs: int, weights_name: str, args, device: torch.device, desc: str,
        train_step, record: dict, after_epoch=None) -> None:
    """Resume if possible, then run ``train_step(pack) -> (loss, shown values)`` over the remaining epochs,
    saving a resumable checkpoint after each one."""
    from tqdm import tqdm

    from misc.fileio import remove_stale_temporaries

    remove_stale_temporaries(Path(weights_name).parent)
    start = try_resume(weights_name, model, optimizer, device, record, args.overwrite)
    model.train()
    for ep in range(start, epochs):
        pbar = tqdm(loader, desc=f"{desc} {ep + 1}/{epochs}", dynamic_ncols=True)
        for pack in pbar:
            loss, shown = train_step(pack)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            pbar.set_postfix({k: f"{v:.4f}" for k, v in shown.items()})
        if after_epoch is not None:
            after_epoch(ep)
        save_resume(weights_name, model, optimizer, ep + 1, args, record)


def save_final(weights_name: str, model) -> None:
    """The plain state dict under the official file name; the resume file is no longer needed."""
    os.makedirs(Path(weights_name).parent, exist_ok=True)
    save_torch(weights_name, model.state_dict())
    resume_path(weights_name).unlink(missing_ok=True)
    print(f"saved {weights_name}")
