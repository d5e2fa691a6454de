"""Segmentation metrics shared by every eval step, and their JSON record."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from misc.fileio import atomic_open

DEFAULT_SWEEP = tuple(np.round(np.arange(0.0, 0.6001, 0.01), 2))


def confusion_matrix(pred: np.ndarray, gt: np.ndarray, n_class: int) -> np.ndarray:
    """n_class x n_class counts (rows ground truth, columns prediction); gt 255 and out-of-range pixels are ignored.

    Matches chainercv's ``calc_semantic_segmentation_confusion`` restricted to ``n_class`` classes.
    """
    pred = np.asarray(pred).reshape(-1).astype(np.int64)
    gt = np.asarray(gt).reshape(-1).astype(np.int64)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction has {pred.size} pixels but ground truth has {gt.size}")
    mask = (gt >= 0) & (gt < n_class)
    pred = np.where((pred >= 0) & (pred < n_class), pred, 0)
    return np.bincount(n_class * gt[mask] + pred[mask], minlength=n_class ** 2).reshape(n_class, n_class)


def iou_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Per-class IoU; NaN for classes absent from both prediction and ground truth."""
    gtj = confusion.sum(axis=1).astype(np.float64)
    resj = confusion.sum(axis=0).astype(np.float64)
    inter = np.diag(confusion).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / (gtj + resj - inter)


def error_rates(confusion: np.ndarray) -> dict[str, float]:
    """Background and mean-foreground false-positive / false-negative rates (official eval_sem_seg)."""
    gtj = confusion.sum(axis=1).astype(np.float64)
    resj = confusion.sum(axis=0).astype(np.float64)
    denom = gtj + resj - np.diag(confusion)
    with np.errstate(divide="ignore", invalid="ignore"):
        fp = 1.0 - gtj / denom
        fn = 1.0 - resj / denom
    return {"bg_fp": nan_to_none(fp[0]), "bg_fn": nan_to_none(fn[0]),
            "fg_fp": nan_to_none(np.nanmean(fp[1:]) if np.isfinite(fp[1:]).any() else np.nan),
            "fg_fn": nan_to_none(np.nanmean(fn[1:]) if np.isfinite(fn[1:]).any() else np.nan)}


def mean_iou(iou: np.ndarray) -> float:
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")


def robust_interval(thresholds: Sequence[float], mious: Sequence[float], tol: float = 0.01) -> dict:
    """The threshold range whose mIoU is within ``tol`` of the best (the paper's robustness figure).

    The width is that of the contiguous run of thresholds around the best one.
    """
    t = np.asarray(thresholds, np.float64)
    m = np.asarray(mious, np.float64)
    best = int(np.nanargmax(m))
    ok = m >= m[best] - tol
    lo = hi = best
    while lo > 0 and ok[lo - 1]:
        lo -= 1
    while hi < len(m) - 1 and ok[hi + 1]:
        hi += 1
    return {"best_threshold": float(t[best]), "best_miou": float(m[best]),
            "low": float(t[lo]), "high": float(t[hi]), "width": float(t[hi] - t[lo])}


def per_image_miou(pred: np.ndarray, gt: np.ndarray, n_class: int) -> float:
    return mean_iou(iou_from_confusion(confusion_matrix(pred, gt, n_class)))


def nan_to_none(x) -> float | None:
    """A float for JSON, None where it is NaN or infinite."""
    x = float(x)
    return None if not np.isfinite(x) else x



def summarize(confusion: np.ndarray, class_names: Iterable[str]) -> dict:
    """mIoU, per-class IoU keyed by name, and error rates, ready for JSON."""
    iou = iou_from_confusion(confusion)
    names = ["background", *class_names]
    return {"miou": nan_to_none(mean_iou(iou)),
            "per_class_iou": {n: nan_to_none(v) for n, v in zip(names, iou)},
            **error_rates(confusion)}


def format_summary(summary: dict) -> str:
    lines = [f"mIoU {100 * summary['miou']:.2f}" if summary["miou"] is not None else "mIoU n/a"]
    lines += [f"  {n:<12s} {100 * v:6.2f}" for n, v in summary["per_class_iou"].items() if v is not None]
    return "\n".join(lines)


def write_json(path: str | os.PathLike, record: dict) -> None:
    with atomic_open(Path(path), "w") as f:
        json.dump(record, f, indent=2, sort_keys=False)
        f.write("\n")
