"""Confident seeds from CAMs: two CRFs (fg and bg thresholds) on one pairwise lattice."""
from __future__ import annotations

import numpy as np

from misc import imutils


def seed_from_cams(img: np.ndarray, cam_file: dict, fg_thres: float, bg_thres: float) -> np.ndarray:
    """Confident seeds: the class where the fg-threshold CRF says so, 0 where both CRFs say
    background, 255 elsewhere. Both CRFs share one pairwise lattice."""
    cams = cam_file["high_res"]
    keys = np.pad(cam_file["keys"] + 1, (1, 0), mode="constant")
    fg_labels = np.argmax(np.pad(cams, ((1, 0), (0, 0), (0, 0)), constant_values=fg_thres), axis=0)
    bg_labels = np.argmax(np.pad(cams, ((1, 0), (0, 0), (0, 0)), constant_values=bg_thres), axis=0)
    if len(keys) < 2:
        fg_conf = bg_conf = np.zeros(cams.shape[-2:], np.int64)
    else:
        fg_pred, bg_pred = imutils.crf_inference_label_pair(img, fg_labels, bg_labels, n_labels=len(keys))
        fg_conf, bg_conf = keys[fg_pred], keys[bg_pred]
    conf = fg_conf.copy()
    conf[fg_conf == 0] = 255
    conf[bg_conf + fg_conf == 0] = 0
    return conf.astype(np.uint8)
