"""PASCAL VOC 2012: its 20 classes, its spec, and the official dataset class names.

The dataset classes themselves serve every dataset and live in ``dataset/datasets.py``; here they get
IRN's names and VOC's defaults (``voc12_root``, ``voc12/cls_labels.npy``). The helpers that moved to
``dataset/`` are re-exported, so ``from voc12.dataloader import ...`` keeps working.
"""
from __future__ import annotations

import numpy as np

from dataset import datasets as _datasets
from dataset.registry import DatasetEntry, register_dataset
from dataset.spec import (  # noqa: F401
    CLS_LABEL_DTYPE,
    IGNORE,
    DatasetSpec,
    labels_for,
    lazy_cls_labels,
    load_cls_labels,
    load_img_name_list,
    read_image,
    save_cls_labels,
    voc_palette,
)
from dataset.transforms import GetAffinityLabelFromIndices, TorchvisionNormalize  # noqa: F401

CAT_LIST = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
            'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
            'tvmonitor')
N_CAT = len(CAT_LIST)
CAT_NAME_TO_NUM = {name: i for i, name in enumerate(CAT_LIST)}

VOC12 = DatasetSpec("voc12", CAT_LIST)
register_dataset("voc12", DatasetEntry(spec=lambda root: VOC12, defaults=lambda parser_defaults, root: {},
                                       seed_thresholds={"cam": (0.30, 0.05), "amn": (0.45, 0.15)}))


def check_root(root, spec: DatasetSpec = VOC12):
    """The dataset root after the spec's checks (VOC's by default)."""
    return spec.check_root(root)


def _official(cls: type, name: str) -> type:
    return _datasets.named_for(cls, name, "voc12_root", VOC12, "voc12/cls_labels.npy", __name__)


VOC12ImageDataset = _official(_datasets.ImageDataset, "VOC12ImageDataset")
VOC12ClassificationDataset = _official(_datasets.ClassificationDataset, "VOC12ClassificationDataset")
VOC12ClassificationDatasetMSF = _official(_datasets.ClassificationDatasetMSF, "VOC12ClassificationDatasetMSF")
VOC12SegmentationDataset = _official(_datasets.SeedDataset, "VOC12SegmentationDataset")
VOC12AffinityDataset = _official(_datasets.AffinityDataset, "VOC12AffinityDataset")


# The official module's helpers, by their official names. ------------------------------------------------------

IMG_FOLDER_NAME = "JPEGImages"
ANNOT_FOLDER_NAME = "Annotations"
# The official module loads voc12/cls_labels.npy (a pickle) at import; here ``cls_labels_dict`` is read on first
# use, from our pickle-free file of the same name (python -m voc12.prepare writes it), keyed by string IDs.
OFFICIAL_CLS_LABELS = "voc12/cls_labels.npy"


__getattr__ = lazy_cls_labels(__name__, OFFICIAL_CLS_LABELS)


def decode_int_filename(int_filename) -> str:
    """2007000032 -> '2007_000032' (the official lists are read as integers)."""
    s = str(int(int_filename))
    return s[:4] + "_" + s[4:]


def _name(img_name) -> str:
    return img_name if isinstance(img_name, str) else decode_int_filename(img_name)


def load_image_label_from_xml(img_name, voc12_root) -> np.ndarray:
    """The 20-dim multi-hot label of one image from its Annotations/*.xml."""
    from pathlib import Path

    from voc12.prepare import image_label_from_xml

    return image_label_from_xml(Path(voc12_root) / ANNOT_FOLDER_NAME / f"{_name(img_name)}.xml")


def load_image_label_list_from_xml(img_name_list, voc12_root) -> list:
    return [load_image_label_from_xml(n, voc12_root) for n in img_name_list]


def load_image_label_list_from_npy(img_name_list) -> np.ndarray:
    """The labels of ``img_name_list`` (string IDs or the official integers) from ``cls_labels_dict``."""
    labels = load_cls_labels(OFFICIAL_CLS_LABELS)
    return np.array([labels[_name(n)] for n in img_name_list])


def get_img_path(img_name, voc12_root) -> str:
    import os

    return os.path.join(voc12_root, IMG_FOLDER_NAME, _name(img_name) + ".jpg")
