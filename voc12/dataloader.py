"""PASCAL VOC 2012 datasets with the official preprocessing.

Everything dataset-specific (class names, folder names, file extensions) lives
in a :class:`DatasetSpec`, so another dataset (COCO 2014) plugs in by passing
its own spec instead of copying these classes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from misc import imutils
from misc.errors import PipelineError

IGNORE = 255

CAT_LIST = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
            'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
            'tvmonitor')
N_CAT = len(CAT_LIST)
CAT_NAME_TO_NUM = {name: i for i, name in enumerate(CAT_LIST)}


def voc_palette(n: int = 256) -> np.ndarray:
    """The standard VOC colour map (n x 3, uint8); index 255 is the void colour."""
    palette = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette[i] = (r, g, b)
    return palette


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset keeps its images and masks, and its class names (without background).

    Every step reads the dataset through this object: image and ground-truth
    paths, the evaluation lists, the class count and the palette. COCO 2014
    and folders of one's own images subclass it (``coco14/``, ``voc12/folder.py``).
    """

    name: str
    class_names: tuple[str, ...]
    image_dir: str = "JPEGImages"
    image_ext: str = ".jpg"
    gt_dir: str = "SegmentationClass"
    gt_ext: str = ".png"
    list_dir: str = "ImageSets/Segmentation"
    root_flag: str = "--voc12_root"
    prepare_command: str = "python -m voc12.prepare --voc12_root DIR"
    gt_root: str | None = None
    instance_dir: str | None = "SegmentationObject"

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def category_ids(self) -> tuple[int, ...]:
        """The COCO-format category id of each class: 1..C (COCO overrides with its official ids)."""
        return tuple(range(1, self.n_classes + 1))

    def image_file_name(self, root: str | os.PathLike, name: str) -> str:
        """The image's path relative to the image folder (detectron2's ``image_root``); absolute where the image
        lies elsewhere (an own folder's images stay where they were imported from)."""
        path = self.image_path(root, name)
        try:
            return path.relative_to(Path(root) / self.image_dir).as_posix()
        except ValueError:
            return str(path.resolve())

    def image_path(self, root: str | os.PathLike, name: str) -> Path:
        return Path(root) / self.image_dir / f"{name}{self.image_ext}"

    def gt_path(self, root: str | os.PathLike, name: str) -> Path:
        base = Path(self.gt_root) if self.gt_root else Path(root) / self.gt_dir
        return base / f"{name}{self.gt_ext}"

    def gt_location(self, root: str | os.PathLike) -> str:
        """Where the ground truth is looked for, for messages and records."""
        return str(Path(self.gt_root) if self.gt_root else Path(root) / self.gt_dir)

    def split_path(self, root: str | os.PathLike, split: str) -> Path:
        return Path(root) / self.list_dir / f"{split}.txt"

    def has_ground_truth(self, root: str | os.PathLike) -> bool:
        """Whether pixel-level ground truth exists, so the eval steps can score."""
        return Path(self.gt_location(root).replace("{train2014,val2014}", "")).is_dir()

    def instance_path(self, root: str | os.PathLike, name: str) -> Path:
        """The instance-id PNG of an image (VOC's SegmentationObject/)."""
        return Path(root) / (self.instance_dir or "") / f"{name}{self.gt_ext}"

    def has_instances(self, root: str | os.PathLike) -> bool:
        """Whether instance ground truth exists, so eval_ins_seg can score."""
        return self.instance_dir is not None and (Path(root) / self.instance_dir).is_dir()

    def palette(self) -> np.ndarray:
        return voc_palette()

    def check_root(self, root: str | os.PathLike | None) -> Path:
        """The dataset root, after checking it has the image folder."""
        if root is None:
            raise PipelineError(f"--dataset {self.name} needs {self.root_flag} DIR")
        root = Path(root)
        if not root.is_dir():
            raise PipelineError(f"dataset root {root} does not exist; pass {self.root_flag} pointing at it")
        if not (root / self.image_dir).is_dir():
            raise PipelineError(f"{root} has no {self.image_dir}/ folder; {self.root_flag} must be the VOC2012 "
                                "folder of VOCdevkit (the one holding JPEGImages/)")
        return root


VOC12 = DatasetSpec("voc12", CAT_LIST)


# Lists, labels and files -------------------------------------------------------

def load_img_name_list(dataset_path: str | os.PathLike | Sequence[str]) -> list[str]:
    """Image IDs as strings, from a list file (one ID, or an image path, per line) or a sequence."""
    if not isinstance(dataset_path, (str, os.PathLike)):
        return [str(n) for n in dataset_path]
    path = Path(dataset_path)
    if not path.is_file():
        raise PipelineError(f"image list {path} does not exist; create it with the dataset's prepare command "
                            "(python -m voc12.prepare, coco14.prepare or voc12.folder) or pass the right --*_list")
    names = []
    for line in path.read_text().splitlines():
        token = line.split()[0] if line.split() else ""
        if token:
            names.append(Path(token).stem if "/" in token else token)
    return names


CLS_LABEL_DTYPE = lambda n: np.dtype([("name", "U64"), ("label", np.float32, (n,))])  # noqa: E731


def save_cls_labels(path: str | os.PathLike, labels: dict[str, np.ndarray]) -> None:
    """Image-level labels as a structured array (no pickle): fields ``name`` and ``label``."""
    from misc.fileio import atomic_open

    n = len(next(iter(labels.values()))) if labels else N_CAT
    if any(len(v) != n for v in labels.values()):
        raise ValueError("every image-level label must have the same number of classes")
    arr = np.array([(k, v) for k, v in sorted(labels.items())], dtype=CLS_LABEL_DTYPE(n))
    with atomic_open(path) as f:
        np.save(f, arr, allow_pickle=False)


def load_cls_labels(path: str | os.PathLike) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"class labels {path} do not exist; create them with the dataset's prepare command "
                            "(python -m voc12.prepare, coco14.prepare or voc12.folder) or pass --cls_labels")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise PipelineError(f"{path} is a pickled file (the official cls_labels.npy?); we do not load pickles. "
                            "Recreate it with the dataset's prepare command (python -m voc12.prepare ...)") from err
    except (OSError, EOFError) as err:
        raise PipelineError(f"class labels {path} cannot be read ({err}); recreate them with the prepare "
                            "command") from err
    if arr.dtype.names != ("name", "label"):
        raise PipelineError(f"{path} is not a class-label file of this project (fields name, label); recreate it "
                            "with the dataset's prepare command")
    return {str(r["name"]): np.asarray(r["label"], np.float32) for r in arr}


def labels_for(names: Sequence[str], cls_labels: dict[str, np.ndarray], source: str,
               n_classes: int | None = None) -> np.ndarray:
    """The label vectors of ``names``; every name must have one, of ``n_classes`` entries."""
    missing = [n for n in names if n not in cls_labels]
    if missing:
        raise PipelineError(f"{len(missing)} listed images have no class label in {source} (first: {missing[0]}); "
                            "rerun the prepare command on the dataset these lists come from")
    if n_classes is not None and cls_labels:
        found = len(next(iter(cls_labels.values())))
        if found != n_classes:
            raise PipelineError(f"{source} has {found} classes per image but the dataset has {n_classes}; pass "
                                "the label file of this dataset (--cls_labels) or the right --dataset")
    width = n_classes or N_CAT
    return np.stack([cls_labels[n] for n in names]) if names else np.zeros((0, width), np.float32)


def read_image(path: Path) -> np.ndarray:
    """An RGB uint8 image; missing or unreadable files raise an error that names them."""
    if not path.is_file():
        raise PipelineError(f"image {path} is listed but does not exist; check the dataset root and the list")
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as err:
        raise PipelineError(f"image {path} cannot be decoded ({err}); replace the file or drop it from the "
                            "list") from err


def check_root(root: str | os.PathLike, spec: DatasetSpec = VOC12) -> Path:
    return spec.check_root(root)


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

    def __init__(self, indices_from: np.ndarray, indices_to: np.ndarray, n_classes: int = N_CAT):
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


# Datasets -------------------------------------------------------------------

class VOC12ImageDataset(Dataset):
    def __init__(self, img_name_list_path, voc12_root, resize_long=None, rescale=None,
                 img_normal=TorchvisionNormalize(), hor_flip=False, crop_size=None, crop_method=None,
                 to_torch=True, spec: DatasetSpec = VOC12):
        self.spec = spec
        self.voc12_root = check_root(voc12_root, spec)
        self.img_name_list = load_img_name_list(img_name_list_path)
        self.resize_long = resize_long
        self.rescale = rescale
        self.crop_size = crop_size
        self.img_normal = img_normal
        self.hor_flip = hor_flip
        self.crop_method = crop_method
        self.to_torch = to_torch

    def __len__(self) -> int:
        return len(self.img_name_list)

    def load_image(self, name: str) -> np.ndarray:
        return read_image(self.spec.image_path(self.voc12_root, name))

    def __getitem__(self, idx: int) -> dict:
        name = self.img_name_list[idx]
        img = self.load_image(name)
        if self.resize_long:
            img = imutils.random_resize_long(img, self.resize_long[0], self.resize_long[1])
        if self.rescale:
            img = imutils.random_scale(img, scale_range=self.rescale, order=3)
        if self.img_normal:
            img = self.img_normal(img)
        if self.hor_flip:
            img = imutils.random_lr_flip(img)
        if self.crop_size:
            if self.crop_method == "random":
                img = imutils.random_crop(img, self.crop_size, 0)
            else:
                img = imutils.top_left_crop(img, self.crop_size, 0)
        if self.to_torch:
            img = imutils.HWC_to_CHW(img)
        return {"name": name, "img": img}


class VOC12ClassificationDataset(VOC12ImageDataset):
    def __init__(self, img_name_list_path, voc12_root, resize_long=None, rescale=None,
                 img_normal=TorchvisionNormalize(), hor_flip=False, crop_size=None, crop_method=None,
                 cls_labels="voc12/cls_labels.npy", spec: DatasetSpec = VOC12):
        super().__init__(img_name_list_path, voc12_root, resize_long, rescale, img_normal, hor_flip,
                         crop_size, crop_method, spec=spec)
        self.label_list = labels_for(self.img_name_list, _as_label_dict(cls_labels), str(cls_labels),
                                     spec.n_classes)

    def __getitem__(self, idx: int) -> dict:
        out = super().__getitem__(idx)
        out["label"] = torch.from_numpy(self.label_list[idx])
        return out


class VOC12ClassificationDatasetMSF(VOC12ClassificationDataset):
    """Multi-scale inputs, each a stacked (image, flipped image) pair."""

    def __init__(self, img_name_list_path, voc12_root, img_normal=TorchvisionNormalize(), scales=(1.0,),
                 cls_labels="voc12/cls_labels.npy", spec: DatasetSpec = VOC12):
        super().__init__(img_name_list_path, voc12_root, img_normal=img_normal, cls_labels=cls_labels, spec=spec)
        self.scales = tuple(scales)

    def __getitem__(self, idx: int) -> dict:
        name = self.img_name_list[idx]
        img = self.load_image(name)
        ms_img_list = []
        for s in self.scales:
            s_img = img if s == 1 else imutils.pil_rescale(img, s, order=3)
            s_img = imutils.HWC_to_CHW(self.img_normal(s_img))
            ms_img_list.append(np.stack([s_img, np.flip(s_img, -1)], axis=0))
        return {"name": name, "img": ms_img_list, "size": (img.shape[0], img.shape[1]),
                "label": torch.from_numpy(self.label_list[idx])}


class VOC12SegmentationDataset(Dataset):
    """Images with seed PNGs (for AMN and IRN); 255 pads the label where the crop leaves the image."""

    def __init__(self, img_name_list_path, label_dir, crop_size, voc12_root, rescale=None,
                 img_normal=TorchvisionNormalize(), hor_flip=False, crop_method="random",
                 cls_labels="voc12/cls_labels.npy", spec: DatasetSpec = VOC12):
        self.spec = spec
        self.voc12_root = check_root(voc12_root, spec)
        self.img_name_list = load_img_name_list(img_name_list_path)
        self.label_dir = Path(label_dir)
        if not self.label_dir.is_dir():
            raise PipelineError(f"seed folder {self.label_dir} does not exist; run the *_to_ir_label step first")
        self.rescale = rescale
        self.crop_size = crop_size
        self.img_normal = img_normal
        self.hor_flip = hor_flip
        self.crop_method = crop_method
        self.label_list = labels_for(self.img_name_list, _as_label_dict(cls_labels), str(cls_labels),
                                     spec.n_classes)

    def __len__(self) -> int:
        return len(self.img_name_list)

    def load_pair(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        from misc.fileio import load_png

        img = read_image(self.spec.image_path(self.voc12_root, name))
        label_path = self.label_dir / f"{name}.png"
        label = load_png(label_path)
        if label.shape != img.shape[:2]:
            raise PipelineError(f"label {label_path} is {label.shape[1]}x{label.shape[0]} but its image is "
                             f"{img.shape[1]}x{img.shape[0]}; regenerate the seeds for this dataset")
        return img, label

    def __getitem__(self, idx: int) -> dict:
        name = self.img_name_list[idx]
        img, label = self.load_pair(name)
        if self.rescale:
            img, label = imutils.random_scale((img, label), scale_range=self.rescale, order=(3, 0))
        if self.img_normal:
            img = self.img_normal(img)
        if self.hor_flip:
            img, label = imutils.random_lr_flip((img, label))
        if self.crop_method == "random":
            img, label = imutils.random_crop((img, label), self.crop_size, (0, IGNORE))
        elif self.crop_method != "none":
            img = imutils.top_left_crop(img, self.crop_size, 0)
            label = imutils.top_left_crop(label, self.crop_size, IGNORE)
        return {"name": name, "img": imutils.HWC_to_CHW(img), "label": np.ascontiguousarray(label),
                "label_cls": torch.from_numpy(self.label_list[idx])}


class VOC12AffinityDataset(VOC12SegmentationDataset):
    """Seeds downsampled x0.25 (nearest) and turned into IRN's pair labels."""

    def __init__(self, img_name_list_path, label_dir, crop_size, voc12_root, indices_from, indices_to,
                 rescale=None, img_normal=TorchvisionNormalize(), hor_flip=False, crop_method=None,
                 cls_labels="voc12/cls_labels.npy", spec: DatasetSpec = VOC12):
        super().__init__(img_name_list_path, label_dir, crop_size, voc12_root, rescale, img_normal, hor_flip,
                         crop_method=crop_method, cls_labels=cls_labels, spec=spec)
        self.extract_aff_lab_func = GetAffinityLabelFromIndices(indices_from, indices_to, spec.n_classes)

    def __getitem__(self, idx: int) -> dict:
        out = super().__getitem__(idx)
        reduced_label = imutils.pil_rescale(out["label"], 0.25, 0)
        out["aff_bg_pos_label"], out["aff_fg_pos_label"], out["aff_neg_label"] = \
            self.extract_aff_lab_func(reduced_label)
        return out


def _as_label_dict(cls_labels) -> dict[str, np.ndarray]:
    return cls_labels if isinstance(cls_labels, dict) else load_cls_labels(cls_labels)
