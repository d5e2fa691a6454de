"""A small deterministic download in the COCO 2014 format, for demos and tests.

It writes ``train2014/COCO_train2014_<id>.jpg``, ``val2014/COCO_val2014_<id>.jpg`` and
``annotations/instances_{train,val}2014.json`` with all 80 categories. Objects are
polygons drawn in annotation order (a later one covers an earlier one); some images
carry a crowd region as an uncompressed RLE; one training image has no annotation and
one is grayscale. The look of each class follows the toy VOC (``voc12/toy.py``).

Usage: python -m coco14.toy --out data/toy_coco [--seed 0 --num_train 60 --num_val 20 --size 96]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from coco14.dataloader import CATEGORIES
from misc.fileio import atomic_open
from voc12 import toy as voc_toy

DEFAULT_CLASSES = ("airplane", "bird", "boat", "car", "cat", "person")
_VOC_NAME = {"airplane": "aeroplane"}
CROWD_EVERY = 7


def polygon(shape: str, cy: float, cx: float, h: float, w: float) -> list[float]:
    """A COCO polygon [x0, y0, x1, y1, ...] for a rectangle or a 24-gon ellipse."""
    if shape == "rect":
        y0, y1, x0, x1 = cy - h / 2, cy + h / 2, cx - w / 2, cx + w / 2
        pts = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    else:
        t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        pts = list(zip(cx + w / 2 * np.cos(t), cy + h / 2 * np.sin(t)))
    return [round(float(v), 2) for p in pts for v in p]


def polygon_mask(poly: list[float], size: int) -> np.ndarray:
    from coco14.prepare import annotation_mask

    return annotation_mask([poly], size, size)


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE: column-major run lengths, starting with a run of zeros."""
    flat = np.asarray(mask, np.uint8).flatten(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0] == 1:
        counts = [0] + counts
    return {"size": list(mask.shape), "counts": counts}


def _style(name: str, rank: int):
    return voc_toy.class_style(_VOC_NAME.get(name, name), rank)


def _paint(img, mask, style, size, rng, part_box) -> None:
    shade = rng.uniform(0.85, 1.15)
    body = np.clip(np.asarray(style.body_rgb, np.float32) * shade, 0, 255)
    img[mask] = body + rng.normal(0, 10, (int(mask.sum()), 3))
    part = voc_toy._shape_mask("rect", *part_box, size) & mask
    img[part] = voc_toy._pattern(style.part_pattern, style.part_rgb, size, max(2, size // 48))[part]


def make_scene(classes: tuple[str, ...], size: int, rng: np.random.Generator, crowd: bool):
    """An image and its annotations [(category name, segmentation, iscrowd)]."""
    cat_id = {name: cid for cid, name in CATEGORIES}
    present = [classes[i] for i in rng.choice(len(classes), size=1 + int(rng.random() < 0.35), replace=False)]
    img = voc_toy._background(_style(present[0], classes.index(present[0])).background, size, rng)
    anns = []
    for k in range(len(present) + int(rng.integers(0, 2))):
        name = present[k % len(present)]
        style = _style(name, classes.index(name))
        h, w = rng.uniform(0.3, 0.55) * size, rng.uniform(0.3, 0.55) * size
        cy, cx = rng.uniform(h / 2, size - h / 2), rng.uniform(w / 2, size - w / 2)
        poly = polygon(style.shape, cy, cx, h, w)
        part_box = (cy + rng.uniform(-0.25, 0.25) * h, cx + rng.uniform(-0.25, 0.25) * w,
                    h * voc_toy.PART_SIZE, w * voc_toy.PART_SIZE)
        _paint(img, polygon_mask(poly, size), style, size, rng, part_box)
        anns.append((cat_id[name], [poly], 0))
    if crowd:
        name = present[0]
        mask = np.zeros((size, size), bool)
        y0, x0 = (int(v) for v in rng.integers(0, size // 2, 2))
        mask[y0:y0 + size // 3, x0:x0 + size // 3] = True
        _paint(img, mask, _style(name, classes.index(name)), size, rng, (y0 + size / 6, x0 + size / 6, 8, 8))
        anns.append((cat_id[name], uncompressed_rle(mask), 1))
    return np.clip(img, 0, 255).astype(np.uint8), anns


def _annotation(ann_id: int, image_id: int, cat: int, seg, crowd: int, size: int) -> dict:
    from pycocotools import mask as mask_utils

    rle = mask_utils.frPyObjects(seg, size, size)
    rle = mask_utils.merge(rle) if isinstance(rle, list) else rle
    return {"id": ann_id, "image_id": image_id, "category_id": cat, "segmentation": seg, "iscrowd": crowd,
            "area": float(mask_utils.area(rle)), "bbox": [float(v) for v in mask_utils.toBbox(rle)]}


def generate(out: str | Path, seed: int = 0, num_train: int = 60, num_val: int = 20, size: int = 96,
             classes: tuple[str, ...] = DEFAULT_CLASSES) -> Path:
    """Write the toy download under ``out`` and return it."""
    names = {name for _, name in CATEGORIES}
    unknown = [c for c in classes if c not in names]
    if unknown:
        raise ValueError(f"unknown COCO classes {unknown}")
    root = Path(out)
    rng = np.random.default_rng(seed)
    categories = [{"id": cid, "name": name, "supercategory": "toy"} for cid, name in CATEGORIES]
    ann_id = 1
    for split, count, first_id in (("train2014", num_train, 1), ("val2014", num_val, 500000)):
        images, annotations = [], []
        for k in range(count):
            image_id = first_id + 7 * k
            empty, gray = split == "train2014" and k == 1, split == "train2014" and k == 2
            img, anns = make_scene(tuple(classes), size, rng, crowd=k % CROWD_EVERY == 3)
            if empty:
                img, anns = voc_toy._background("indoor", size, rng).astype(np.uint8), []
            file_name = f"COCO_{split}_{image_id:012d}.jpg"
            pil = Image.fromarray(img).convert("L") if gray else Image.fromarray(img)
            with atomic_open(root / split / file_name) as f:
                pil.save(f, format="JPEG", quality=92)
            images.append({"id": image_id, "file_name": file_name, "width": size, "height": size})
            for cat, seg, crowd in anns:
                annotations.append(_annotation(ann_id, image_id, cat, seg, crowd, size))
                ann_id += 1
        with atomic_open(root / "annotations" / f"instances_{split}.json", "w") as f:
            json.dump({"images": images, "annotations": annotations, "categories": categories}, f)
    return root


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder to create (it gets train2014/, val2014/, annotations/)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the scenes")
    p.add_argument("--num_train", type=int, default=60, help="images in train2014/")
    p.add_argument("--num_val", type=int, default=20, help="images in val2014/")
    p.add_argument("--size", type=int, default=96, help="image side in pixels")
    p.add_argument("--classes", default=",".join(DEFAULT_CLASSES), help="comma-separated COCO class names to draw")
    a = p.parse_args(argv)
    root = generate(a.out, a.seed, a.num_train, a.num_val, a.size, tuple(a.classes.split(",")))
    print(f"toy COCO written to {root} ({a.num_train} train, {a.num_val} val, {a.size}px)")


if __name__ == "__main__":
    main()
