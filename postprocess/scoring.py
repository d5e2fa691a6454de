"""Scoring label maps against ground truth: confusions at every background threshold at once (the sweep),
label PNG folders, and the evaluation record the report reads."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from dataset.spec import DatasetSpec
from misc import evaluation, parallel
from misc.fileio import load_png, png_path


def present_classes(gt: np.ndarray, pred: np.ndarray, n_class: int) -> np.ndarray:
    """The sorted classes an image's scoring can touch: background, and those in its valid ground truth or its
    prediction (a few of COCO's 81), so its confusions are k x k instead of n_class x n_class."""
    seen = np.bincount(gt.reshape(-1), minlength=n_class)[:n_class] > 0
    seen |= np.bincount(pred.reshape(-1), minlength=n_class)[:n_class] > 0
    seen[0] = True
    return np.flatnonzero(seen)


def compact_threshold_confusions(fg_max: np.ndarray, fg_label: np.ndarray, gt: np.ndarray, thresholds: np.ndarray,
                                 n_class: int) -> tuple[np.ndarray, np.ndarray]:
    """(classes, confusions (T, k, k) over those classes) at every background threshold at once.

    A pixel is foreground (``fg_label``) at threshold t iff ``fg_max > t``,
    which is what argmax over [t, cams...] gives, since ties go to background.
    One bincount over the pixels does it: ignored ground truth goes to a spare row that is dropped, so no
    pixel is gathered by a mask, and float32 scores are compared with float32 bounds, so none is converted.
    """
    classes = present_classes(gt, fg_label, n_class)
    k, n_t = len(classes), len(thresholds)
    gt_index = np.full(max(256, int(gt.max(initial=0)) + 1), k, np.int32)  # k: the ignored pixels' spare row
    gt_index[classes] = np.arange(k)
    label_index = np.zeros(max(n_class, int(fg_label.max(initial=0)) + 1), np.int32)
    label_index[classes] = np.arange(k)
    n_fg_thresholds = _thresholds_below(fg_max, np.asarray(thresholds, np.float64))
    bins = (gt_index[gt] * k + label_index[fg_label]) * (n_t + 1) + n_fg_thresholds
    fg_counts = np.bincount(bins.reshape(-1), minlength=(k + 1) * k * (n_t + 1)).reshape(k + 1, k, n_t + 1)[:k]
    # fg at threshold j iff j < n_fg_thresholds: a reversed cumulative sum over the bins.
    fg_at = np.flip(np.cumsum(np.flip(fg_counts, -1), -1), -1)[..., 1:]
    conf = np.moveaxis(fg_at, -1, 0).copy()
    bg_at = fg_counts.sum(axis=(1, 2))[None, :] - conf.sum(-1)
    conf[:, :, 0] += bg_at
    return classes, conf


def _thresholds_below(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per pixel, how many of the sorted float64 ``thresholds`` lie strictly below its score (int32).

    For float32 scores, ``score > t`` holds exactly when ``score >= u``, u the smallest float32 above t, so the
    search runs on float32 bounds without converting a pixel."""
    if scores.dtype != np.float32 or len(thresholds) < 2:
        return np.searchsorted(thresholds, scores, side="left").astype(np.int32)
    bounds = thresholds.astype(np.float32)
    not_above = bounds.astype(np.float64) <= thresholds
    bounds[not_above] = np.nextafter(bounds[not_above], np.float32(np.inf))
    step = (thresholds[-1] - thresholds[0]) / (len(thresholds) - 1)
    if step <= 0 or not np.allclose(np.diff(thresholds), step, rtol=1e-6, atol=0):
        return np.searchsorted(bounds, scores, side="right").astype(np.int32)
    # Evenly spaced thresholds (the sweep's): a guess by division, then exact comparisons with the bounds
    # move each pixel to its count (numpy's searchsorted costs 25 ns a pixel, this a few).
    count = np.floor((scores - np.float32(thresholds[0])) * np.float32(1 / step)).astype(np.int32) + 1
    np.clip(count, 0, len(bounds), out=count)
    padded = np.concatenate([[-np.inf], bounds, [np.inf]]).astype(np.float32)  # padded[c] = bounds[c - 1]
    while True:
        down = scores < padded[count]  # fewer bounds lie at or below the score than guessed
        up = scores >= padded[count + 1]
        if not (down.any() or up.any()):
            return count
        count -= down
        count += up


def threshold_confusions(fg_max: np.ndarray, fg_label: np.ndarray, gt: np.ndarray, thresholds: np.ndarray,
                         n_class: int) -> np.ndarray:
    """Confusion matrices for every background threshold at once: (T, n_class, n_class)."""
    classes, conf = compact_threshold_confusions(fg_max, fg_label, gt, thresholds, n_class)
    full = np.zeros((len(thresholds), n_class, n_class), np.int64)
    full[:, classes[:, None], classes[None, :]] = conf
    return full


def compact_miou(classes: np.ndarray, conf: np.ndarray, n_class: int) -> float:
    """The mIoU of a compact confusion, equal to the bit to that of its full table (the IoUs are averaged in
    the full table's order, as numpy's pairwise sum depends on the positions)."""
    iou = np.full(n_class, np.nan)
    iou[classes] = evaluation.iou_from_confusion(conf)
    return evaluation.mean_iou(iou)


@dataclass(frozen=True)
class SweepSource:
    """Where a sweep's per-image inputs come from (picklable, so pool workers get it): ``inputs(name)`` gives
    an image's best foreground score and its label per pixel (a module-level function or a partial of one)."""

    inputs: Callable[[str], tuple[np.ndarray, np.ndarray]]
    spec: DatasetSpec
    root: Path
    thresholds: np.ndarray
    default_index: int


def _image_sweep(source: SweepSource, name: str) -> tuple[np.ndarray, np.ndarray, float]:
    fg_max, fg_label = source.inputs(name)
    n_class = source.spec.n_classes + 1
    gt = source.spec.load_gt(source.root, name, fg_max.shape)
    classes, conf = compact_threshold_confusions(fg_max, fg_label, gt, source.thresholds, n_class)
    return classes, conf, compact_miou(classes, conf[source.default_index], n_class)


def sweep_confusions(names: Sequence[str], inputs: Callable[[str], tuple[np.ndarray, np.ndarray]],
                     spec: DatasetSpec, root: Path, thresholds, default_thres: float, desc: str, workers: int = 1):
    """Confusions of every image at every background threshold (and the default one): (T, n, n) summed, each
    image's mIoU at the default, the sorted thresholds and the default's index. ``inputs(name)`` gives an
    image's best foreground score and its label per pixel; ``workers`` processes share the images (the sums
    are integers and the list keeps its order, so any count gives the same result)."""
    n_class = spec.n_classes + 1
    all_t = np.unique(np.append(np.asarray(thresholds, np.float64), default_thres))
    total = np.zeros((len(all_t), n_class, n_class), np.int64)
    per_image = []
    k_def = int(np.searchsorted(all_t, default_thres))
    source = SweepSource(inputs, spec, Path(root), all_t, k_def)
    results = parallel.imap_ordered(partial(_image_sweep, source), list(names), workers, desc)
    for name, (classes, conf, miou) in zip(names, results):
        total[:, classes[:, None], classes[None, :]] += conf
        per_image.append((name, miou))
    return total, per_image, all_t, k_def


def sweep_record(total: np.ndarray, thresholds: np.ndarray) -> dict:
    """The sweep of an eval record: mIoU per threshold and the robust interval."""
    ious = [evaluation.iou_from_confusion(c) for c in total]
    sweep = [evaluation.mean_iou(iou) for iou in ious]
    return {"thresholds": [float(t) for t in thresholds], "miou": sweep,
            **evaluation.robust_interval(thresholds, sweep),
            "per_class": [[evaluation.nan_to_none(v) for v in iou] for iou in ious]}


@dataclass(frozen=True)
class MaskSource:
    """A folder of label PNGs to score (picklable, for pool workers): ``void_as_background`` scores 255 in a
    mask as background (the pseudo masks' unsure pixels)."""

    folder: Path
    spec: DatasetSpec
    root: Path
    void_as_background: bool = False


def _image_mask_confusion(source: MaskSource, name: str) -> tuple[np.ndarray, np.ndarray, float]:
    """(classes, k x k confusion over them, mIoU) of one mask: :func:`misc.evaluation.confusion_matrix`'s
    counts, restricted to the classes the image has."""
    n_class = source.spec.n_classes + 1
    pred = load_png(png_path(source.folder, name))
    if source.void_as_background:
        pred = np.where(pred == 255, 0, pred)
    gt = np.asarray(source.spec.load_gt(source.root, name, pred.shape)).reshape(-1).astype(np.int64)
    pred = pred.reshape(-1).astype(np.int64)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction has {pred.size} pixels but ground truth has {gt.size}")
    valid = (gt >= 0) & (gt < n_class)
    g, p = gt[valid], pred[valid]
    p = np.where((p >= 0) & (p < n_class), p, 0)
    classes = present_classes(g, p, n_class)
    k = len(classes)
    index = np.zeros(n_class, np.int64)
    index[classes] = np.arange(k)
    conf = np.bincount(index[g] * k + index[p], minlength=k * k).reshape(k, k)
    return classes, conf, compact_miou(classes, conf, n_class)


def score_masks(folder: str | os.PathLike, names: Sequence[str], spec: DatasetSpec, root: Path,
                void_as_background: bool = False, workers: int = 1) -> tuple[np.ndarray, list]:
    """The summed confusion of the label PNGs ``folder/<id>.png`` against the ground truth, and each image's
    mIoU; ``void_as_background`` scores 255 in a mask as background (the pseudo masks' unsure pixels);
    ``workers`` processes share the images with the result of one."""
    n_class = spec.n_classes + 1
    confusion = np.zeros((n_class, n_class), np.int64)
    per_image = []
    source = MaskSource(Path(folder), spec, Path(root), void_as_background)
    results = parallel.imap_ordered(partial(_image_mask_confusion, source), list(names), workers,
                                    f"eval {Path(folder).name}")
    for name, (classes, conf, miou) in zip(names, results):
        confusion[classes[:, None], classes[None, :]] += conf
        per_image.append((name, miou))
    return confusion, per_image


def evaluation_record(eval_set: str, spec: DatasetSpec, root: Path, stage: str, names: list[str],
                      confusion: np.ndarray, per_image) -> dict:
    worst = sorted((x for x in per_image if np.isfinite(x[1])), key=lambda x: x[1])[:10]
    return {"stage": stage, "dataset": spec.name, "eval_set": eval_set, "n_images": len(names),
            "ground_truth": spec.gt_location(root),
            **evaluation.summarize(confusion, spec.class_names), "confusion": confusion.tolist(),
            "worst_images": [{"name": n, "miou": v} for n, v in worst]}
