"""Instance masks and their ground truth as COCO instances files (shared by export_ins_coco and eval_ins_seg).

Pseudo labels come from make_ins_seg's ``<id>.npz`` files; ground truth from VOC's SegmentationObject and
SegmentationClass PNGs (instance ids 1..254, each taking its class from the class PNG; 0 and 255 are not
instances) or from COCO's official instances JSON.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from misc import coco_format, parallel
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


def _pseudo_label_entry(spec: DatasetSpec, root: Path, ins_dir: str, filters: tuple[float, int],
                        name: str) -> tuple[dict, list[dict]]:
    """One image's entry and its instance annotations (a pool worker's unit of export_ins_coco)."""
    det = load_instances(cam_path(ins_dir, name))
    image = coco_format.image_entry(name, spec.image_file_name(root, name), *det["mask"].shape[1:])
    return image, prediction_annotations(spec, det, image["id"], *filters)


def pseudo_label_entries(spec: DatasetSpec, root: Path, names: Sequence[str], ins_dir: str | Path,
                         filters: tuple[float, int] = (0.0, 0), workers: int = 1) -> Iterator[tuple[dict, list]]:
    """Per image of ``names``, in order: its image entry and its make_ins_seg instances as scored annotations,
    without fragments scoring below ``filters[0]`` or smaller than ``filters[1]`` pixels; ``workers`` processes
    encode the masks."""
    job = partial(_pseudo_label_entry, spec, Path(root), str(ins_dir), tuple(filters))
    return parallel.imap_ordered(job, list(names), workers, "export ins_seg")


def pseudo_label_file(spec: DatasetSpec, root: Path, names: Sequence[str], ins_dir: str | Path,
                      min_score: float = 0.0, min_area: int = 0, info: dict | None = None) -> dict:
    """The instance pseudo labels of ``names`` as a COCO instances file held in memory (small lists; the step
    streams :func:`pseudo_label_entries` to its file instead)."""
    images, annotations = [], []
    for image, anns in pseudo_label_entries(spec, root, names, ins_dir, (min_score, min_area)):
        images.append(image)
        annotations += anns
    return coco_format.instances_file(images, annotations, categories_of(spec), info)


def voc_ground_truth(spec: DatasetSpec, root: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """An image's VOC instances: (R, H, W) masks and 0-based labels from its object and class PNGs."""
    return instance_scoring.instances_from_voc_pngs(load_png(spec.gt_path(root, name)),
                                                    load_png(spec.instance_path(root, name)))


class InstanceTruth:
    """The instance ground truth of a list of images, one image at a time: VOC's PNGs (read per image) or COCO's
    instances JSON (only the splits that hold the images, indexed once; the rest of the file is let go)."""

    def __init__(self, spec: DatasetSpec, root: Path, names: Sequence[str]):
        self.spec, self.root, self.names = spec, Path(root), list(names)
        self._coco = _CocoIndex(spec, self.root, self.names) if spec.name == "coco14" else None

    def __iter__(self) -> Iterator[tuple[dict, list[dict], tuple | None]]:
        """Per name, in order: (image entry, ground-truth annotations, VOC's (masks, 0-based labels) or None)."""
        for name in self.names:
            if self._coco is not None:
                image, anns = self._coco.image(name)
                yield image, anns, None
                continue
            masks, labels = voc_ground_truth(self.spec, self.root, name)
            image = coco_format.image_entry(name, self.spec.image_file_name(self.root, name), *masks.shape[1:])
            yield image, ground_truth_annotations(self.spec, masks, labels, image["id"]), (masks, labels)


class _CocoIndex:
    """COCO's instance ground truth of ``names``: image sizes and annotations by image id, from the split
    files that hold them (the split of the first image first, the other only where images are left)."""

    def __init__(self, spec, root: Path, names: Sequence[str]):
        from coco14.dataloader import SPLITS
        from coco14.prepare import load_instances as load_json

        wanted = {coco_format.image_id(n): n for n in names}
        first = spec.image_path(root, names[0]).parent.name if names else SPLITS[0]
        self.images: dict[int, dict] = {}
        self.annotations: dict[int, list] = {i: [] for i in wanted}
        for split in sorted(SPLITS, key=lambda s: s != first):
            path = spec.annotation_path(root, split)
            if len(self.images) == len(wanted) or not path.is_file():
                continue
            data = load_json(path)
            for img in data["images"]:
                if img["id"] in wanted:
                    name = wanted[img["id"]]
                    self.images[img["id"]] = coco_format.image_entry(name, spec.image_file_name(root, name),
                                                                     img["height"], img["width"])
            for ann in data["annotations"]:
                if ann["image_id"] in wanted:
                    self.annotations[ann["image_id"]].append(ann)
            del data
        missing = [n for i, n in wanted.items() if i not in self.images]
        if missing:
            raise PipelineError(f"{len(missing)} evaluated images are in no instances JSON under "
                                f"{root / 'annotations'} (first: {missing[0]}); pick another --chainer_eval_set")

    def image(self, name: str) -> tuple[dict, list[dict]]:
        iid = coco_format.image_id(name)
        return self.images[iid], [dict(a) for a in self.annotations[iid]]


def ground_truth_file(spec: DatasetSpec, root: Path, names: Sequence[str]) -> dict:
    """The instance ground truth of ``names`` as a COCO instances file held in memory (VOC's PNGs, or COCO's
    instances JSON); the step streams :class:`InstanceTruth` to its file instead."""
    images, annotations = [], []
    for image, anns, _ in InstanceTruth(spec, root, names):
        images.append(image)
        annotations += anns
    return coco_format.instances_file(images, annotations, categories_of(spec), {"ground_truth": str(root)})


def categories_of(spec: DatasetSpec) -> list[dict]:
    return coco_format.categories(spec.category_ids, spec.class_names)

