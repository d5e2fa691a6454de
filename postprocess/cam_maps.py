"""CAM maps: multi-scale sums, the official normalisations, and per-pixel best foreground score and label."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def resize_sum(outputs: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    """Sum of (C, h, w) maps after bilinear resizing each to ``size``."""
    return torch.stack([F.interpolate(o[None], size, mode="bilinear", align_corners=False)[0]
                        for o in outputs]).sum(0)


def max_normalize(x: torch.Tensor) -> torch.Tensor:
    """Divide each map by its maximum (+1e-5), as IRN's make_cam does."""
    return x / (F.adaptive_max_pool2d(x, (1, 1)) + 1e-5)


def min_max_normalize(x: np.ndarray) -> np.ndarray:
    lo = x.min(axis=(1, 2), keepdims=True)
    hi = x.max(axis=(1, 2), keepdims=True)
    return (x - lo) / (hi - lo + 1e-5)


def cam_prediction_inputs(cam_file: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the best foreground score and its VOC label (1..20)."""
    cams, keys = cam_file["high_res"], cam_file["keys"] + 1
    if len(keys) == 0:
        h, w = cams.shape[-2:]
        return np.zeros((h, w), np.float32), np.zeros((h, w), np.int64)
    return cams.max(0), keys[cams.argmax(0)]
