"""DeepLab-v2 (dilated ResNet + ASPP, output stride 8) with multi-scale inputs, in the layout of
kazuto1011/deeplab-pytorch's ``DeepLabV2_ResNet101_MSC``: the segmentation network trained on the pseudo masks.

Module names, attribute names and forward behaviour are deeplab-pytorch's, so its released checkpoints load
with ``strict=True``. Building a network reads no file; initial weights come from :func:`load_init_weights`
with a path the user names.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from misc import torchutils
from net.registry import register_model

_BOTTLENECK_EXPANSION = 4
# Block counts of layer2..layer5 per ResNet depth; deeplab-pytorch ships 101, 50 is the CPU demo's trunk.
N_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
ATROUS_RATES = (6, 12, 18, 24)
MSC_SCALES = (0.5, 0.75)

# Input normalisation per initialisation: Caffe models take BGR minus the mean pixel (no std), torchvision's
# ImageNet models RGB scaled to [0, 1] minus the mean over the std. Values are in 0..255 units.
INPUT_NORMS = {
    "caffe": {"bgr": True, "mean": (104.008, 116.669, 122.675), "std": (1.0, 1.0, 1.0)},
    "torchvision": {"bgr": False, "mean": (123.675, 116.28, 103.53), "std": (58.395, 57.12, 57.375)},
}


class _ConvBnReLU(nn.Sequential):
    """Convolution without bias, BatchNorm (Caffe's moving-average fraction 0.999) and an optional ReLU."""

    BATCH_NORM = nn.BatchNorm2d

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int, padding: int, dilation: int,
                 relu: bool = True):
        super().__init__()
        self.add_module("conv", nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, dilation, bias=False))
        self.add_module("bn", self.BATCH_NORM(out_ch, eps=1e-5, momentum=1 - 0.999))
        if relu:
            self.add_module("relu", nn.ReLU())


class _Bottleneck(nn.Module):
    """MSRA (Caffe) bottleneck: the stride sits on the first 1x1 convolution."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, dilation: int, downsample: bool):
        super().__init__()
        mid_ch = out_ch // _BOTTLENECK_EXPANSION
        self.reduce = _ConvBnReLU(in_ch, mid_ch, 1, stride, 0, 1, True)
        self.conv3x3 = _ConvBnReLU(mid_ch, mid_ch, 3, 1, dilation, dilation, True)
        self.increase = _ConvBnReLU(mid_ch, out_ch, 1, 1, 0, 1, False)
        self.shortcut = _ConvBnReLU(in_ch, out_ch, 1, stride, 0, 1, False) if downsample else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.increase(self.conv3x3(self.reduce(x)))
        return F.relu(h + self.shortcut(x))


class _ResLayer(nn.Sequential):
    """``n_layers`` bottlenecks ``block1``..; only the first one changes resolution and width."""

    def __init__(self, n_layers: int, in_ch: int, out_ch: int, stride: int, dilation: int):
        super().__init__()
        for i in range(n_layers):
            self.add_module(f"block{i + 1}", _Bottleneck(in_ch if i == 0 else out_ch, out_ch,
                                                         stride if i == 0 else 1, dilation, i == 0))


class _Stem(nn.Sequential):
    """7x7/2 convolution and a 3x3/2 max pool with ceil mode (Caffe's pooling arithmetic)."""

    def __init__(self, out_ch: int):
        super().__init__()
        self.add_module("conv1", _ConvBnReLU(3, out_ch, 7, 2, 3, 1))
        self.add_module("pool", nn.MaxPool2d(3, 2, 1, ceil_mode=True))


class _ASPP(nn.Module):
    """Atrous spatial pyramid pooling of DeepLab-v2: the sum of dilated 3x3 classifiers ``c0``..``c3``."""

    def __init__(self, in_ch: int, out_ch: int, rates):
        super().__init__()
        for i, rate in enumerate(rates):
            self.add_module(f"c{i}", nn.Conv2d(in_ch, out_ch, 3, 1, padding=rate, dilation=rate, bias=True))
        for m in self.children():
            nn.init.normal_(m.weight, mean=0, std=0.01)
            nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torchutils.full_precision(x):  # the head stays float32 under --amp
            x = x.float()
            return sum(stage(x) for stage in self.children())


class DeepLabV2(nn.Sequential):
    """Dilated ResNet (output stride 8) + ASPP; logits at 1/8 of the input."""

    def __init__(self, n_classes: int, n_blocks, atrous_rates):
        super().__init__()
        ch = [64 * 2 ** p for p in range(6)]
        self.add_module("layer1", _Stem(ch[0]))
        self.add_module("layer2", _ResLayer(n_blocks[0], ch[0], ch[2], 1, 1))
        self.add_module("layer3", _ResLayer(n_blocks[1], ch[2], ch[3], 2, 1))
        self.add_module("layer4", _ResLayer(n_blocks[2], ch[3], ch[4], 1, 2))
        self.add_module("layer5", _ResLayer(n_blocks[3], ch[4], ch[5], 1, 4))
        self.add_module("aspp", _ASPP(ch[5], n_classes, atrous_rates))

    def freeze_bn(self) -> None:
        """Keep every BatchNorm on its running statistics while the rest trains (call after ``train()``)."""
        for m in self.modules():
            if isinstance(m, _ConvBnReLU.BATCH_NORM):
                m.eval()


class MSC(nn.Module):
    """Multi-scale inputs: the base network on the image and on copies rescaled by ``scales``.

    Training returns ``[full, *scaled, max]`` (each scaled output at its own size, the max at the full
    output's size); evaluation returns the pixel-wise max alone.
    """

    def __init__(self, base: nn.Module, scales=MSC_SCALES):
        super().__init__()
        self.base = base
        self.scales = list(scales) if scales else list(MSC_SCALES)

    def forward(self, x: torch.Tensor):
        logits = self.base(x)
        size = logits.shape[-2:]
        pyramid = [self.base(F.interpolate(x, scale_factor=p, mode="bilinear", align_corners=False))
                   for p in self.scales]
        upsampled = [logits] + [F.interpolate(p, size=size, mode="bilinear", align_corners=False) for p in pyramid]
        logits_max = torch.max(torch.stack(upsampled), dim=0)[0]
        if self.training:
            return [logits] + pyramid + [logits_max]
        return logits_max


@register_model("deeplab_v2")
def DeepLabV2_ResNet101_MSC(n_classes: int) -> MSC:  # noqa: N802 (deeplab-pytorch's name)
    return deeplabv2_msc(n_classes, depth=101)


@register_model("deeplab_v2")
def deeplabv2_resnet101_msc(n_classes: int) -> MSC:
    """DeepLab-v2 ResNet-101 with inputs at scales 1, 0.5 and 0.75: deeplab-pytorch's released network."""
    return deeplabv2_msc(n_classes, depth=101)


@register_model("deeplab_v2")
def deeplabv2_msc(n_classes: int, depth: int = 101) -> MSC:
    """DeepLab-v2 MSC on a ResNet-``depth`` trunk (101 as released; 50 for small machines)."""
    if depth not in N_BLOCKS:
        raise ValueError(f"DeepLab-v2 depth must be one of {sorted(N_BLOCKS)}, not {depth}")
    return MSC(DeepLabV2(n_classes, N_BLOCKS[depth], ATROUS_RATES), MSC_SCALES)


# optimisation -------------------------------------------------------------------------------------------

def param_groups(model: nn.Module) -> tuple[list, list, list]:
    """deeplab-pytorch's groups (Caffe's lr_mult): backbone convolutions (1x), ASPP weights (10x), ASPP biases
    (20x, no weight decay). BatchNorm parameters are in none of them, so they stay at their initial values."""
    backbone, aspp_w, aspp_b = [], [], []
    for name, m in model.named_modules():
        if not isinstance(m, nn.Conv2d):
            continue
        if "aspp" in name:
            aspp_w.append(m.weight)
            aspp_b.append(m.bias)
        elif "layer" in name:
            backbone.extend(m.parameters())
    return backbone, aspp_w, aspp_b


def poly_lr(base_lr: float, iteration: int, iter_max: int, power: float, step_size: int) -> float:
    """The learning rate of 1-based ``iteration`` under deeplab-pytorch's PolynomialLR: it is recomputed as
    ``base * (1 - t / iter_max) ** power`` only at ``t`` a multiple of ``step_size`` and held in between."""
    t = ((iteration - 1) // step_size) * step_size
    return base_lr * (1 - min(t, iter_max) / iter_max) ** power


# input normalisation ----------------------------------------------------------------------------------

def normalize_input(img: np.ndarray, norm: str) -> np.ndarray:
    """An RGB uint8 HxWx3 image -> float32 CHW input for ``norm`` ('caffe' or 'torchvision')."""
    spec = INPUT_NORMS[norm]
    x = np.asarray(img, np.float32)
    if spec["bgr"]:
        x = x[..., ::-1]
    x = (x - np.asarray(spec["mean"], np.float32)) / np.asarray(spec["std"], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def padding_value(norm: str) -> tuple[float, ...]:
    """The RGB pixel that normalises to zero: what crops are padded with (deeplab-pytorch pads with the mean)."""
    mean = INPUT_NORMS[norm]["mean"]
    return tuple(mean[::-1]) if INPUT_NORMS[norm]["bgr"] else tuple(mean)


# initial weights --------------------------------------------------------------------------------------

_TV_BLOCK = re.compile(r"^layer(\d)\.(\d+)\.(conv|bn)(\d)\.(.+)$")
_TV_DOWN = re.compile(r"^layer(\d)\.(\d+)\.downsample\.(\d)\.(.+)$")
_TV_BRANCH = {"1": "reduce", "2": "conv3x3", "3": "increase"}


def torchvision_to_deeplab(sd: dict) -> dict:
    """torchvision (and IRN) ResNet names -> deeplab-pytorch base names; the ``fc`` head is dropped.

    conv1/bn1 -> layer1.conv1.{conv,bn}; layerN.i.convK/bnK -> layer(N+1).block(i+1).{reduce,conv3x3,increase};
    layerN.i.downsample.{0,1} -> layer(N+1).block(i+1).shortcut.{conv,bn}.
    """
    out = {}
    for key, value in sd.items():
        if key.startswith("fc."):
            continue
        if key.startswith("conv1."):
            out["layer1.conv1.conv." + key[len("conv1."):]] = value
        elif key.startswith("bn1."):
            out["layer1.conv1.bn." + key[len("bn1."):]] = value
        elif m := _TV_BLOCK.match(key):
            layer, block, kind, k, leaf = m.groups()
            out[f"layer{int(layer) + 1}.block{int(block) + 1}.{_TV_BRANCH[k]}.{kind}.{leaf}"] = value
        elif m := _TV_DOWN.match(key):
            layer, block, idx, leaf = m.groups()
            out[f"layer{int(layer) + 1}.block{int(block) + 1}.shortcut.{'conv' if idx == '0' else 'bn'}.{leaf}"] = value
        else:
            raise KeyError(key)
    return out


def init_kind(sd: dict) -> str:
    """'caffe' for deeplab-pytorch's converted Caffe models (or a DeepLab checkpoint), 'torchvision' for
    torchvision/IRN ResNets (our CAM and AMN checkpoints included, by their ``resnet50.`` trunk)."""
    if any(k.startswith(("layer1.conv1.conv.", "base.layer1.conv1.conv.")) for k in sd):
        return "caffe"
    if any(k.startswith(("conv1.weight", "resnet50.conv1.weight")) for k in sd):
        return "torchvision"
    raise ValueError("neither a deeplab-pytorch/Caffe ResNet (layer1.conv1.conv.weight) nor a torchvision ResNet "
                     f"(conv1.weight); first key {next(iter(sd), 'none')}")


def backbone_weights(sd: dict) -> tuple[dict, str, list[str]]:
    """(base state dict without the ASPP, init kind, keys ignored) from an initialisation file's tensors."""
    kind = init_kind(sd)
    ignored = []
    if kind == "caffe":
        sd = {k[len("base."):] if k.startswith("base.") else k: v for k, v in sd.items()}
        out = {}
        for k, v in sd.items():
            if k.startswith("layer"):
                out[k] = v
            else:  # the COCO init's DeepLab-v1 ``fc``, ImageNet's ``fc``, a checkpoint's ASPP
                ignored.append(k)
        return out, kind, ignored
    if any(k.startswith("resnet50.") for k in sd):
        ignored = [k for k in sd if not k.startswith("resnet50.")]
        sd = {k[len("resnet50."):]: v for k, v in sd.items() if k.startswith("resnet50.")}
    ignored += [k for k in sd if k.startswith("fc.")]
    return torchvision_to_deeplab(sd), kind, ignored


def load_init_weights(model: MSC, path: str | os.PathLike) -> tuple[str, str]:
    """Load an initialisation into ``model.base``, skipping the ASPP as deeplab-pytorch does.

    Every backbone tensor must be in the file (a partial trunk is an error, not a silent random layer);
    returns (init kind, a one-line description).
    """
    from misc.fileio import load_state_dict

    sd = load_state_dict(Path(path))
    weights, kind, ignored = backbone_weights(sd)
    wanted = {k for k in model.base.state_dict() if not k.startswith("aspp.")}
    # Older files (IRN's resnet50-19c8e357.pth) predate num_batches_tracked; BatchNorm is frozen anyway.
    missing = sorted(k for k in wanted - set(weights) if not k.endswith("num_batches_tracked"))
    if missing:
        raise ValueError(f"{path} lacks {len(missing)} backbone tensors of this DeepLab-v2 (first: {missing[0]}); "
                         "is it a ResNet of the same depth (--seg_depth)?")
    extra = sorted(set(weights) - wanted)
    if extra:
        raise ValueError(f"{path} has {len(extra)} tensors this DeepLab-v2 does not (first: {extra[0]}); "
                         "is it a ResNet of the same depth (--seg_depth)?")
    model.base.load_state_dict(weights, strict=False)
    n_aspp = sum(1 for k in model.base.state_dict() if k.startswith("aspp."))
    return kind, (f"{path} ({kind} layout; {len(weights)} backbone tensors; ASPP's {n_aspp} tensors left at their "
                  f"initialisation; ignored: {', '.join(sorted(ignored)[:4]) or 'nothing'}"
                  f"{' ...' if len(ignored) > 4 else ''})")
