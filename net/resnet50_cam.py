"""IRN's CAM network; module names match the released ``res50_cam`` checkpoint."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from misc import torchutils
from net import resnet50
from net.registry import register_model


@register_model("resnet50_cam")
class Net(nn.Module):
    """Multi-label classifier: ResNet-50 (output stride 16), global average pooling, 1x1 conv."""

    def __init__(self, n_classes: int = 20):
        super().__init__()
        self.n_classes = n_classes
        resnet50.attach_stride16_stages(self)
        self.classifier = nn.Conv2d(2048, n_classes, 1, bias=False)
        # The official checkpoints also store these aliases of the same tensors.
        self.backbone = nn.ModuleList([self.stage1, self.stage2, self.stage3, self.stage4])
        self.newly_added = nn.ModuleList([self.classifier])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage1(x)
        x = self.stage2(x).detach()
        x = self.stage3(x)
        x = self.stage4(x)
        with torchutils.full_precision(x):  # under --amp the trunk alone runs in bfloat16
            x = torchutils.gap2d(x.float(), keepdims=True)
            return self.classifier(x).view(-1, self.n_classes)

    def train(self, mode: bool = True) -> "Net":
        super().train(mode)
        torchutils.freeze_stem(self.resnet50)
        return self

    def trainable_parameters(self) -> tuple[list, list]:
        return list(self.backbone.parameters()), list(self.newly_added.parameters())


@register_model("resnet50_cam")
class CAM(Net):
    """Class activation maps of an image and its flip (a batch of two), summed."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage4(self.stage3(self.stage2(self.stage1(x))))
        with torchutils.full_precision(x):
            x = F.relu(F.conv2d(x.float(), self.classifier.weight))
            return x[0] + x[1].flip(-1)
