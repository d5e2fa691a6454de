"""Image and label operations with the official semantics (PIL in place of skimage)."""
from __future__ import annotations

import random
from typing import Sequence

import numpy as np
from PIL import Image

_RESAMPLE = {3: Image.BICUBIC, 0: Image.NEAREST, 1: Image.BILINEAR}


def pil_resize(img: np.ndarray, size: tuple[int, int], order: int) -> np.ndarray:
    """Resize an HxW[xC] uint8 array to ``size`` = (height, width); order 3 bicubic, 0 nearest."""
    if size[0] == img.shape[0] and size[1] == img.shape[1]:
        return img
    return np.asarray(Image.fromarray(img).resize((size[1], size[0]), _RESAMPLE[order]))


def pil_rescale(img: np.ndarray, scale: float, order: int) -> np.ndarray:
    height, width = img.shape[:2]
    return pil_resize(img, (int(np.round(height * scale)), int(np.round(width * scale))), order)


def random_resize_long(img: np.ndarray, min_long: int, max_long: int) -> np.ndarray:
    """Resize so the long side is a random length in [min_long, max_long] (bicubic)."""
    target_long = random.randint(min_long, max_long)
    h, w = img.shape[:2]
    scale = target_long / (h if w < h else w)
    return pil_rescale(img, scale, 3)


def random_scale(img, scale_range: Sequence[float], order):
    """Rescale one array, or a tuple of arrays with one order each, by one random factor."""
    target_scale = scale_range[0] + random.random() * (scale_range[1] - scale_range[0])
    if isinstance(img, tuple):
        return tuple(pil_rescale(i, target_scale, o) for i, o in zip(img, order))
    return pil_rescale(img, target_scale, order)


def random_lr_flip(img):
    if bool(random.getrandbits(1)):
        if isinstance(img, tuple):
            return tuple(np.ascontiguousarray(np.fliplr(m)) for m in img)
        return np.ascontiguousarray(np.fliplr(img))
    return img


def get_random_crop_box(imgsize: tuple[int, int], cropsize: int) -> tuple[int, ...]:
    """Container and image windows of a random crop; small images are placed at random inside."""
    h, w = imgsize
    ch, cw = min(cropsize, h), min(cropsize, w)
    w_space, h_space = w - cropsize, h - cropsize
    if w_space > 0:
        cont_left, img_left = 0, random.randrange(w_space + 1)
    else:
        cont_left, img_left = random.randrange(-w_space + 1), 0
    if h_space > 0:
        cont_top, img_top = 0, random.randrange(h_space + 1)
    else:
        cont_top, img_top = random.randrange(-h_space + 1), 0
    return cont_top, cont_top + ch, cont_left, cont_left + cw, img_top, img_top + ch, img_left, img_left + cw


def _container(img: np.ndarray, cropsize: int, fill) -> np.ndarray:
    shape = (cropsize, cropsize) + tuple(img.shape[2:])
    return np.full(shape, fill, dtype=img.dtype)


def random_crop(images, cropsize: int, default_values):
    """Crop one array or a tuple of arrays at the same random window, padding with ``default_values``."""
    single = isinstance(images, np.ndarray)
    if single:
        images, default_values = (images,), (default_values,)
    box = get_random_crop_box(images[0].shape[:2], cropsize)
    out = []
    for img, fill in zip(images, default_values):
        cont = _container(img, cropsize, fill)
        cont[box[0]:box[1], box[2]:box[3]] = img[box[4]:box[5], box[6]:box[7]]
        out.append(cont)
    return out[0] if single else tuple(out)


def top_left_crop(img: np.ndarray, cropsize: int, default_value) -> np.ndarray:
    h, w = img.shape[:2]
    cont = _container(img, cropsize, default_value)
    cont[:min(cropsize, h), :min(cropsize, w)] = img[:cropsize, :cropsize]
    return cont


def center_crop(img: np.ndarray, cropsize: int, default_value=0) -> np.ndarray:
    """A ``cropsize`` square around the image's centre, padded with ``default_value`` where the image is smaller
    (offsets rounded as the official helper rounds them)."""
    h, w = img.shape[:2]
    ch, cw = min(cropsize, h), min(cropsize, w)
    img_top, cont_top = (int(round((h - cropsize) / 2)), 0) if h > cropsize else (0, int(round((cropsize - h) / 2)))
    img_left, cont_left = (int(round((w - cropsize) / 2)), 0) if w > cropsize else (0, int(round((cropsize - w) / 2)))
    cont = _container(img, cropsize, default_value)
    cont[cont_top:cont_top + ch, cont_left:cont_left + cw] = img[img_top:img_top + ch, img_left:img_left + cw]
    return cont


def HWC_to_CHW(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(img, (2, 0, 1)))


def get_strided_size(orig_size: Sequence[int], stride: int) -> tuple[int, int]:
    """Size of a feature map at ``stride`` (ceil division), as in the official code."""
    return (orig_size[0] - 1) // stride + 1, (orig_size[1] - 1) // stride + 1


def get_strided_up_size(orig_size: Sequence[int], stride: int) -> tuple[int, int]:
    strided_size = get_strided_size(orig_size, stride)
    return strided_size[0] * stride, strided_size[1] * stride


# Dense CRF ------------------------------------------------------------------

def _label_unary(labels: np.ndarray, n_labels: int, gt_prob: float) -> np.ndarray:
    """pydensecrf's ``unary_from_labels(zero_unsure=False)``: -log p with p = gt_prob at the label."""
    if n_labels < 2:
        raise ValueError("a dense CRF needs at least two labels")
    flat = labels.reshape(-1)
    unary = np.full((n_labels, flat.size), -np.log((1.0 - gt_prob) / (n_labels - 1)), dtype=np.float32)
    unary[flat, np.arange(flat.size)] = -np.log(gt_prob)
    return unary


def _crf_with_pairwise(img: np.ndarray, n_labels: int):
    import pydensecrf.densecrf as dcrf

    h, w = img.shape[:2]
    d = dcrf.DenseCRF2D(w, h, n_labels)
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=50, srgb=5, rgbim=np.array(img, dtype=np.uint8, order="C"), compat=10)
    return d


def _infer(d, labels: np.ndarray, n_labels: int, gt_prob: float, t: int) -> np.ndarray:
    d.setUnaryEnergy(np.ascontiguousarray(_label_unary(labels, n_labels, gt_prob)))
    q = np.asarray(d.inference(t)).reshape((n_labels,) + labels.shape)
    return np.argmax(q, axis=0)


def crf_inference_label(img: np.ndarray, labels: np.ndarray, t: int = 10, n_labels: int = 21,
                        gt_prob: float = 0.7) -> np.ndarray:
    """Refine a hard label map with a dense CRF (official signature and parameters)."""
    return _infer(_crf_with_pairwise(img, n_labels), labels, n_labels, gt_prob, t)


def crf_inference_label_pair(img: np.ndarray, labels_a: np.ndarray, labels_b: np.ndarray, t: int = 10,
                             n_labels: int = 21, gt_prob: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """Two CRF refinements of the same image that share one pairwise lattice.

    Inference restarts from the unary every time, so swapping the unary on a
    built CRF gives the labels of two separate CRFs at the cost of one lattice.
    """
    d = _crf_with_pairwise(img, n_labels)
    return _infer(d, labels_a, n_labels, gt_prob, t), _infer(d, labels_b, n_labels, gt_prob, t)


class DenseCRF:
    """deeplab-pytorch's ``DenseCRF`` (libs/utils/crf.py), under its name and parameters: ``DenseCRF(iter_max,
    pos_w, pos_xy_std, bi_w, bi_xy_std, bi_rgb_std)(image, probmap)`` refines softmax probabilities (C, H, W).

    Defaults are its VOC parameters: 10 iterations, Gaussian (weight 3, xy 1), bilateral (weight 4, xy 67,
    rgb 3); the unary is -log p clipped at 1e-5 (pydensecrf's unary_from_softmax).
    """

    def __init__(self, iter_max: int = 10, pos_w: float = 3, pos_xy_std: float = 1, bi_w: float = 4,
                 bi_xy_std: float = 67, bi_rgb_std: float = 3):
        self.iter_max, self.pos_w, self.pos_xy_std = iter_max, pos_w, pos_xy_std
        self.bi_w, self.bi_xy_std, self.bi_rgb_std = bi_w, bi_xy_std, bi_rgb_std

    def __call__(self, image: np.ndarray, probmap: np.ndarray) -> np.ndarray:
        import pydensecrf.densecrf as dcrf
        from pydensecrf.utils import unary_from_softmax

        c, h, w = probmap.shape
        d = dcrf.DenseCRF2D(w, h, c)
        d.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probmap.astype(np.float32))))
        d.addPairwiseGaussian(sxy=self.pos_xy_std, compat=self.pos_w)
        d.addPairwiseBilateral(sxy=self.bi_xy_std, srgb=self.bi_rgb_std,
                               rgbim=np.array(image, dtype=np.uint8, order="C"), compat=self.bi_w)
        return np.asarray(d.inference(self.iter_max)).reshape((c, h, w))


def crf_inference_prob(img: np.ndarray, probs: np.ndarray, crf: DenseCRF | None = None) -> np.ndarray:
    """``crf`` (deeplab-pytorch's VOC DenseCRF by default) on softmax probabilities (C, H, W) -> refined (C, H, W)."""
    return (crf or DenseCRF())(img, probs)


# Visualisation helpers of the official module -------------------------------------------------------------------

# IRN's 22-colour table: VOC's first 21 colours and white.
_VOC_COLOURS = np.array([(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0), (0, 0, 128), (128, 0, 128),
                         (0, 128, 128), (128, 128, 128), (64, 0, 0), (192, 0, 0), (64, 128, 0), (192, 128, 0),
                         (64, 0, 128), (192, 0, 128), (64, 128, 128), (192, 128, 128), (0, 64, 0), (128, 64, 0),
                         (0, 192, 0), (128, 192, 0), (0, 64, 128), (255, 255, 255)], np.float32)


def compress_range(arr: np.ndarray) -> np.ndarray:
    """Relabel the values of an integer array to 0..k-1, keeping their order."""
    return np.searchsorted(np.unique(arr), arr).astype(np.int32)


def _hues(n: int) -> np.ndarray:
    import matplotlib.colors

    h = np.arange(n) / max(n, 1)
    return matplotlib.colors.hsv_to_rgb(np.stack((h, np.ones_like(h), np.ones_like(h)), axis=-1))


def colorize_score(score_map: np.ndarray, exclude_zero: bool = False, normalize: bool = True,
                   by_hue: bool = False) -> np.ndarray:
    """(C, H, W) scores -> (H, W, 3): each pixel the colour of its best class, scaled by its score."""
    colours = _hues(score_map.shape[0]) if by_hue else (_VOC_COLOURS[1:] if exclude_zero else _VOC_COLOURS)
    best = np.argmax(score_map, axis=0) % len(colours)
    out = np.max(score_map, axis=0)[..., None] * colours[best]
    return out / (np.max(out) + 1e-5) if normalize else out


def colorize_displacement(disp: np.ndarray) -> np.ndarray:
    """(2, H, W) displacements -> (H, W, 3): hue from the direction, saturation from the length."""
    import matplotlib.colors

    angle = (np.arctan2(-disp[0], -disp[1]) / np.pi + 1) / 2
    length = np.sqrt(disp[0] ** 2 + disp[1] ** 2)
    return matplotlib.colors.hsv_to_rgb(np.stack((angle, length / np.max(length), np.ones_like(angle)), axis=-1))


def colorize_label(label_map: np.ndarray, normalize: bool = True, by_hue: bool = True, exclude_zero: bool = False,
                   outline: bool = False) -> np.ndarray:
    """(H, W) labels -> (H, W, 3) colours (hues spread over the labels, or VOC's table); ``outline`` whitens
    the borders between labels."""
    label_map = label_map.astype(np.uint8)
    if by_hue:
        out = np.concatenate([np.zeros((1, 3)), _hues(int(np.max(label_map)))], axis=0)[label_map]
    else:
        out = (_VOC_COLOURS[1:] if exclude_zero else _VOC_COLOURS)[label_map]
        if normalize:
            out = out / np.max(out)
    if outline:
        diff = (np.abs(out[:-1, :-1] - out[1:, :-1]).sum(-1) + np.abs(out[:-1, :-1] - out[:-1, 1:]).sum(-1)) > 0
        edge = np.maximum(np.pad(diff, ((0, 1), (0, 1))), np.pad(diff, ((1, 0), (1, 0))))
        out = np.maximum(out, np.repeat(edge[..., None], 3, axis=-1))
    return out
