"""COCO mask AP that streams: images are added one at a time and only the detections' match flags are kept.

pycocotools' ``COCOeval`` needs every image's ground truth and detections in memory at once (about 250 GB of
dense masks for COCO train). :class:`StreamingCocoEval` runs the same algorithm per image, ``evaluateImg``'s
greedy matching at the ten IoU thresholds and four area ranges with at most 100 detections per image and
category, and keeps, per detection, its score, image, rank and flags (about 100 bytes). :meth:`summarize`
then does ``accumulate`` and ``summarize`` as pycocotools does, in the same order of operations, so AP, AP50,
AP75, AP small/medium/large and the per-class APs equal ``COCOeval``'s (the tests check 1e-6; in practice
they are equal to the bit). The IoUs come from pycocotools' own ``mask.iou``.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
AREA_RANGES = ((0.0, 1e5 ** 2), (0.0, 32.0 ** 2), (32.0 ** 2, 96.0 ** 2), (96.0 ** 2, 1e5 ** 2))
AREA_NAMES = ("all", "small", "medium", "large")
MAX_DETECTIONS = 100
_CONSOLIDATE_EVERY = 512  # chunks per category before they are joined into one array (bounds list overhead)


@dataclass(frozen=True)
class GroundTruth:
    """One image's ground-truth instances of one evaluation: RLEs (pycocotools' dicts), category ids, areas (the
    annotation's ``area`` field, as COCOeval uses it for the area ranges) and crowd flags."""

    rles: list
    category_ids: np.ndarray
    areas: np.ndarray
    crowd: np.ndarray


@dataclass(frozen=True)
class Detections:
    """One image's scored instances: RLEs, category ids and scores (the file order breaks ties in score)."""

    rles: list
    category_ids: np.ndarray
    scores: np.ndarray


def _rle_bytes(rle: dict) -> dict:
    counts = rle["counts"]
    return {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def annotation_rle(segmentation, height: int, width: int) -> dict:
    """An annotation's segmentation (polygons, uncompressed or compressed RLE) as a compressed RLE, as
    ``COCO.annToRLE`` makes it."""
    from pycocotools import mask as mask_utils

    if isinstance(segmentation, list):
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    if isinstance(segmentation.get("counts"), list):
        return mask_utils.frPyObjects(segmentation, height, width)
    return _rle_bytes(segmentation)


def ground_truth_of(annotations: Sequence[dict], height: int, width: int) -> GroundTruth:
    """One image's annotations (COCO instances format) as :class:`GroundTruth`."""
    return GroundTruth([annotation_rle(a["segmentation"], height, width) for a in annotations],
                       np.array([a["category_id"] for a in annotations], np.int64),
                       np.array([a["area"] for a in annotations], np.float64),
                       np.array([bool(a.get("iscrowd", 0)) for a in annotations], bool))


def detections_of(annotations: Sequence[dict], height: int, width: int) -> Detections:
    """One image's scored annotations (a results file's entries) as :class:`Detections`."""
    return Detections([annotation_rle(a["segmentation"], height, width) for a in annotations],
                      np.array([a["category_id"] for a in annotations], np.int64),
                      np.array([float(a["score"]) for a in annotations], np.float64))


class StreamingCocoEval:
    """COCO mask AP over images added one at a time (:meth:`add_image`), equal to ``COCOeval(iouType="segm")``
    over the same ground truth and detections; ``category_ids`` are the ground truth's categories."""

    def __init__(self, category_ids: Sequence[int]):
        self.category_ids = sorted(int(c) for c in category_ids)
        self._index = {c: k for k, c in enumerate(self.category_ids)}
        self._n_ignored_free = np.zeros((len(self.category_ids), len(AREA_RANGES)), np.int64)
        self._chunks: dict[int, list] = defaultdict(list)

    def add_image(self, image_id: int, truth: GroundTruth, found: Detections) -> None:
        """Match one image's detections to its ground truth, category by category (``evaluateImg``)."""
        from pycocotools import mask as mask_utils

        for cat in np.unique(np.concatenate([truth.category_ids, found.category_ids])):
            k = self._index.get(int(cat))
            if k is None:  # a category the ground truth does not have: COCOeval leaves it out
                continue
            g_at = np.flatnonzero(truth.category_ids == cat)
            d_at = np.flatnonzero(found.category_ids == cat)
            order = np.argsort(-found.scores[d_at], kind="mergesort")[:MAX_DETECTIONS]
            d_at = d_at[order]
            d_rles = [found.rles[i] for i in d_at]
            g_rles = [truth.rles[i] for i in g_at]
            crowd = truth.crowd[g_at]
            ious = (mask_utils.iou(d_rles, g_rles, [int(c) for c in crowd]) if len(d_at) and len(g_at)
                    else np.zeros((len(d_at), len(g_at))))
            d_area = mask_utils.area(d_rles).astype(np.float64) if d_rles else np.zeros(0)
            flags = np.zeros((len(d_at), 2, len(AREA_RANGES), len(IOU_THRESHOLDS)), bool)
            for a, area_range in enumerate(AREA_RANGES):
                g_ignore = crowd | (truth.areas[g_at] < area_range[0]) | (truth.areas[g_at] > area_range[1])
                self._n_ignored_free[k, a] += int(np.count_nonzero(~g_ignore))
                d_out = (d_area < area_range[0]) | (d_area > area_range[1])
                matched, ignored = _match(np.asarray(ious), g_ignore, crowd, d_out)
                flags[:, 0, a], flags[:, 1, a] = matched.T, ignored.T
            if len(d_at):
                self._add_chunk(k, (np.full(len(d_at), image_id, np.int64), np.arange(len(d_at), dtype=np.int64),
                                    found.scores[d_at], flags))

    def _add_chunk(self, k: int, chunk: tuple) -> None:
        chunks = self._chunks[k]
        chunks.append(chunk)
        if len(chunks) >= _CONSOLIDATE_EVERY:
            self._chunks[k] = [tuple(np.concatenate(parts) for parts in zip(*chunks))]

    def precision(self) -> np.ndarray:
        """COCOeval's ``eval["precision"]`` at 100 detections: (IoU thresholds, recall points, categories,
        area ranges), -1 where a category has no ground truth in that range."""
        n_t, n_r = len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS)
        precision = -np.ones((n_t, n_r, len(self.category_ids), len(AREA_RANGES)))
        for k in range(len(self.category_ids)):
            chunks = self._chunks.get(k, [])
            if chunks:
                image, rank, score, flags = (np.concatenate(parts) for parts in zip(*chunks))
            else:
                image, rank, score, flags = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(
                    (0, 2, len(AREA_RANGES), n_t), bool)
            # COCOeval joins the images in id order, each sorted by score, then sorts all stably by score.
            order = np.lexsort((rank, image, -score))
            for a in range(len(AREA_RANGES)):
                npig = self._n_ignored_free[k, a]
                if npig == 0:
                    continue
                matched, ignored = flags[order, 0, a].T, flags[order, 1, a].T
                precision[:, :, k, a] = _precision_at_recalls(matched, ignored, npig)
        return precision

    def summarize(self, names: dict[int, str] | None = None) -> dict:
        """``ap`` (IoU 0.50:0.95), ``ap50``, ``ap75``, ``ap_small``, ``ap_medium``, ``ap_large`` (None where no
        category has ground truth, COCOeval's -1) and ``per_class`` (category name or id -> AP or None)."""
        precision = self.precision()
        t50, t75 = np.where(IOU_THRESHOLDS == 0.5)[0], np.where(IOU_THRESHOLDS == 0.75)[0]
        out = {"ap": _mean(precision[:, :, :, 0]), "ap50": _mean(precision[t50][:, :, :, 0]),
               "ap75": _mean(precision[t75][:, :, :, 0])}
        for a, name in enumerate(AREA_NAMES[1:], 1):
            out[f"ap_{name}"] = _mean(precision[:, :, :, a])
        names = names or {}
        out["per_class"] = {names.get(c, c): _mean(precision[:, :, k, 0]) for k, c in enumerate(self.category_ids)}
        return out


def _mean(s: np.ndarray) -> float | None:
    """COCOeval's summary of a precision slice: the mean of its defined entries (None for its -1)."""
    s = s[s > -1]
    return None if len(s) == 0 else float(np.mean(s))


def _match(ious: np.ndarray, g_ignore: np.ndarray, crowd: np.ndarray,
           d_out_of_range: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval's greedy matching of one image and category in one area range: (matched, ignored), each
    (IoU thresholds, detections). Detections come sorted by score; ground truth not ignored goes first."""
    g_order = np.argsort(g_ignore, kind="mergesort")
    g_ignore, crowd = g_ignore[g_order], crowd[g_order]
    ious = ious[:, g_order] if ious.size else ious
    n_t, n_d, n_g = len(IOU_THRESHOLDS), ious.shape[0], len(g_order)
    matched = np.zeros((n_t, n_d), bool)
    ignored = np.zeros((n_t, n_d), bool)
    if n_d and n_g:
        for t, threshold in enumerate(IOU_THRESHOLDS):
            taken = np.zeros(n_g, bool)
            for d in range(n_d):
                best, m = min(threshold, 1 - 1e-10), -1
                for g in range(n_g):
                    if taken[g] and not crowd[g]:
                        continue
                    if m > -1 and not g_ignore[m] and g_ignore[g]:
                        break
                    if ious[d, g] < best:
                        continue
                    best, m = ious[d, g], g
                if m == -1:
                    continue
                ignored[t, d], matched[t, d], taken[m] = g_ignore[m], True, True
    ignored |= ~matched & d_out_of_range[None, :]
    return matched, ignored


def _precision_at_recalls(matched: np.ndarray, ignored: np.ndarray, npig: int) -> np.ndarray:
    """COCOeval's ``accumulate`` for one category and area range: (IoU thresholds, recall points)."""
    tps = np.logical_and(matched, np.logical_not(ignored))
    fps = np.logical_and(np.logical_not(matched), np.logical_not(ignored))
    tp_sum = np.cumsum(tps, axis=1).astype(dtype=float)
    fp_sum = np.cumsum(fps, axis=1).astype(dtype=float)
    out = np.zeros((len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS)))
    for t, (tp, fp) in enumerate(zip(tp_sum, fp_sum)):
        nd = len(tp)
        rc = tp / npig
        pr = tp / (fp + tp + np.spacing(1))
        pr = np.maximum.accumulate(pr[::-1])[::-1] if nd else pr  # the precision envelope
        inds = np.searchsorted(rc, RECALL_THRESHOLDS, side="left")
        valid = inds < nd
        out[t, valid] = pr[inds[valid]]
    return out
