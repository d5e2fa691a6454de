"""Scoring label maps against ground truth: confusions at every background threshold at once (the sweep),
label PNG folders, and the evaluation record the report reads."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm import tqdm

from dataset.spec import DatasetSpec
from misc import evaluation
from misc.fileio import load_png, png_path


def threshold_confusions(fg_max: np.ndarray, fg_label: np.ndarray, gt: np.ndarray, thresholds: np.ndarray,
                         n_class: int) -> np.ndarray:
    """Confusion matrices for every background threshold at once: (T, n_class, n_class).

    A pixel is foreground (``fg_label``) at threshold t iff ``fg_max > t``,
    which is what argmax over [t, cams...] gives, since ties go to background.
    """
    valid = gt < n_class
    g, p, m = gt[valid].astype(np.int64), fg_label[valid].astype(np.int64), fg_max[valid]
    n_t = len(thresholds)
    n_fg_thresholds = np.searchsorted(thresholds, m, side="left")  # thresholds below m: pixel is fg there
    fg_counts = np.bincount((g * n_class + p) * (n_t + 1) + n_fg_thresholds,
                            minlength=n_class * n_class * (n_t + 1)).reshape(n_class, n_class, n_t + 1)
    # fg at threshold k iff k < n_fg_thresholds: a reversed cumulative sum over the bins.
    fg_at = np.flip(np.cumsum(np.flip(fg_counts, -1), -1), -1)[..., 1:]
    conf = np.moveaxis(fg_at, -1, 0).copy()
    bg_at = np.bincount(g, minlength=n_class)[None, :] - conf.sum(-1)
    conf[:, :, 0] += bg_at
    return conf


def sweep_confusions(names: Sequence[str], inputs: Callable[[str], tuple[np.ndarray, np.ndarray]],
                     spec: DatasetSpec, root: Path, thresholds, default_thres: float, desc: str):
    """Confusions of every image at every background threshold (and the default one): (T, n, n) summed, each
    image's mIoU at the default, the sorted thresholds and the default's index. ``inputs(name)`` gives an
    image's best foreground score and its label per pixel."""
    n_class = spec.n_classes + 1
    all_t = np.unique(np.append(np.asarray(thresholds, np.float64), default_thres))
    total = np.zeros((len(all_t), n_class, n_class), np.int64)
    per_image = []
    k_def = int(np.searchsorted(all_t, default_thres))
    for name in tqdm(names, desc=desc, dynamic_ncols=True):
        fg_max, fg_label = inputs(name)
        conf = threshold_confusions(fg_max, fg_label, spec.load_gt(root, name, fg_max.shape), all_t, n_class)
        total += conf
        per_image.append((name, evaluation.mean_iou(evaluation.iou_from_confusion(conf[k_def]))))
    return total, per_image, all_t, k_def


def sweep_record(total: np.ndarray, thresholds: np.ndarray) -> dict:
    """The sweep of an eval record: mIoU per threshold and the robust interval."""
    ious = [evaluation.iou_from_confusion(c) for c in total]
    sweep = [evaluation.mean_iou(iou) for iou in ious]
    return {"thresholds": [float(t) for t in thresholds], "miou": sweep,
            **evaluation.robust_interval(thresholds, sweep),
            "per_class": [[evaluation.nan_to_none(v) for v in iou] for iou in ious]}


def score_masks(folder: str | os.PathLike, names: Sequence[str], spec: DatasetSpec, root: Path,
                void_as_background: bool = False) -> tuple[np.ndarray, list]:
    """The summed confusion of the label PNGs ``folder/<id>.png`` against the ground truth, and each image's
    mIoU; ``void_as_background`` scores 255 in a mask as background (the pseudo masks' unsure pixels)."""
    n_class = spec.n_classes + 1
    confusion = np.zeros((n_class, n_class), np.int64)
    per_image = []
    for name in tqdm(names, desc=f"eval {Path(folder).name}", dynamic_ncols=True):
        pred = load_png(png_path(folder, name))
        if void_as_background:
            pred = np.where(pred == 255, 0, pred)
        conf = evaluation.confusion_matrix(pred, spec.load_gt(root, name, pred.shape), n_class)
        confusion += conf
        per_image.append((name, evaluation.mean_iou(evaluation.iou_from_confusion(conf))))
    return confusion, per_image


def evaluation_record(eval_set: str, spec: DatasetSpec, root: Path, stage: str, names: list[str],
                      confusion: np.ndarray, per_image) -> dict:
    worst = sorted((x for x in per_image if np.isfinite(x[1])), key=lambda x: x[1])[:10]
    return {"stage": stage, "dataset": spec.name, "eval_set": eval_set, "n_images": len(names),
            "ground_truth": spec.gt_location(root),
            **evaluation.summarize(confusion, spec.class_names), "confusion": confusion.tolist(),
            "worst_images": [{"name": n, "miou": v} for n, v in worst]}
