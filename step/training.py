"""Pieces every training step shares: network construction, data loaders,
resumable checkpoints and the final plain state dict."""
from __future__ import annotations

import importlib
import os
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from misc.fileio import load_state_dict, resolve_weights, save_torch
from net import resnet50


def build_network(module_name: str, class_name: str, **kwargs) -> torch.nn.Module:
    return getattr(importlib.import_module(module_name), class_name)(**kwargs)


def init_backbone(model: torch.nn.Module, spec: str | None) -> None:
    print(f"backbone weights: {resnet50.load_backbone_weights(model.resnet50, spec)}")


def load_weights(model: torch.nn.Module, name: str, strict: bool = True) -> Path:
    """Strictly load final weights from ``name`` (or the official ``name.pth``)."""
    path = resolve_weights(name)
    model.load_state_dict(load_state_dict(path), strict=strict)
    return path


def train_loader(dataset: Dataset, batch_size: int, num_workers: int, device: torch.device) -> DataLoader:
    if len(dataset) < batch_size:
        raise ValueError(f"the training list has {len(dataset)} images, fewer than one batch of {batch_size}; "
                         "lower the batch size or use a longer list")
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=num_workers,
                      pin_memory=device.type == "cuda", drop_last=True, persistent_workers=num_workers > 0)


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
    def conv(v):
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        return v if isinstance(v, (int, float, str, bool, type(None))) else str(v)
    return {k: conv(v) for k, v in vars(args).items()}


def save_resume(weights_name: str, model, optimizer, epoch: int, args) -> None:
    """Everything needed to continue after ``epoch`` epochs."""
    save_torch(resume_path(weights_name), {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                           "epoch": epoch, "args": plain_args(args)})


def try_resume(weights_name: str, model, optimizer, device: torch.device) -> int:
    """Load a resumable checkpoint if one exists; returns the number of finished epochs."""
    path = resume_path(weights_name)
    if not path.is_file():
        return 0
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    print(f"resuming from {path} after epoch {state['epoch']}")
    return int(state["epoch"])


def fit(model, optimizer, loader, epochs: int, weights_name: str, args, device: torch.device, desc: str,
        train_step, after_epoch=None) -> None:
    """Resume if possible, then run ``train_step(pack) -> (loss, shown values)`` over the remaining epochs,
    saving a resumable checkpoint after each one."""
    from tqdm import tqdm

    start = try_resume(weights_name, model, optimizer, device)
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
        save_resume(weights_name, model, optimizer, ep + 1, args)


def save_final(weights_name: str, model) -> None:
    """The plain state dict under the official file name; the resume file is no longer needed."""
    os.makedirs(Path(weights_name).parent, exist_ok=True)
    save_torch(weights_name, model.state_dict())
    resume_path(weights_name).unlink(missing_ok=True)
    print(f"saved {weights_name}")
