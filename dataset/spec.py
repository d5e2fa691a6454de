"""What a dataset is to the pipeline: a :class:`DatasetSpec` (where images, masks and lists live, the class
names), image-name lists, image-level label files and image reading."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps

from misc.errors import PipelineError
from misc.filecache import load_once

IGNORE = 255
# The official label files are VOC's; a list without a dataset falls back to its 20 classes.
DEFAULT_N_CLASSES = 20


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
    and folders of one's own images subclass it (``coco14/dataloader.py``, ``dataset/folder.py``).
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
    # Turn images by their EXIF orientation when reading them (own folders; see read_image).
    exif_transpose: bool = False

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

    def image_source(self, root: str | os.PathLike, name: str) -> ImageSource:
        """The image of ``name`` as pool workers read it."""
        return ImageSource(str(self.image_path(root, name)), self.exif_transpose)

    def load_image(self, root: str | os.PathLike, name: str) -> np.ndarray:
        """The RGB pixels of ``name``, turned by the EXIF orientation where the dataset says so."""
        return read_image(self.image_path(root, name), self.exif_transpose)

    def gt_path(self, root: str | os.PathLike, name: str) -> Path:
        base = Path(self.gt_root) if self.gt_root else Path(root) / self.gt_dir
        return base / f"{name}{self.gt_ext}"

    def load_gt(self, root: str | os.PathLike, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """The ground-truth mask of ``name`` after checking it: single-channel, of ``shape`` (the prediction's,
        which is the image's) and holding only 0..C and 255. A bad mask is an error naming the file, not a
        wrong score or an IndexError deep in the confusion matrix."""
        from misc.fileio import load_png

        path = self.gt_path(root, name)
        try:
            gt = load_png(path)
        except (FileNotFoundError, ValueError) as err:
            raise PipelineError(str(err)) from err
        problem = mask_problem(gt, self.n_classes, shape)
        if problem:
            raise PipelineError(f"ground truth {path}: {problem}")
        return gt

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


# File extensions of the images and masks a list line may name (the deeplab ``train_aug`` path form).
LIST_PATH_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def mask_problem(mask: np.ndarray, n_classes: int, shape: tuple[int, ...] | None = None) -> str | None:
    """What is wrong with a ground-truth mask for a dataset of ``n_classes`` classes, or None.

    A mask is a single-channel map of class indices: 0 background, 1..C the classes, 255 ignored; ``shape``
    (height, width) is the image's as displayed.
    """
    if mask.ndim != 2:
        return (f"has {mask.shape[-1]} channels; a mask is a single-channel (grayscale or palette) PNG of class "
                "indices, not a colour picture")
    if shape is not None and tuple(mask.shape) != tuple(shape[:2]):
        return (f"is {mask.shape[1]}x{mask.shape[0]} pixels but its image is {shape[1]}x{shape[0]}; draw the mask on "
                "the image as displayed (phone photos are turned by their EXIF orientation)")
    values = mask.astype(np.int64, copy=False)
    bad = values[(values > n_classes) & (values != IGNORE)]
    if bad.size:
        return (f"holds the value {int(bad.min())} ({bad.size} pixels), but the dataset has {n_classes} classes: "
                f"values must be 0 (background), 1..{n_classes} or {IGNORE} (ignored)")
    return None


def list_line_id(line: str) -> str:
    """The image ID of one list line ('' for a blank line).

    The rule: a line whose whitespace-separated fields (one or two) all end in an image extension and whose
    first field holds a ``/`` is a path line, deeplab's ``train_aug`` form
    ``/JPEGImages/2007_000032.jpg /SegmentationClassAug/2007_000032.png``; its ID is the first field's file name
    without the extension. Every other line is one ID, whole: spaces inside are part of it (``café photo``,
    ``cats/001``); only the line end (LF or CRLF) and whitespace at either end are dropped.
    ``python -m dataset.folder`` refuses an ID that this rule would not read back as itself.
    """
    line = line.strip()
    fields = line.split()
    if 1 <= len(fields) <= 2 and "/" in fields[0] and all(f.lower().endswith(LIST_PATH_EXTS) for f in fields):
        return PurePosixPath(fields[0]).stem
    return line


def load_img_name_list(dataset_path: str | os.PathLike | Sequence[str]) -> list[str]:
    """Image IDs as strings, from a list file (one ID per line; see :func:`list_line_id`) or a sequence."""
    if not isinstance(dataset_path, (str, os.PathLike)):
        return [str(n) for n in dataset_path]
    path = Path(dataset_path)
    if not path.is_file():
        raise PipelineError(f"image list {path} does not exist; create it with the dataset's prepare command "
                            "(python -m voc12.prepare, coco14.prepare or dataset.folder) or pass the right --*_list")
    text = path.read_text(encoding="utf-8-sig")
    return [name for name in map(list_line_id, text.splitlines()) if name]


def cls_label_dtype(n: int, name_length: int = 64) -> np.dtype:
    """The structured dtype of a class-label file: ``name`` (unicode, wide enough for the longest ID) and
    ``label`` (n floats)."""
    return np.dtype([("name", f"U{max(64, name_length)}"), ("label", np.float32, (n,))])


CLS_LABEL_DTYPE = cls_label_dtype


def lazy_cls_labels(module: str, path: str):
    """A module ``__getattr__`` that reads ``cls_labels_dict`` from ``path`` on first use: the official
    dataloaders load their (pickled) label file at import; ours read the pickle-free one only when asked."""

    def __getattr__(name: str):
        if name == "cls_labels_dict":
            return load_cls_labels(path)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


def save_cls_labels(path: str | os.PathLike, labels: dict[str, np.ndarray]) -> None:
    """Image-level labels as a structured array (no pickle): fields ``name`` and ``label``."""
    from misc.fileio import atomic_open

    n = len(next(iter(labels.values()))) if labels else DEFAULT_N_CLASSES
    if any(len(v) != n for v in labels.values()):
        raise ValueError("every image-level label must have the same number of classes")
    # The name field is as wide as the longest ID: a fixed width would cut long relative paths silently.
    width = max((len(k) for k in labels), default=0)
    arr = np.array([(k, v) for k, v in sorted(labels.items())], dtype=cls_label_dtype(n, width))
    with atomic_open(path) as f:
        np.save(f, arr, allow_pickle=False)


def load_cls_labels(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The class-label vectors of a prepared dataset by image ID, read once per process while the file is
    unchanged (COCO's is 71 MB and every step asks for it more than once); callers must not change it."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"class labels {path} do not exist; create them with the dataset's prepare command "
                            "(python -m voc12.prepare, coco14.prepare or dataset.folder) or pass --cls_labels")
    return load_once(path, _read_cls_labels, "cls_labels")


def _read_cls_labels(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise PipelineError(f"class labels {path} do not exist; create them with the dataset's prepare command "
                            "(python -m voc12.prepare, coco14.prepare or dataset.folder) or pass --cls_labels")
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
    width = n_classes or DEFAULT_N_CLASSES
    return np.stack([cls_labels[n] for n in names]) if names else np.zeros((0, width), np.float32)


def read_image(path: Path, exif_transpose: bool = False) -> np.ndarray:
    """An RGB uint8 image; missing or unreadable files raise an error that names them.

    ``exif_transpose`` turns the pixels as the EXIF orientation says, so a phone photo comes out as it is
    displayed (and as masks drawn on it in an annotation tool are). VOC and COCO read the raw pixels, as the
    official loaders and their annotations do; own folders (``dataset.folder``) read them turned.
    """
    if not path.is_file():
        raise PipelineError(f"image {path} is listed but does not exist; check the dataset root and the list")
    try:
        with Image.open(path) as img:
            if exif_transpose:
                img = ImageOps.exif_transpose(img)
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as err:
        raise PipelineError(f"image {path} cannot be decoded ({err}); replace the file or drop it from the "
                            "list") from err


@dataclass(frozen=True)
class ImageSource:
    """An image file and how to read it: what pool workers receive instead of the dataset spec."""

    path: str
    exif_transpose: bool = False

    def read(self) -> np.ndarray:
        return read_image(Path(self.path), self.exif_transpose)
