"""Instance masks in the COCO instances format, and COCO-style mask AP with pycocotools.

The format is what detectron2 (``register_coco_instances``) and mmdetection (``CocoDataset``) read: ``images``
(int ``id``, ``file_name``, ``width``, ``height``), ``categories`` (``id``, ``name``) and ``annotations`` whose
``segmentation`` is a compressed RLE (exact, unlike polygons), with ``bbox`` [x, y, w, h], ``area``, ``iscrowd``
and, for pseudo labels, the instance ``score``.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
from typing import Iterable, Sequence

import numpy as np


def image_id(name: str) -> int:
    """The integer id of an image: its digits for VOC (``2007_000032`` -> 2007000032) and COCO (the official
    id), else a stable 48-bit hash of the name (own folders), so separate files agree on it."""
    digits = name.replace("_", "")
    if digits.isdigit():
        return int(digits)
    return int(hashlib.sha1(name.encode()).hexdigest()[:12], 16)


def encode_mask(mask: np.ndarray) -> dict:
    """A boolean (H, W) mask as a compressed RLE with a JSON-ready ``counts`` string."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def decode_segmentation(segmentation, height: int, width: int) -> np.ndarray:
    """A boolean mask from a compressed RLE (string or bytes counts), an uncompressed RLE or polygons."""
    from pycocotools import mask as mask_utils

    if isinstance(segmentation, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation.get("counts"), list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        counts = segmentation["counts"]
        rle = {"size": segmentation["size"], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    return mask_utils.decode(rle).astype(bool)


def mask_annotation(mask: np.ndarray, category_id: int, image: int, ann_id: int, score: float | None = None) -> dict:
    """One annotation of a boolean mask: compressed RLE, its bounding box and area, not a crowd."""
    from pycocotools import mask as mask_utils

    rle = encode_mask(mask)
    coded = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
    ann = {"id": ann_id, "image_id": image, "category_id": int(category_id), "segmentation": rle,
           "area": int(mask_utils.area(coded)), "bbox": [float(v) for v in mask_utils.toBbox(coded)], "iscrowd": 0}
    if score is not None:
        ann["score"] = float(score)
    return ann


def image_entry(name: str, file_name: str, height: int, width: int) -> dict:
    return {"id": image_id(name), "file_name": file_name, "width": int(width), "height": int(height)}


def categories(category_ids: Sequence[int], names: Sequence[str]) -> list[dict]:
    return [{"id": int(i), "name": n, "supercategory": "none"} for i, n in zip(category_ids, names)]


def instances_file(images: list[dict], annotations: list[dict], cats: list[dict], info: dict | None = None) -> dict:
    """A COCO instances file; annotation ids are renumbered 1..N in order."""
    for k, ann in enumerate(annotations, 1):
        ann["id"] = k
    return {"info": info or {}, "images": images, "annotations": annotations, "categories": cats}


def write_instances_file(f, per_image: Iterable[tuple[dict, list[dict]]], cats: list[dict],
                         info: dict | None = None) -> tuple[int, int]:
    """Stream a COCO instances file to the text file ``f``, one image at a time (entry and annotations), with
    annotation ids renumbered 1..N in order; returns (images, annotations). The bytes equal ``json.dump`` of
    :func:`instances_file`'s dict, while memory holds one image: the annotations go to a spooled side file and
    follow the images. Each entry is encoded by ``json.dumps``, whose C encoder is many times faster than
    ``json.dump``'s pure-Python one."""
    import json
    import shutil
    import tempfile

    n_images = n_annotations = 0
    f.write('{"info": ' + json.dumps(info or {}) + ', "images": [')
    with tempfile.TemporaryFile("w+", encoding="utf-8", dir=_folder_of(f)) as side:
        for image, annotations in per_image:
            f.write((", " if n_images else "") + json.dumps(image))
            n_images += 1
            for ann in annotations:
                n_annotations += 1
                ann["id"] = n_annotations
                side.write((", " if n_annotations > 1 else "") + json.dumps(ann))
        f.write('], "annotations": [')
        side.seek(0)
        shutil.copyfileobj(side, f, 1 << 20)
    f.write('], "categories": ' + json.dumps(cats) + "}")
    return n_images, n_annotations


def _folder_of(f) -> str | None:
    """The folder of an open file, so its side file lies on the same disk (None: the system's temp folder)."""
    import os

    name = getattr(f, "name", None)
    return os.path.dirname(os.path.abspath(name)) if isinstance(name, str) else None


def masks_by_image(data: dict) -> dict[int, list[tuple[np.ndarray, int, float | None]]]:
    """(mask, category id, score) of every annotation, grouped by image id in file order."""
    sizes = {img["id"]: (img["height"], img["width"]) for img in data["images"]}
    out: dict[int, list] = {i: [] for i in sizes}
    for ann in data["annotations"]:
        h, w = sizes[ann["image_id"]]
        out[ann["image_id"]].append((decode_segmentation(ann["segmentation"], h, w), ann["category_id"],
                                     ann.get("score")))
    return out


def coco_ap(gt: dict, detections: Iterable[dict]) -> dict:
    """COCO mask AP (pycocotools' COCOeval, ``iouType="segm"``) of ``detections`` against ``gt``: ``ap``
    (IoU 0.50:0.95), ``ap50``, ``ap75`` and ``per_class`` (category name -> AP, None without ground truth).
    Detections of images that ``gt`` does not list are left out, as COCOeval requires."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    known = {img["id"] for img in gt["images"]}
    dets = [dict(d) for d in detections if d["image_id"] in known]
    names = {c["id"]: c["name"] for c in gt["categories"]}
    if not dets or not gt["annotations"]:
        has_gt = {a["category_id"] for a in gt["annotations"]}
        zero = 0.0 if gt["annotations"] else None
        return {"ap": zero, "ap50": zero, "ap75": zero,
                "per_class": {n: (0.0 if i in has_gt else None) for i, n in names.items()}}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        ground = COCO()
        ground.dataset = {k: gt[k] for k in ("images", "annotations", "categories")}
        ground.createIndex()
        results = ground.loadRes(dets)
        evaluator = COCOeval(ground, results, iouType="segm")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    precision = evaluator.eval["precision"]  # (IoU thresholds, recall points, classes, areas, max dets)
    per_class = {}
    for k, cat_id in enumerate(evaluator.params.catIds):
        p = precision[:, :, k, 0, -1]
        per_class[names[cat_id]] = float(p[p > -1].mean()) if (p > -1).any() else None
    stats = evaluator.stats
    return {"ap": float(stats[0]), "ap50": float(stats[1]), "ap75": float(stats[2]), "per_class": per_class}
