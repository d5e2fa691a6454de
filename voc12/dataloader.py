"""PASCAL VOC 2012: its 20 classes, its spec, and the official dataset class names.

The dataset classes themselves serve every dataset and live in ``dataset/datasets.py``; here they get
IRN's names and VOC's defaults (``voc12_root``, ``voc12/cls_labels.npy``). The helpers that moved to
``dataset/`` are re-exported, so ``from voc12.dataloader import ...`` keeps working.
"""
from __future__ import annotations

from dataset import datasets as _datasets
from dataset.spec import (  # noqa: F401
    CLS_LABEL_DTYPE,
    IGNORE,
    DatasetSpec,
    labels_for,
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
