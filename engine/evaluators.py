"""The evaluations a training step runs on its network, as :class:`engine.inference.Processor` objects for the
one inference loop (:func:`engine.inference.inference_on_dataset`): CAM's validation loss, AMN's per-epoch mIoU
and IRN's mean displacement."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dataset.spec import DatasetSpec
from engine.inference import Processor
from misc import evaluation
from misc.pyutils import AverageMeter
from postprocess.cam_maps import amn_prediction


class ValidationLoss(Processor):
    """CAM's validation: the mean multilabel soft-margin loss over the batches."""

    def __init__(self):
        self.meter = AverageMeter()

    def process(self, model, pack, device) -> None:
        x = model(pack["img"].to(device))
        self.meter.add({"loss": F.multilabel_soft_margin_loss(x, pack["label"].to(device)).item()})

    def result(self) -> float:
        return self.meter.pop("loss")


class AmnMiou(Processor):
    """AMN's per-epoch evaluation: mIoU of its own predictions (:func:`postprocess.cam_maps.amn_prediction`)
    against the ground truth of ``spec`` under ``root``; packs come one image at a time (torch's collate)."""

    def __init__(self, spec: DatasetSpec, root: str | Path | None):
        self.spec, self.root = spec, root
        n_class = spec.n_classes + 1
        self.confusion = np.zeros((n_class, n_class), np.int64)

    def process(self, model, pack, device) -> None:
        img = pack["img"].to(device)
        pred = amn_prediction(model(img, pack["label"].to(device)), pack["label"][0], img.shape[-2:])
        gt = self.spec.load_gt(self.root, pack["name"][0], tuple(pred.shape))
        self.confusion += evaluation.confusion_matrix(pred, gt, len(self.confusion))

    def result(self) -> float:
        return evaluation.mean_iou(evaluation.iou_from_confusion(self.confusion))


class MeanDisplacement(Processor):
    """IRN's mean displacement (subtracted at inference): the mean over batches of each batch's mean field."""

    def __init__(self):
        self.means = []

    def process(self, model, pack, device) -> None:
        _, dp = model(pack["img"].to(device), False)
        self.means.append(torch.mean(dp, dim=(0, 2, 3)).cpu())

    def result(self) -> torch.Tensor:
        return torch.mean(torch.stack(self.means), dim=0)
