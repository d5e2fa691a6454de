"""IRN's torch helpers: the official poly optimizer, interleaved dataset shards, global average pooling, the
frozen stem, and autocast switched off around network heads. Devices, precision and workers live in ``engine/``."""
from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
from torch.utils.data import Dataset, Subset


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


class SGDROptimizer(torch.optim.SGD):
    """IRN's SGD with warm restarts: a cosine decay over ``steps_per_epoch * epoch_start`` steps, each restart
    ``restart_mult`` times longer and its peak divided by the number of restarts so far plus one."""

    def __init__(self, params, steps_per_epoch: int, lr: float = 0, weight_decay: float = 0, epoch_start: int = 1,
                 restart_mult: int = 2):
        super().__init__(params, lr, weight_decay=weight_decay)
        self.global_step = self.local_step = self.total_restart = 0
        self.max_step = steps_per_epoch * epoch_start
        self.restart_mult = restart_mult
        self._initial_lr = [group["lr"] for group in self.param_groups]

    def step(self, closure=None):
        if self.local_step >= self.max_step:
            self.local_step = 0
            self.max_step *= self.restart_mult
            self.total_restart += 1
        lr_mult = (1 + math.cos(math.pi * self.local_step / self.max_step)) / 2 / (self.total_restart + 1)
        for group, lr0 in zip(self.param_groups, self._initial_lr):
            group["lr"] = lr0 * lr_mult
        loss = super().step(closure)
        self.local_step += 1
        self.global_step += 1
        return loss


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


