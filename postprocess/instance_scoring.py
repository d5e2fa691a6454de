"""VOC instance-segmentation AP (chainercv's ``eval_instance_segmentation_voc`` semantics), written from
the published definition: per class, predictions of every image are matched greedily by descending score to
the unmatched ground-truth instance of highest mask IoU (at least ``iou_thresh``); AP is the area under the
interpolated precision-recall curve (``use_07_metric=False``). A class without ground truth has AP NaN.
Labels here are 0-based class indices, as chainercv's.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


def mask_iou(masks_a: np.ndarray, masks_b: np.ndarray) -> np.ndarray:
    """IoU of every pair of boolean masks: (N, H, W) x (K, H, W) -> (N, K)."""
    a = masks_a.reshape(len(masks_a), -1).astype(np.float64)
    b = masks_b.reshape(len(masks_b), -1).astype(np.float64)
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


@dataclass
class _Tally:
    """Per class over all images: the ground-truth instance count, every prediction's score and whether it
    matched (1) a ground truth not matched before."""

    n_pos: dict = field(default_factory=lambda: defaultdict(int))
    scores: dict = field(default_factory=lambda: defaultdict(list))
    matches: dict = field(default_factory=lambda: defaultdict(list))


def _match_image(pred: tuple, gt_mask, gt_label, iou_thresh: float, tally: _Tally) -> None:
    """Add one image to ``tally``: its predictions ``(masks, labels, scores)`` matched greedily, best score
    first, to the ground truth of their class (chainercv's VOC instance evaluation)."""
    pred_mask, pred_label, pred_score = pred
    n_pos, scores, matches = tally.n_pos, tally.scores, tally.matches
    for cls in np.unique(np.concatenate([pred_label, gt_label]).astype(np.int64)):
        p = pred_label == cls
        order = pred_score[p].argsort()[::-1]
        p_mask, p_score = pred_mask[p][order], pred_score[p][order]
        g_mask = gt_mask[gt_label == cls]
        n_pos[cls] += len(g_mask)
        scores[cls].extend(p_score)
        if len(p_mask) == 0:
            continue
        if len(g_mask) == 0:
            matches[cls].extend([0] * len(p_mask))
            continue
        iou = mask_iou(p_mask, g_mask)
        best = iou.argmax(axis=1)
        best[iou.max(axis=1) < iou_thresh] = -1
        taken = np.zeros(len(g_mask), bool)
        for g in best:
            matches[cls].append(int(g >= 0 and not taken[g]))
            if g >= 0:
                taken[g] = True


class VocInstanceAP:
    """chainercv's VOC instance AP over images added one at a time: each image's predictions are matched as it
    comes and only their scores and hits are kept, so memory grows with the detections, not the masks."""

    def __init__(self, iou_thresh: float = 0.5):
        self.iou_thresh = iou_thresh
        self.tally = _Tally()

    def add(self, pred: tuple, gt_mask, gt_label) -> None:
        """One image: its predictions ``(masks, 0-based labels, scores)`` and ground truth masks and labels."""
        pm, pl, ps = (np.asarray(a) for a in pred)
        _match_image((pm.astype(bool), pl, ps), np.asarray(gt_mask).astype(bool), np.asarray(gt_label),
                     self.iou_thresh, self.tally)

    def prec_rec(self) -> tuple[list, list]:
        """Per-class precision and recall arrays (None where undefined) over the images added."""
        n_pos, scores, matches = self.tally.n_pos, self.tally.scores, self.tally.matches
        n_class = max(n_pos) + 1 if n_pos else 0
        prec, rec = [None] * n_class, [None] * n_class
        for cls in n_pos:
            order = np.array(scores[cls]).argsort()[::-1]
            hit = np.array(matches[cls], np.int8)[order]
            tp, fp = np.cumsum(hit == 1), np.cumsum(hit == 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                prec[cls] = tp / (fp + tp)
            if n_pos[cls] > 0:
                rec[cls] = tp / n_pos[cls]
        return prec, rec

    def result(self) -> dict:
        """``{"ap": per-class AP (NaN without ground truth), "map": their nanmean}``."""
        ap = average_precision(*self.prec_rec())
        return {"ap": ap, "map": float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")}


def prec_rec(pred_masks: Sequence, pred_labels: Sequence, pred_scores: Sequence, gt_masks: Sequence,
             gt_labels: Sequence, iou_thresh: float = 0.5) -> tuple[list, list]:
    """Per-class precision and recall arrays (None where undefined), over all images."""
    tally = VocInstanceAP(iou_thresh)
    for pm, pl, ps, gm, gl in zip(pred_masks, pred_labels, pred_scores, gt_masks, gt_labels):
        tally.add((pm, pl, ps), gm, gl)
    return tally.prec_rec()


def average_precision(prec: list, rec: list) -> np.ndarray:
    """Area under the precision envelope (VOC 2010+ metric); NaN where precision or recall is undefined."""
    ap = np.full(len(prec), np.nan)
    for cls, (p, r) in enumerate(zip(prec, rec)):
        if p is None or r is None:
            continue
        mpre = np.concatenate([[0.0], np.nan_to_num(p), [0.0]])
        mrec = np.concatenate([[0.0], r, [1.0]])
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]
        steps = np.flatnonzero(mrec[1:] != mrec[:-1])
        ap[cls] = np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1])
    return ap


def eval_instance_segmentation_voc(pred_masks, pred_labels, pred_scores, gt_masks, gt_labels,
                                   iou_thresh: float = 0.5) -> dict:
    """``{"ap": per-class AP (NaN without ground truth), "map": their nanmean}``."""
    ap = average_precision(*prec_rec(pred_masks, pred_labels, pred_scores, gt_masks, gt_labels, iou_thresh))
    return {"ap": ap, "map": float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")}


def instances_from_voc_pngs(class_map: np.ndarray, object_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth instances as chainercv's VOC dataset reads them: (R, H, W) masks and 0-based labels.

    Instance ids 0 (background) and 255 (the void band) are not instances; each instance takes the
    class its pixels have in the class map.
    """
    ids = [i for i in np.unique(object_map) if i not in (0, 255)]
    masks = np.stack([object_map == i for i in ids]) if ids else np.zeros((0,) + object_map.shape, bool)
    labels = []
    for m in masks:
        classes = [c for c in np.unique(class_map[m]) if c not in (0, 255)]
        if len(classes) != 1:
            raise ValueError(f"an instance covers classes {classes} of the class map")
        labels.append(int(classes[0]) - 1)
    return masks, np.asarray(labels, np.int64)
