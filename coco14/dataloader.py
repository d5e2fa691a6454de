"""MS COCO 2014 for the pipeline: its 80 classes, its folders, and the official dataset class names.

Image IDs are the 12-digit strings of the official lists (``000000000009``).
Images are found in the official download layout (``train2014/COCO_train2014_<id>.jpg``,
``val2014/COCO_val2014_<id>.jpg``) or in the official AMN layout (``JPEGImages/train2014/...``);
ground truth is ``SegmentationClass/{train2014,val2014}/<id>.png`` (written by
``python -m coco14.prepare``) or ``--gt_dir DIR/<id>.png``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dataset import datasets as _datasets
from dataset.registry import DatasetEntry, register_dataset, suffixed_outputs
from dataset.spec import DatasetSpec
from misc.errors import PipelineError

# (COCO category id, name) in increasing id order; label index i is the i-th entry, mask value i + 1.
CATEGORIES = (
    (1, "person"), (2, "bicycle"), (3, "car"), (4, "motorcycle"), (5, "airplane"), (6, "bus"), (7, "train"),
    (8, "truck"), (9, "boat"), (10, "traffic light"), (11, "fire hydrant"), (13, "stop sign"),
    (14, "parking meter"), (15, "bench"), (16, "bird"), (17, "cat"), (18, "dog"), (19, "horse"), (20, "sheep"),
    (21, "cow"), (22, "elephant"), (23, "bear"), (24, "zebra"), (25, "giraffe"), (27, "backpack"),
    (28, "umbrella"), (31, "handbag"), (32, "tie"), (33, "suitcase"), (34, "frisbee"), (35, "skis"),
    (36, "snowboard"), (37, "sports ball"), (38, "kite"), (39, "baseball bat"), (40, "baseball glove"),
    (41, "skateboard"), (42, "surfboard"), (43, "tennis racket"), (44, "bottle"), (46, "wine glass"),
    (47, "cup"), (48, "fork"), (49, "knife"), (50, "spoon"), (51, "bowl"), (52, "banana"), (53, "apple"),
    (54, "sandwich"), (55, "orange"), (56, "broccoli"), (57, "carrot"), (58, "hot dog"), (59, "pizza"),
    (60, "donut"), (61, "cake"), (62, "chair"), (63, "couch"), (64, "potted plant"), (65, "bed"),
    (67, "dining table"), (70, "toilet"), (72, "tv"), (73, "laptop"), (74, "mouse"), (75, "remote"),
    (76, "keyboard"), (77, "cell phone"), (78, "microwave"), (79, "oven"), (80, "toaster"), (81, "sink"),
    (82, "refrigerator"), (84, "book"), (85, "clock"), (86, "vase"), (87, "scissors"), (88, "teddy bear"),
    (89, "hair drier"), (90, "toothbrush"),
)
CAT_LIST = tuple(name for _, name in CATEGORIES)
N_CAT = len(CAT_LIST)
SPLITS = ("train2014", "val2014")


class _FolderIndex:
    """Which of a few folders holds each image: every folder is listed once per process (one directory read
    instead of up to four file probes per image and call, 2-3 calls an image per step). An ID the listing does
    not hold falls back to probing, so files written after the listing are still found."""

    def __init__(self):
        self._index: dict[tuple[str, ...], dict[str, int]] = {}

    def find(self, folders: list[Path], name: str, affixes) -> Path | None:
        """The file of ``name`` in the first of ``folders`` that holds it (each folder's files are named
        ``prefix + name + suffix`` with ``affixes(split) -> (prefix, suffix)``), or None if none listed it."""
        key = tuple(str(f) for f in folders)
        index = self._index.get(key)
        if index is None:
            index = self._index[key] = self._list(folders, affixes)
        k = index.get(name)
        if k is None:
            return None
        prefix, suffix = affixes(folders[k].name)
        return folders[k] / f"{prefix}{name}{suffix}"

    @staticmethod
    def _list(folders: list[Path], affixes) -> dict[str, int]:
        index: dict[str, int] = {}
        for k, folder in reversed(list(enumerate(folders))):  # the first folder wins, as the probing order
            prefix, suffix = affixes(folder.name)
            try:
                entries = os.scandir(folder)
            except OSError:
                continue
            with entries:
                for entry in entries:
                    if entry.name.startswith(prefix) and entry.name.endswith(suffix):
                        index[entry.name[len(prefix):len(entry.name) - len(suffix)]] = k
        return index


_FOLDER_INDEX = _FolderIndex()


def decode_int_filename(int_filename) -> str:
    """The 12-digit string of an image id (the official helper's name)."""
    s = str(int_filename).strip()
    return s if len(s) == 12 else f"{int(s):012d}"


@dataclass(frozen=True)
class COCO14Spec(DatasetSpec):
    """COCO 2014: images in either split folder, eval lists ``coco14/<set>14.txt``; no instance PNGs."""

    list_dir: str = "coco14"
    instance_dir: str | None = None

    @property
    def category_ids(self) -> tuple[int, ...]:
        return tuple(cid for cid, _ in CATEGORIES)

    def annotation_path(self, root: str | os.PathLike, split: str) -> Path:
        """The official instances JSON of a split (instance ground truth)."""
        return Path(root) / "annotations" / f"instances_{split}.json"

    def has_instances(self, root: str | os.PathLike) -> bool:
        return any(self.annotation_path(root, split).is_file() for split in SPLITS)

    def _image_candidates(self, root: Path, name: str) -> list[Path]:
        return [root / prefix / split / f"COCO_{split}_{name}.jpg"
                for prefix in ("", "JPEGImages") for split in SPLITS]

    def image_path(self, root: str | os.PathLike, name: str) -> Path:
        folders = [Path(root) / prefix / split for prefix in ("", "JPEGImages") for split in SPLITS]
        found = _FOLDER_INDEX.find(folders, name, lambda split: (f"COCO_{split}_", ".jpg"))
        if found is not None:
            return found
        candidates = self._image_candidates(Path(root), name)
        return next((c for c in candidates if c.is_file()), candidates[0])

    def gt_path(self, root: str | os.PathLike, name: str) -> Path:
        if self.gt_root:
            return Path(self.gt_root) / f"{name}{self.gt_ext}"
        folders = [Path(root) / self.gt_dir / split for split in SPLITS]
        found = _FOLDER_INDEX.find(folders, name, lambda split: ("", self.gt_ext))
        if found is not None:
            return found
        candidates = [folder / f"{name}{self.gt_ext}" for folder in folders]
        return next((c for c in candidates if c.is_file()), candidates[0])

    def gt_location(self, root: str | os.PathLike) -> str:
        return str(Path(self.gt_root) if self.gt_root else Path(root) / self.gt_dir / "{train2014,val2014}")

    def split_path(self, root: str | os.PathLike, split: str) -> Path:
        return Path(self.list_dir) / f"{split}14.txt"

    def check_root(self, root: str | os.PathLike | None) -> Path:
        if root is None:
            raise PipelineError("--dataset coco14 needs --coco14_root DIR (the folder with train2014/ and "
                                "annotations/)")
        root = Path(root)
        if not root.is_dir():
            raise PipelineError(f"dataset root {root} does not exist; pass --coco14_root pointing at it")
        if not any((root / prefix / split).is_dir() for prefix in ("", "JPEGImages") for split in SPLITS):
            raise PipelineError(f"{root} has neither train2014/ nor val2014/ (nor JPEGImages/train2014/); "
                                "--coco14_root must be the folder of the COCO 2014 download")
        return root


COCO14 = COCO14Spec("coco14", CAT_LIST, image_dir="", root_flag="--coco14_root",
                    prepare_command="python -m coco14.prepare --coco14_root DIR")


def _coco_defaults(parser_defaults: dict, root: str | None) -> dict:
    """The flag values that differ from VOC's: the official COCO lists, background threshold and names."""
    return {"train_list": "coco14/train14.txt", "val_list": "coco14/val14.txt",
            "infer_list": "coco14/train14.txt", "cls_labels": "coco14/cls_labels.npy", "sem_seg_bg_thres": 0.22,
            # The COCO DeepLab-v2 schedule that WSSS work uses (LPCAM's config): 100k steps at lr 2e-4.
            "seg_train_list": "coco14/train14.txt", "seg_eval_list": "coco14/val14.txt", "seg_iter_max": 100000,
            "seg_lr": 2e-4, **suffixed_outputs(parser_defaults, "_coco")}


register_dataset("coco14", DatasetEntry(spec=lambda root: COCO14, defaults=_coco_defaults,
                                        seed_thresholds={"cam": (0.45, 0.15), "amn": (0.45, 0.15)},
                                        lists_beside_labels={"seg_train_list": "train14.txt",
                                                             "seg_eval_list": "val14.txt"}))


def _official(cls: type, name: str) -> type:
    return _datasets.named_for(cls, name, "coco14_root", COCO14, "coco14/cls_labels.npy", __name__)


COCO14ImageDataset = _official(_datasets.ImageDataset, "COCO14ImageDataset")
COCO14ClassificationDataset = _official(_datasets.ClassificationDataset, "COCO14ClassificationDataset")
COCO14ClassificationDatasetMSF = _official(_datasets.ClassificationDatasetMSF, "COCO14ClassificationDatasetMSF")
COCO14SegmentationDataset = _official(_datasets.SeedDataset, "COCO14SegmentationDataset")
COCO14AffinityDataset = _official(_datasets.AffinityDataset, "COCO14AffinityDataset")


# The official module's helpers, by their official names. ------------------------------------------------------

from dataset.spec import IGNORE, lazy_cls_labels, load_cls_labels, load_img_name_list  # noqa: E402,F401
from dataset.transforms import GetAffinityLabelFromIndices, TorchvisionNormalize  # noqa: E402,F401

IMG_FOLDER_NAME = "JPEGImages/train2014"
ANNOT_FOLDER_NAME = "Annotations"
# The official module loads coco14/cls_labels_coco.npy (a pickle) at import; here ``cls_labels_dict`` is read on
# first use, from our pickle-free coco14/cls_labels.npy (python -m coco14.prepare writes it), keyed by string IDs.
OFFICIAL_CLS_LABELS = "coco14/cls_labels.npy"


__getattr__ = lazy_cls_labels(__name__, OFFICIAL_CLS_LABELS)


def load_image_label_list_from_npy(img_name_list):
    """The labels of ``img_name_list`` (12-digit string IDs or the official integers) from ``cls_labels_dict``."""
    import numpy as np

    labels = load_cls_labels(OFFICIAL_CLS_LABELS)
    return np.array([labels[decode_int_filename(n)] for n in img_name_list])


def get_img_path(img_name, coco14_root) -> str:
    """The official layout's path of a train2014 image: ``<root>/JPEGImages/train2014/COCO_train2014_<id>.jpg``."""
    return os.path.join(coco14_root, IMG_FOLDER_NAME, f"COCO_train2014_{decode_int_filename(img_name)}.jpg")
