"""Instance masks and their ground truth as COCO instances files (shared by export_ins_coco and eval_ins_seg).

Pseudo labels come from make_ins_seg's ``<id>.npz`` files; ground truth from VOC's SegmentationObject and
SegmentationClass PNGs (instance ids 1..254, each taking its class from the class PNG; 0 and 255 are not
instances) or from COCO's official instances JSON.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from misc import coco_format
from misc.errors import PipelineError
from misc.fileio import cam_path, load_png
from postprocess import instance_scoring
from voc12.dataloader import DatasetSpec


def load_instances(path: Path) -> dict[str, np.ndarray]:
    """One make_ins_seg file; an unreadable one is an error that names it."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in ("score", "class", "mask")}
    except (OSError, ValueError, KeyError) as err:
        raise PipelineError(f"instance file {path} is corrupt ({err}); rerun make_ins_seg") from err


def prediction_annotations(spec: DatasetSpec, det: dict[str, np.ndarray], image: int, min_score: float = 0.0,
                           min_area: int = 0) -> list[dict]:
    """One image's make_ins_seg instances as scored annotations, without those scoring below ``min_score`` or
    smaller than ``min_area`` pixels."""
    return [coco_format.mask_annotation(mask, spec.category_ids[int(cls) - 1], image, 0, float(score))
            for mask, cls, score in zip(det["mask"], det["class"], det["score"])
            if score >= min_score and mask.sum() >= min_area]


def ground_truth_annotations(spec: DatasetSpec, masks: np.ndarray, labels: np.ndarray, image: int) -> list[dict]:
    """One image's ground-truth instances (masks and 0-based labels) as annotations."""
    return [coco_format.mask_annotation(m, spec.category_ids[int(c)], image, 0) for m, c in zip(masks, labels)]


def pseudo_label_file(spec: DatasetSpec, root: Path, names: Sequence[str], ins_dir: str | Path,
                      min_score: float = 0.0, min_area: int = 0, info: dict | None = None) -> dict:
    """The instance pseudo labels of ``names`` as a COCO instances file; fragments scoring below
    ``min_score`` or smaller than ``min_area`` pixels are left out."""
    images, annotations = [], []
    for name in tqdm(names, desc="export ins_seg", dynamic_ncols=True):
        det = load_instances(cam_path(ins_dir, name))
        images.append(coco_format.image_entry(name, spec.image_file_name(root, name), *det["mask"].shape[1:]))
        annotations += prediction_annotations(spec, det, images[-1]["id"], min_score, min_area)
    return coco_format.instances_file(images, annotations, categories_of(spec), info)


def voc_ground_truth(spec: DatasetSpec, root: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """An image's VOC instances: (R, H, W) masks and 0-based labels from its object and class PNGs."""
    return instance_scoring.instances_from_voc_pngs(load_png(spec.gt_path(root, name)),
                                                    load_png(spec.instance_path(root, name)))


def ground_truth_file(spec: DatasetSpec, root: Path, names: Sequence[str]) -> dict:
    """The instance ground truth of ``names``: VOC's PNGs, or COCO's instances JSON."""
    if spec.name == "coco14":
        return _coco_ground_truth(spec, root, names)
    images, annotations = [], []
    for name in tqdm(names, desc="ground truth", dynamic_ncols=True):
        masks, labels = voc_ground_truth(spec, root, name)
        images.append(coco_format.image_entry(name, spec.image_file_name(root, name), *masks.shape[1:]))
        annotations += ground_truth_annotations(spec, masks, labels, images[-1]["id"])
    return coco_format.instances_file(images, annotations, categories_of(spec), {"ground_truth": str(root)})


def _coco_ground_truth(spec, root: Path, names: Sequence[str]) -> dict:
    from coco14.prepare import load_instances as load_json

    wanted = {coco_format.image_id(n): n for n in names}
    images, annotations = {}, []
    for split in ("train2014", "val2014"):
        path = spec.annotation_path(root, split)
        if not path.is_file():
            continue
        data = load_json(path)
        for img in data["images"]:
            if img["id"] in wanted:
                name = wanted[img["id"]]
                images[img["id"]] = coco_format.image_entry(name, spec.image_file_name(root, name), img["height"],
                                                            img["width"])
        annotations += [dict(a) for a in data["annotations"] if a["image_id"] in wanted]
    missing = [n for i, n in wanted.items() if i not in images]
    if missing:
        raise PipelineError(f"{len(missing)} evaluated images are in no instances JSON under {root / 'annotations'} "
                            f"(first: {missing[0]}); pick another --chainer_eval_set")
    ordered = [images[coco_format.image_id(n)] for n in names]
    return coco_format.instances_file(ordered, annotations, categories_of(spec), {"ground_truth": str(root)})


def categories_of(spec: DatasetSpec) -> list[dict]:
    return coco_format.categories(spec.category_ids, spec.class_names)

