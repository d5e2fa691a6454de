"""Datasets of the segmentation network (DeepLab-v2): pseudo-mask training crops and full-size test images.

The training augmentation is deeplab-pytorch's: a scale drawn from a list, bilinear image / nearest label
resizing, padding to the crop (image with the mean pixel, label with 255) at the bottom and right, a random
crop and a random horizontal flip.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from misc.fileio import load_png
from net.deeplab_v2 import normalize_input
from voc12.dataloader import IGNORE, VOC12, DatasetSpec, read_image


def rescale_pair(img: torch.Tensor, label: np.ndarray, scale: float) -> tuple[torch.Tensor, np.ndarray]:
    """Resize a normalised CHW image (bilinear, no antialiasing, like cv2.INTER_LINEAR) and its label
    (PIL nearest, as deeplab-pytorch) to ``int(size * scale)``."""
    h, w = label.shape
    h, w = int(h * scale), int(w * scale)
    img = F.interpolate(img[None], size=(h, w), mode="bilinear", align_corners=False)[0]
    label = np.asarray(Image.fromarray(label).resize((w, h), resample=Image.NEAREST))
    return img, label


def pad_and_crop(img: torch.Tensor, label: np.ndarray, crop: int) -> tuple[torch.Tensor, np.ndarray]:
    """Pad bottom/right to ``crop`` (image with 0, the normalised mean; label with 255), then a random crop."""
    h, w = label.shape
    pad_h, pad_w = max(crop - h, 0), max(crop - w, 0)
    if pad_h or pad_w:
        img = F.pad(img, (0, pad_w, 0, pad_h), value=0.0)
        label = np.pad(label, ((0, pad_h), (0, pad_w)), constant_values=IGNORE)
    h, w = label.shape
    top, left = random.randint(0, h - crop), random.randint(0, w - crop)
    return img[:, top:top + crop, left:left + crop], label[top:top + crop, left:left + crop]


class PseudoMaskDataset(Dataset):
    """(image, pseudo mask) training crops for the segmentation network."""

    def __init__(self, names: Sequence[str], label_dir: str, root: str | Path, crop_size: int,
                 scales: Sequence[float], norm: str, flip: bool = True, spec: DatasetSpec = VOC12):
        self.names, self.label_dir, self.root = list(names), Path(label_dir), Path(root)
        self.crop_size, self.scales, self.norm, self.flip, self.spec = crop_size, tuple(scales), norm, flip, spec

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, idx: int) -> dict:
        name = self.names[idx]
        img = torch.from_numpy(normalize_input(read_image(self.spec.image_path(self.root, name)), self.norm))
        label = load_png(self.label_dir / f"{name}.png")
        img, label = rescale_pair(img, label, random.choice(self.scales))
        img, label = pad_and_crop(img, label, self.crop_size)
        if self.flip and random.random() < 0.5:
            img, label = img.flip(-1), label[:, ::-1]
        return {"name": name, "img": img.contiguous(), "label": torch.from_numpy(label.astype(np.int64))}


class SegmentationImages(Dataset):
    """Full-size images for inference: the normalised input, the RGB pixels (for the CRF) and the size."""

    def __init__(self, names: Sequence[str], root: str | Path, norm: str, spec: DatasetSpec = VOC12):
        self.names, self.root, self.norm, self.spec = list(names), Path(root), norm, spec

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, idx: int) -> dict:
        name = self.names[idx]
        rgb = read_image(self.spec.image_path(self.root, name))
        return {"name": name, "img": torch.from_numpy(normalize_input(rgb, self.norm)), "size": rgb.shape[:2]}
