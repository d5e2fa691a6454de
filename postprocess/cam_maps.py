"""CAM maps: multi-scale sums, the official normalisations, and per-pixel best foreground score and label."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def resize_sum(outputs: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    """Sum of (C, h, w) maps after bilinear resizing each to ``size``."""
    return torch.stack([F.interpolate(o[None], size, mode="bilinear", align_corners=False)[0]
                        for o in outputs]).sum(0)


def max_normalize(x: torch.Tensor) -> torch.Tensor:
    """Divide each map by its maximum (+1e-5), as IRN's make_cam does."""
    return x / (F.adaptive_max_pool2d(x, (1, 1)) + 1e-5)


def amn_prediction(logit: torch.Tensor, label_cls: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """AMN's own label map of one image, for its per-epoch evaluation: the argmax over background plus the
    image's classes of the softmax upsampled to the stride-16 grid and cropped to ``size``."""
    from misc.imutils import get_strided_up_size

    up = F.interpolate(logit, get_strided_up_size(size, 16), mode="bilinear", align_corners=False)
    up = up[0, :, :size[0], :size[1]]
    keys = np.pad(torch.nonzero(label_cls)[:, 0].cpu().numpy() + 1, (1, 0))
    prob = F.softmax(up, dim=0)[torch.from_numpy(keys).to(up.device)]
    return keys[prob.argmax(0).cpu().numpy()]


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
    # max and argmax in one pass over the few maps (numpy's argmax over axis 0 is several times slower); a
    # later map takes a pixel only where strictly above, so ties go to the first, as argmax's do.
    top, best = cams[0].copy(), np.zeros(cams.shape[1:], np.uint8 if len(keys) < 256 else np.int64)
    for k in range(1, len(cams)):
        above = cams[k] > top
        np.maximum(top, cams[k], out=top)
        np.copyto(best, k, where=above)
    return top, keys.astype(np.int64).take(best)


def amn_postprocess(strided: torch.Tensor, high_res: torch.Tensor, label: torch.Tensor, seed: np.ndarray):
    """From scale-averaged logits to (keys, strided maps, full-size maps) of the foreground classes.

    Softmax over all classes, keep background + the image's classes, then min-max normalise each
    kept map where the seed (nearest-resized) is not background.
    """
    valid_cat = torch.nonzero(label)[:, 0].cpu()
    keys = torch.cat([torch.zeros(1, dtype=torch.long), valid_cat + 1])
    maps = []
    for logit in (strided, high_res):
        prob = F.softmax(logit, dim=0)[keys.to(logit.device)].cpu().numpy()
        seed_here = np.asarray(Image.fromarray(seed).resize(prob.shape[:0:-1], Image.NEAREST))
        not_bg = np.broadcast_to(seed_here != 0, prob.shape)
        prob[not_bg] = min_max_normalize(prob)[not_bg]
        maps.append(prob[1:])  # background row: only its foreground rows are used downstream
    return valid_cat.numpy(), maps[0], maps[1]
