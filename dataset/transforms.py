"""Image and label transforms: the official ImageNet normalisation, IRN's pair labels, and the segmentation
network's deeplab-pytorch augmentation (rescale, pad, crop)."""
from __future__ import annotations

import random

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from dataset.spec import DEFAULT_N_CLASSES, IGNORE


class TorchvisionNormalize:
    """ImageNet mean/std normalisation, computed as the official code does: per channel on ``img / 255.``
    (float64 for uint8 images) with Python-float mean and std, stored as float32."""

    def __init__(self, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)):
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    def __call__(self, img: np.ndarray) -> np.ndarray:
        img = np.asarray(img)
        out = np.empty_like(img, np.float32)
        for c in range(3):
            out[..., c] = (img[..., c] / 255. - self.mean[c]) / self.std[c]
        return out


class GetAffinityLabelFromIndices:
    """Background-positive, foreground-positive and negative pair labels of a seed map."""

    def __init__(self, indices_from: np.ndarray, indices_to: np.ndarray, n_classes: int = DEFAULT_N_CLASSES):
        self.indices_from = indices_from
        self.indices_to = indices_to
        self.n_labels = n_classes + 1

    def __call__(self, segm_map: np.ndarray):
        flat = np.reshape(segm_map, -1)
        label_from = np.expand_dims(flat[self.indices_from], axis=0)
        label_to = flat[self.indices_to]
        valid = np.logical_and(label_from < self.n_labels, label_to < self.n_labels)
        equal = label_from == label_to
        pos = np.logical_and(equal, valid)
        # uint8, not float32: a batch of 32 crops of 512 holds about 190 M pair labels, which travel through
        # the loader workers' shared memory; train_irn makes them float on the device.
        bg_pos = np.logical_and(pos, label_from == 0).astype(np.uint8)
        fg_pos = np.logical_and(pos, label_from > 0).astype(np.uint8)
        neg = np.logical_and(~equal, valid).astype(np.uint8)
        return torch.from_numpy(bg_pos), torch.from_numpy(fg_pos), torch.from_numpy(neg)


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
