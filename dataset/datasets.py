"""The dataset classes of every step, for any :class:`~dataset.spec.DatasetSpec`.

Classification crops (train_cam), multi-scale flip pairs (make_cam, make_amn_cam, IRN inference), seed crops
(train_amn), IRN's pair labels (train_irn), pseudo-mask crops (train_seg) and full-size test images
(make_seg). ``voc12.dataloader`` and ``coco14.dataloader`` give them their official names.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from dataset.spec import DatasetSpec, labels_for, load_cls_labels, load_img_name_list
from dataset.transforms import (
    GetAffinityLabelFromIndices,
    MultiScaleFlipPairs,
    TorchvisionNormalize,
    irn_augmentation,
)
from misc import imutils
from misc.errors import PipelineError
from misc.fileio import load_png
from net.deeplab_v2 import normalize_input


class ImageDataset(Dataset):
    """Images of a list through IRN's augmentation chain (:func:`dataset.transforms.irn_augmentation`, built
    from the official arguments; ``transform`` holds it)."""

    def __init__(self, img_name_list_path, root, resize_long=None, rescale=None,
                 img_normal=TorchvisionNormalize(), hor_flip=False, crop_size=None, crop_method=None,
                 to_torch=True, *, spec: DatasetSpec):
        self.spec = spec
        self.root = spec.check_root(root)
        self.img_name_list = load_img_name_list(img_name_list_path)
        self.resize_long = resize_long
        self.rescale = rescale
        self.crop_size = crop_size
        self.img_normal = img_normal
        self.hor_flip = hor_flip
        self.crop_method = crop_method
        self.to_torch = to_torch
        self.transform = irn_augmentation(resize_long, rescale, img_normal, hor_flip, crop_size, crop_method,
                                          to_chw=to_torch)

    def __len__(self) -> int:
        return len(self.img_name_list)

    def load_image(self, name: str) -> np.ndarray:
        return self.spec.load_image(self.root, name)

    def __getitem__(self, idx: int) -> dict:
        name = self.img_name_list[idx]
        img, _ = self.transform(self.load_image(name))
        return {"name": name, "img": img}


class ClassificationDataset(ImageDataset):
    def __init__(self, img_name_list_path, root, resize_long=None, rescale=None,
                 img_normal=TorchvisionNormalize(), hor_flip=False, crop_size=None, crop_method=None,
                 cls_labels=None, *, spec: DatasetSpec):
        super().__init__(img_name_list_path, root, resize_long, rescale, img_normal, hor_flip,
                         crop_size, crop_method, spec=spec)
        self.label_list = labels_for(self.img_name_list, _as_label_dict(cls_labels), str(cls_labels),
                                     spec.n_classes)

    def __getitem__(self, idx: int) -> dict:
        out = super().__getitem__(idx)
        out["label"] = torch.from_numpy(self.label_list[idx])
        return out


class ClassificationDatasetMSF(ClassificationDataset):
    """Multi-scale inputs, each a stacked (image, flipped image) pair."""

    def __init__(self, img_name_list_path, root, img_normal=TorchvisionNormalize(), scales=(1.0,),
                 cls_labels=None, *, spec: DatasetSpec):
        super().__init__(img_name_list_path, root, img_normal=img_normal, cls_labels=cls_labels, spec=spec)
        self.scales = tuple(scales)
        self.transform = MultiScaleFlipPairs(self.scales, img_normal)

    def __getitem__(self, idx: int) -> dict:
        name = self.img_name_list[idx]
        img = self.load_image(name)
        ms_img_list, _ = self.transform(img)
        return {"name": name, "img": ms_img_list, "size": (img.shape[0], img.shape[1]),
                "label": torch.from_numpy(self.label_list[idx])}


class SeedDataset(Dataset):
    """Images with seed PNGs (for AMN and IRN) through IRN's augmentation chain, jointly; 255 pads the label
    where the crop leaves the image."""

    def __init__(self, img_name_list_path, label_dir, crop_size, root, rescale=None,
                 img_normal=TorchvisionNormalize(), hor_flip=False, crop_method="random",
                 cls_labels=None, *, spec: DatasetSpec):
        self.spec = spec
        self.root = spec.check_root(root)
        self.img_name_list = load_img_name_list(img_name_list_path)
        self.label_dir = Path(label_dir)
        if not self.label_dir.is_dir():
            raise PipelineError(f"seed folder {self.label_dir} does not exist; run the *_to_ir_label step first")
        self.rescale = rescale
        self.crop_size = crop_size
        self.img_normal = img_normal
        self.hor_flip = hor_flip
        self.crop_method = crop_method
        self.transform = irn_augmentation(None, rescale, img_normal, hor_flip, crop_size, crop_method)
        self.label_list = labels_for(self.img_name_list, _as_label_dict(cls_labels), str(cls_labels),
                                     spec.n_classes)

    def __len__(self) -> int:
        return len(self.img_name_list)

    def load_pair(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        img = self.spec.load_image(self.root, name)
        label_path = self.label_dir / f"{name}.png"
        label = load_png(label_path)
        if label.shape != img.shape[:2]:
            raise PipelineError(f"label {label_path} is {label.shape[1]}x{label.shape[0]} but its image is "
                             f"{img.shape[1]}x{img.shape[0]}; regenerate the seeds for this dataset")
        return img, label

    def __getitem__(self, idx: int) -> dict:
        name = self.img_name_list[idx]
        img, label = self.transform(*self.load_pair(name))
        return {"name": name, "img": img, "label": label,
                "label_cls": torch.from_numpy(self.label_list[idx])}


class AffinityDataset(SeedDataset):
    """Seeds downsampled x0.25 (nearest) and turned into IRN's pair labels."""

    def __init__(self, img_name_list_path, label_dir, crop_size, root, indices_from, indices_to,
                 rescale=None, img_normal=TorchvisionNormalize(), hor_flip=False, crop_method=None,
                 cls_labels=None, *, spec: DatasetSpec):
        super().__init__(img_name_list_path, label_dir, crop_size, root, rescale, img_normal, hor_flip,
                         crop_method=crop_method, cls_labels=cls_labels, spec=spec)
        self.extract_aff_lab_func = GetAffinityLabelFromIndices(indices_from, indices_to, spec.n_classes)

    def __getitem__(self, idx: int) -> dict:
        out = super().__getitem__(idx)
        reduced_label = imutils.pil_rescale(out["label"], 0.25, 0)
        out["aff_bg_pos_label"], out["aff_fg_pos_label"], out["aff_neg_label"] = \
            self.extract_aff_lab_func(reduced_label)
        return out


def _as_label_dict(cls_labels) -> dict[str, np.ndarray]:
    if cls_labels is None:
        raise TypeError("cls_labels is required: a label file (--cls_labels) or a dict of label vectors")
    return cls_labels if isinstance(cls_labels, dict) else load_cls_labels(cls_labels)


class PseudoMaskDataset(Dataset):
    """(image, pseudo mask) training pairs for the segmentation network: the image normalised for the network
    (``norm``), then image and mask through ``transform`` (deeplab-pytorch's augmentation,
    :func:`dataset.transforms.deeplab_augmentation`)."""

    def __init__(self, names: Sequence[str], label_dir: str, root: str | Path, norm: str, transform: Callable, *,
                 spec: DatasetSpec):
        self.names, self.label_dir, self.root = list(names), Path(label_dir), Path(root)
        self.norm, self.transform, self.spec = norm, transform, spec

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, idx: int) -> dict:
        name = self.names[idx]
        img = torch.from_numpy(normalize_input(self.spec.load_image(self.root, name), self.norm))
        img, label = self.transform(img, load_png(self.label_dir / f"{name}.png"))
        return {"name": name, "img": img.contiguous(), "label": torch.from_numpy(label.astype(np.int64))}


class SegmentationImages(Dataset):
    """Full-size images for inference: the normalised input, the RGB pixels (for the CRF) and the size."""

    def __init__(self, names: Sequence[str], root: str | Path, norm: str, *, spec: DatasetSpec):
        self.names, self.root, self.norm, self.spec = list(names), Path(root), norm, spec

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, idx: int) -> dict:
        name = self.names[idx]
        rgb = self.spec.load_image(self.root, name)
        return {"name": name, "img": torch.from_numpy(normalize_input(rgb, self.norm)), "size": rgb.shape[:2]}


def named_for(cls: type, official_name: str, root_keyword: str, spec: DatasetSpec, cls_labels: str,
              module: str) -> type:
    """``cls`` under a dataset's official name (``VOC12ClassificationDataset``, ``COCO14...``): the root may be
    passed as ``root_keyword`` (``voc12_root``), and the spec and label file default to the dataset's."""

    def __init__(self, *args, spec: DatasetSpec = spec, **kwargs):
        if root_keyword in kwargs:
            kwargs["root"] = kwargs.pop(root_keyword)
        if "cls_labels" in inspect.signature(cls).parameters and "cls_labels" not in kwargs:
            kwargs["cls_labels"] = cls_labels
        cls.__init__(self, *args, spec=spec, **kwargs)

    # Defined in ``module`` under its own name, so instances pickle to spawned inference workers.
    named = type(official_name, (cls,), {"__init__": __init__, "__module__": module,
                                         "__doc__": f"{cls.__doc__ or cls.__name__} ({spec.name})"})
    setattr(named, root_keyword, property(lambda self: self.root))
    return named
