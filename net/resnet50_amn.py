"""The activation manipulation network (AMN); module names match the released ``res50_amn`` checkpoint."""
from __future__ import annotations

import torch
import torch.nn as nn

from misc import distributed, torchutils
from net import resnet50
from net.deeplab_v2 import _ASPP  # AMN's head is DeepLab-v2's ASPP (deeplab-pytorch's class)
from net.registry import register_model


class GlobalBatchDropout(nn.Dropout):
    """nn.Dropout whose mask, under DDP, is this rank's slice of the mask of the whole global batch.

    Every rank keeps the same torch generator state, so the ranks together apply exactly the mask one
    process would draw for the global batch (on CPU, where F.dropout is ``x * bernoulli(1 - p) / (1 - p)``).
    With one process it is nn.Dropout. It holds no weights, so checkpoints are unchanged.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        world = distributed.world_size()
        if not self.training or self.p == 0 or world == 1:
            return super().forward(x)
        n = x.shape[0]
        full = torch.empty((n * world,) + tuple(x.shape[1:]), device=x.device, dtype=x.dtype).bernoulli_(1 - self.p)
        mask = full[distributed.rank() * n:(distributed.rank() + 1) * n]
        return x * mask * (1.0 / (1 - self.p))


@register_model("resnet50_amn")
class Net(nn.Module):
    """Per-pixel classifier over background + classes, conditioned on the image-level label.

    ``dropout_at_inference=True`` reproduces the official code, whose ``train()``
    override never calls ``nn.Module.train`` and so leaves dropout active in eval.
    """

    def __init__(self, n_classes: int = 20, dropout_at_inference: bool = False):
        super().__init__()
        self.dropout_at_inference = dropout_at_inference
        resnet50.attach_stride16_stages(self)
        self.label_enc = nn.Linear(n_classes, 2048)
        self.classifier = nn.Sequential(GlobalBatchDropout(0.1), _ASPP(2048, n_classes + 1, rates=(6, 12, 18, 24)))
        self.backbone = nn.ModuleList([self.stage1, self.stage2, self.stage3, self.stage4])
        self.newly_added = nn.ModuleList([self.classifier, self.label_enc])

    def features(self, img: torch.Tensor, label_cls: torch.Tensor) -> torch.Tensor:
        """Trunk features scaled per channel by the label encoding; float32 (under --amp the trunk alone
        runs in bfloat16)."""
        x = self.stage4(self.stage3(self.stage2(self.stage1(img))))
        with torchutils.full_precision(x):
            y = self.label_enc(label_cls.float()).unsqueeze(-1).unsqueeze(-1)
            return x.float() * y

    def forward(self, img: torch.Tensor, label_cls: torch.Tensor) -> torch.Tensor:
        x = self.features(img, label_cls)
        with torchutils.full_precision(x):
            return self.classifier(x)

    def train(self, mode: bool = True) -> "Net":
        super().train(mode)
        if self.dropout_at_inference:
            self.classifier[0].train(True)
        torchutils.freeze_stem(self.resnet50)
        return self

    def trainable_parameters(self) -> tuple[list, list]:
        return list(self.backbone.parameters()), list(self.newly_added.parameters())


@register_model("resnet50_amn")
class CAM(Net):
    """Logits of an image and its flip (a batch of two), averaged."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = self.features(x, y)
        with torchutils.full_precision(x):
            logit = self.classifier(x)
            return (logit[0] + logit[1].flip(-1)) / 2
