"""IRN's ResNet-50: FixedBatchNorm, configurable strides, no classification head.

Building a network never reads a file or the network; ImageNet weights are
loaded explicitly with :func:`load_backbone_weights`.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

# The official module's table. Nothing here downloads: load_backbone reads a file or the torch hub cache.
model_urls = {"resnet50": "https://download.pytorch.org/models/resnet50-19c8e357.pth"}

# File names of the ImageNet ResNet-50 weights that IRN and torchvision publish.
IMAGENET_FILES = ("resnet50-19c8e357.pth", "resnet50-0676ba61.pth")


class FixedBatchNorm(nn.BatchNorm2d):
    """BatchNorm that always uses its running statistics, as in IRN.

    ``frozen=False`` makes it an ordinary BatchNorm: training from scratch
    (``--backbone_weights none``) learns nothing with fixed random statistics.
    """

    frozen: bool = True

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.frozen:
            return F.batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                                training=False, eps=self.eps)
        return super().forward(input)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = FixedBatchNorm(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=dilation, bias=False,
                               dilation=dilation)
        self.bn2 = FixedBatchNorm(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, kernel_size=1, bias=False)
        self.bn3 = FixedBatchNorm(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class ResNet(nn.Module):
    def __init__(self, block=Bottleneck, layers=(3, 4, 6, 3), strides=(2, 2, 2, 2), dilations=(1, 1, 1, 1)):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=strides[0], padding=3, bias=False)
        self.bn1 = FixedBatchNorm(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0], stride=1, dilation=dilations[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=strides[1], dilation=dilations[1])
        self.layer3 = self._make_layer(block, 256, layers[2], stride=strides[2], dilation=dilations[2])
        self.layer4 = self._make_layer(block, 512, layers[3], stride=strides[3], dilation=dilations[3])

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                FixedBatchNorm(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, dilation=1)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, dilation=dilation) for _ in range(1, blocks)]
        return nn.Sequential(*layers)


def resnet50(strides=(2, 2, 2, 2), dilations=(1, 1, 1, 1)) -> ResNet:
    """A randomly initialised ResNet-50 trunk; load weights with :func:`load_backbone_weights`."""
    return ResNet(Bottleneck, [3, 4, 6, 3], strides=strides, dilations=dilations)


def attach_stride16_stages(module: nn.Module) -> None:
    """Give ``module`` IRN's CAM-style trunk: ``resnet50`` and ``stage1``..``stage4`` (output stride 16).

    Attribute names are those of the released CAM and AMN checkpoints.
    """
    module.resnet50 = resnet50(strides=(2, 2, 2, 1))
    r = module.resnet50
    module.stage1 = nn.Sequential(r.conv1, r.bn1, r.relu, r.maxpool, r.layer1)
    module.stage2 = nn.Sequential(r.layer2)
    module.stage3 = nn.Sequential(r.layer3)
    module.stage4 = nn.Sequential(r.layer4)


def set_batchnorm_trainable(model: nn.Module, trainable: bool) -> None:
    """Switch every FixedBatchNorm between IRN's frozen statistics and ordinary BatchNorm."""
    for m in model.modules():
        if isinstance(m, FixedBatchNorm):
            m.frozen = not trainable


def find_imagenet_weights() -> Path | None:
    """The ImageNet file in the torch hub cache, if one is there."""
    ckpt_dir = Path(torch.hub.get_dir()) / "checkpoints"
    for name in IMAGENET_FILES:
        if (ckpt_dir / name).is_file():
            return ckpt_dir / name
    return None


def _missing_weights_message() -> str:
    ckpt_dir = Path(torch.hub.get_dir()) / "checkpoints"
    return (f"ImageNet ResNet-50 weights not found. Put {IMAGENET_FILES[0]} (IRN's file) or "
            f"{IMAGENET_FILES[1]} (torchvision IMAGENET1K_V1) in {ckpt_dir}, or pass "
            "--backbone_weights PATH. Use --backbone_weights none to train from scratch.")


def backbone_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Trunk weights from an ImageNet file or from one of our checkpoints (``resnet50.*`` keys)."""
    sd = torch.load(path, map_location="cpu", weights_only=True)
    if any(k.startswith("resnet50.") for k in sd):
        sd = {k[len("resnet50."):]: v for k, v in sd.items() if k.startswith("resnet50.")}
    return {k: v for k, v in sd.items() if not k.startswith("fc.")}


def init_from_scratch(trunk: ResNet) -> None:
    """Re-initialise ``trunk`` for training from scratch: He-normal convolutions (fan-out) and every Bottleneck's
    last BatchNorm scale at zero, so each residual block starts as the identity (torchvision's
    ``zero_init_residual``).

    The official code always starts from ImageNet weights and keeps PyTorch's default init, under which the deep
    stages barely train in a short run: after the toy demo's 135 steps the CAM classifier scored every class but
    boat below zero on the images that contain it (seed 1; cat and person CAM IoU 0). With this init every class's
    CAM IoU was above 47 on three seeds.
    """
    for m in trunk.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    for m in trunk.modules():
        if isinstance(m, Bottleneck):
            nn.init.zeros_(m.bn3.weight)


def load_backbone_weights(trunk: ResNet, spec: str | None) -> str:
    """Load ``trunk`` per ``spec``: a path, ``None``/"auto" (hub cache), or "none" (from scratch).

    Returns a short description of what was loaded. From scratch, the trunk is re-initialised
    (:func:`init_from_scratch`) and BatchNorm trains.
    """
    if spec is not None and str(spec).lower() == "none":
        init_from_scratch(trunk)
        set_batchnorm_trainable(trunk, True)
        return "random initialisation (He, zero-initialised residual branches; BatchNorm trains)"
    path = find_imagenet_weights() if spec in (None, "auto") else Path(spec)
    if path is None or not Path(path).is_file():
        if spec not in (None, "auto"):
            raise FileNotFoundError(f"--backbone_weights {spec}: no such file. " + _missing_weights_message())
        raise FileNotFoundError(_missing_weights_message())
    trunk.load_state_dict(backbone_state_dict(path), strict=True)
    return str(path)
