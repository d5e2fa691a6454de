"""The optimizers and learning-rate schedules of the training steps: IRN's PolyOptimizer on two parameter groups,
and deeplab-pytorch's SGD on three groups under its poly schedule, with the check of its initial weights."""
from __future__ import annotations

from pathlib import Path

import torch

from misc.errors import PipelineError
from misc.torchutils import PolyOptimizer
from net import deeplab_v2


def poly_optimizer(param_groups: tuple, lr: float, weight_decay: float, max_step: int, new_lr_mult: float = 10):
    """The official PolyOptimizer: ``lr`` on the first group, ``new_lr_mult * lr`` on the second."""
    return PolyOptimizer([
        {"params": param_groups[0], "lr": lr, "weight_decay": weight_decay},
        {"params": param_groups[1], "lr": new_lr_mult * lr, "weight_decay": weight_decay},
    ], lr=lr, weight_decay=weight_decay, max_step=max_step)


# deeplab-pytorch's learning-rate multipliers of the backbone, ASPP weights and ASPP biases.
LR_MULTS = (1, 10, 20)


def seg_optimizer(model: torch.nn.Module, lr: float, weight_decay: float, momentum: float) -> torch.optim.SGD:
    """SGD over deeplab-pytorch's three groups: backbone convs (lr), ASPP weights (10x), ASPP biases (20x, no
    weight decay)."""
    backbone, aspp_w, aspp_b = deeplab_v2.param_groups(model)
    return torch.optim.SGD([
        {"params": backbone, "lr": lr, "weight_decay": weight_decay},
        {"params": aspp_w, "lr": LR_MULTS[1] * lr, "weight_decay": weight_decay},
        {"params": aspp_b, "lr": LR_MULTS[2] * lr, "weight_decay": 0.0},
    ], lr=lr, momentum=momentum)


def set_seg_learning_rate(optimizer: torch.optim.Optimizer, iteration: int, lr: float, schedule: tuple) -> None:
    """The poly schedule of 1-based ``iteration`` on every group, keeping the groups' multipliers; ``schedule``
    is (iter_max, power, lr_decay)."""
    for group, mult in zip(optimizer.param_groups, LR_MULTS):
        group["lr"] = deeplab_v2.poly_lr(mult * lr, iteration, *schedule)


def check_seg_init(init_weights: str | None) -> Path:
    """The initial weights' file (--seg_init_weights), which must be given and exist."""
    if not init_weights:
        raise PipelineError("train_seg needs initial weights: pass --seg_init_weights PATH, e.g. deeplab-pytorch's "
                            "data/models/imagenet/deeplabv1_resnet101-imagenet.pth (converted Caffe ImageNet model) "
                            "or torchvision's resnet101-63fe2227.pth (from ~/.cache/torch/hub/checkpoints/)")
    path = Path(init_weights)
    if not path.is_file():
        raise PipelineError(f"--seg_init_weights {path} does not exist; put deeplab-pytorch's converted Caffe model "
                            "(deeplabv1_resnet101-imagenet.pth / deeplabv1_resnet101-coco.pth) or torchvision's "
                            "resnet101-63fe2227.pth there, or name the file you have")
    return path
