"""Joint image and label transforms (torchvision's ``references/segmentation/transforms.py`` style): small
transform objects that take and return ``(image, label)`` (``label`` None for images alone), chained by
:class:`Compose`. Every dataset runs one such chain: IRN's augmentations (:func:`irn_augmentation`, built from the
official dataset arguments), deeplab-pytorch's for the segmentation network (:func:`deeplab_augmentation`), and
the multi-scale flip pairs of inference (:class:`MultiScaleFlipPairs`). Each transform draws from Python's
``random`` exactly as the official code does, so a seed gives the official crops.

Also the official ImageNet normalisation and IRN's pair labels.
"""
from __future__ import annotations

import random
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from dataset.spec import DEFAULT_N_CLASSES, IGNORE
from misc import imutils


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


# Joint transforms ---------------------------------------------------------------------------------------------

class Compose:
    """Apply ``transforms`` in order to ``(image, label)``."""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, image, label=None):
        for t in self.transforms:
            image, label = t(image, label)
        return image, label

    def __repr__(self) -> str:
        return f"Compose({self.transforms})"


def _both(image, label, fn: Callable):
    """``fn`` on the image alone, or on the (image, label) tuple at once (one random draw for both)."""
    if label is None:
        return fn(image), None
    return fn((image, label))


class RandomResizeLong:
    """The long side to a random length in [min_long, max_long] (bicubic; nearest for a label)."""

    def __init__(self, min_long: int, max_long: int):
        self.min_long, self.max_long = min_long, max_long

    def __call__(self, image, label=None):
        target_long = random.randint(self.min_long, self.max_long)
        h, w = image.shape[:2]
        scale = target_long / (h if w < h else w)
        return imutils.pil_rescale(image, scale, 3), None if label is None else imutils.pil_rescale(label, scale, 0)

    def __repr__(self) -> str:
        return f"RandomResizeLong({self.min_long}, {self.max_long})"


class RandomScale:
    """One random factor in ``scale_range`` for image (bicubic) and label (nearest)."""

    def __init__(self, scale_range: Sequence[float]):
        self.scale_range = tuple(scale_range)

    def __call__(self, image, label=None):
        if label is None:
            return imutils.random_scale(image, scale_range=self.scale_range, order=3), None
        return imutils.random_scale((image, label), scale_range=self.scale_range, order=(3, 0))

    def __repr__(self) -> str:
        return f"RandomScale({self.scale_range})"


class Normalize:
    """The image through ``normal`` (:class:`TorchvisionNormalize` for IRN's networks); the label unchanged."""

    def __init__(self, normal: Callable):
        self.normal = normal

    def __call__(self, image, label=None):
        return self.normal(image), label

    def __repr__(self) -> str:
        return "Normalize()"


class RandomHorizontalFlip:
    """Mirror image and label together with probability 1/2 (one random bit, as the official code)."""

    def __call__(self, image, label=None):
        return _both(image, label, imutils.random_lr_flip)

    def __repr__(self) -> str:
        return "RandomHorizontalFlip()"


class RandomCrop:
    """A random ``size`` square of image and label at the same window; padded with 0 (image) and 255 (label)."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, image, label=None):
        if label is None:
            return imutils.random_crop(image, self.size, 0), None
        return imutils.random_crop((image, label), self.size, (0, IGNORE))

    def __repr__(self) -> str:
        return f"RandomCrop({self.size})"


class TopLeftCrop:
    """The top-left ``size`` square of image and label; padded with 0 (image) and 255 (label)."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, image, label=None):
        return (imutils.top_left_crop(image, self.size, 0),
                None if label is None else imutils.top_left_crop(label, self.size, IGNORE))

    def __repr__(self) -> str:
        return f"TopLeftCrop({self.size})"


class ToCHW:
    """HWC image arrays to contiguous CHW (the networks' layout); a label stays a contiguous HW array."""

    def __call__(self, image, label=None):
        return imutils.HWC_to_CHW(image), None if label is None else np.ascontiguousarray(label)

    def __repr__(self) -> str:
        return "ToCHW()"


# The official datasets' ``crop_method`` names; any other value with a crop size is the top-left crop, as there.
CROPS = {"random": RandomCrop, "top_left": TopLeftCrop}


def irn_augmentation(resize_long=None, rescale=None, img_normal=None, hor_flip: bool = False, crop_size=None,
                     crop_method=None, to_chw: bool = True) -> Compose:
    """IRN's and AMN's dataset pipeline from the official dataset arguments, in the official order: random
    long-side resize, random scale, normalisation, flip, crop (``crop_method`` "none": no crop), CHW."""
    transforms = []
    if resize_long:
        transforms.append(RandomResizeLong(resize_long[0], resize_long[1]))
    if rescale:
        transforms.append(RandomScale(rescale))
    if img_normal:
        transforms.append(Normalize(img_normal))
    if hor_flip:
        transforms.append(RandomHorizontalFlip())
    if crop_size and crop_method != "none":
        transforms.append(CROPS.get(crop_method, TopLeftCrop)(crop_size))
    if to_chw:
        transforms.append(ToCHW())
    return Compose(transforms)


class DeeplabRescale:
    """deeplab-pytorch's random scale: one of ``scales``, bilinear (no antialiasing) for the normalised CHW image
    tensor, PIL nearest for the label, sizes truncated as cv2's."""

    def __init__(self, scales: Sequence[float]):
        self.scales = tuple(scales)

    def __call__(self, image, label):
        return rescale_pair(image, label, random.choice(self.scales))

    def __repr__(self) -> str:
        return f"DeeplabRescale({self.scales})"


class PadRandomCrop:
    """deeplab-pytorch's crop: pad bottom/right to ``size`` (image 0, label 255), then a random ``size`` square."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, image, label):
        return pad_and_crop(image, label, self.size)

    def __repr__(self) -> str:
        return f"PadRandomCrop({self.size})"


class TensorHorizontalFlip:
    """deeplab-pytorch's flip of a CHW tensor and its label, with probability 1/2 (``random.random() < 0.5``)."""

    def __call__(self, image, label):
        if random.random() < 0.5:
            return image.flip(-1), label[:, ::-1]
        return image, label

    def __repr__(self) -> str:
        return "TensorHorizontalFlip()"


def deeplab_augmentation(scales: Sequence[float], crop_size: int, flip: bool = True) -> Compose:
    """The segmentation network's training augmentation, as deeplab-pytorch's VOC dataset: rescale, pad and
    crop, flip."""
    return Compose([DeeplabRescale(scales), PadRandomCrop(crop_size), *([TensorHorizontalFlip()] if flip else [])])


class MultiScaleFlipPairs:
    """Inference inputs: for each scale the (image, mirrored image) pair, normalised and CHW (bicubic rescale)."""

    def __init__(self, scales: Sequence[float], img_normal: Callable):
        self.scales, self.img_normal = tuple(scales), img_normal

    def __call__(self, image, label=None):
        pairs = []
        for s in self.scales:
            s_img = image if s == 1 else imutils.pil_rescale(image, s, order=3)
            s_img = imutils.HWC_to_CHW(self.img_normal(s_img))
            pairs.append(np.stack([s_img, np.flip(s_img, -1)], axis=0))
        return pairs, label

    def __repr__(self) -> str:
        return f"MultiScaleFlipPairs({self.scales})"
