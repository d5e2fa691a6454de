"""IRN's instance pseudo masks: centroids from the displacement field, instance-wise random walks of the
CAMs on the boundary map, then connected fragments scored by their maps (official make_ins_seg_labels)."""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from misc.fileio import atomic_open
from postprocess.random_walk import Walk, labels_above, normalized_walk

CENTROID_ITERATIONS = 300


CLUSTER_THRESHOLD = 2.5


MIN_FRAGMENT_FRACTION = 0.01


def find_centroids_with_refinement(displacement: np.ndarray, iterations: int = CENTROID_ITERATIONS) -> np.ndarray:
    """Follow the displacement field (2, h, w) from every pixel with bilinear steps; (2, h, w) int centroids.

    The positions stay float32 as in the official code: each step is computed in float64 (float32 minus an
    integer index promotes) and added in place, which rounds it back to float32. The walk is chaotic at basin
    boundaries, so float64 positions would send some pixels to other centroids.
    """
    height, width = displacement.shape[1:]
    cy, cx = np.mgrid[:height, :width].astype(np.float32)
    for _ in range(iterations):
        y0, x0 = np.floor(cy).astype(np.int32), np.floor(cx).astype(np.int32)
        y1, x1 = np.ceil(cy).astype(np.int32), np.ceil(cx).astype(np.int32)
        wy, wx = cy - y0, cx - x0
        step = [d[y1, x1] * wy * wx + d[y0, x1] * (1 - wy) * wx + d[y1, x0] * wy * (1 - wx)
                + d[y0, x0] * (1 - wy) * (1 - wx) for d in displacement]
        cy += step[0]
        cx += step[1]
        cy = np.clip(cy, 0, height - 1)
        cx = np.clip(cx, 0, width - 1)
    return np.stack([np.round(cy), np.round(cx)]).astype(np.int64)


def one_hot(labels: np.ndarray, n: int | None = None) -> np.ndarray:
    """(n, ...) bool planes of an integer map (n defaults to its maximum + 1)."""
    n = int(labels.max()) + 1 if n is None else n
    return np.arange(n).reshape((-1,) + (1,) * labels.ndim) == labels[None]


def cluster_centroids(centroids: np.ndarray, displacement: np.ndarray,
                      thres: float = CLUSTER_THRESHOLD) -> np.ndarray:
    """(I, h, w) instance planes: pixels grouped by the weak-displacement region their centroid lands in.

    Regions are 4-connected (connectivity 1) areas of displacement strength below ``thres``; pixels whose
    centroid lands elsewhere form one more group, as in the official code.
    """
    weak = np.hypot(displacement[0], displacement[1]) < thres
    regions, _ = ndimage.label(weak)
    cluster = regions[centroids[0], centroids[1]] + 1
    _, dense = np.unique(cluster, return_inverse=True)
    return one_hot(dense.reshape(cluster.shape))


def detect_instance(score_map: np.ndarray, mask: np.ndarray, class_id: np.ndarray,
                    max_fragment_size: float = 0) -> dict[str, np.ndarray]:
    """Split each class-instance shape into 4-connected fragments; small fragments keep score 0."""
    scores, classes, masks = [], [], []
    for score, shape, cls in zip(score_map, mask, class_id):
        if not shape.any():
            continue
        fragments, n = ndimage.label(shape)
        for k in range(1, n + 1):
            fragment = fragments == k
            scores.append(0.0 if fragment.sum() < max_fragment_size else float(np.max(score * fragment)))
            classes.append(cls)
            masks.append(fragment)
    h, w = mask.shape[1:]
    return {"score": np.asarray(scores, np.float32), "class": np.asarray(classes, np.int64),
            "mask": np.stack(masks) if masks else np.zeros((0, h, w), bool)}


def instance_map_of(displacement: np.ndarray) -> np.ndarray:
    """(I, h, w) instance planes of a displacement field: the centroid search (a few hundred NumPy passes,
    so make_ins_seg runs it in a CPU pool behind the network) and the clustering of its centroids."""
    return cluster_centroids(find_centroids_with_refinement(displacement), displacement)


def instances_from_cams(cams: np.ndarray, keys: np.ndarray, edge: torch.Tensor, displacement: np.ndarray,
                        size, walk: Walk, bg_thres: float, instance_map: np.ndarray | None = None
                        ) -> dict[str, np.ndarray]:
    """Instance detections of one image from its strided CAMs (C, h, w), 0-based ``keys`` and IRN outputs; each
    class-instance map walks on ``edge``, the background at ``bg_thres``. ``instance_map``: the
    :func:`instance_map_of` ``displacement`` where it was computed already."""
    h, w = size
    if len(keys) == 0:
        return detect_instance(np.zeros((0, h, w)), np.zeros((0, h, w), bool), np.zeros(0, np.int64))
    if instance_map is None:
        instance_map = instance_map_of(displacement)
    n_inst = len(instance_map)
    x = torch.from_numpy(cams[:, None] * instance_map[None]).float().to(edge.device)
    rw_up = normalized_walk(walk.run(x.reshape(-1, *cams.shape[1:]), edge), (h, w))[0]
    shapes = one_hot(labels_above(rw_up, bg_thres), len(keys) * n_inst + 1)[1:]
    return detect_instance(rw_up.cpu().numpy(), shapes, np.repeat(np.asarray(keys) + 1, n_inst),
                           max_fragment_size=h * w * MIN_FRAGMENT_FRACTION)


def save_instances(path, detected: dict, record: str) -> None:
    with atomic_open(path) as f:
        np.savez_compressed(f, record=np.asarray(record), **detected)
