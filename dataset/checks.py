"""The checks every step makes before it starts: lists, images, image-level labels and ground truth exist
(cheaply: existence and records, not decoding), so a bad input fails in a second with a one-line error."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from dataset.registry import DataConfig
from dataset.spec import DatasetSpec, labels_for, load_cls_labels, load_img_name_list
from misc.errors import PipelineError


def read_list(path: str | os.PathLike, flag: str) -> list[str]:
    """The IDs of an image list, which must exist and name at least one image."""
    if not Path(path).is_file():
        raise PipelineError(f"{flag} {path} does not exist; create it with the dataset's prepare command or pass "
                            f"the right {flag}")
    names = load_img_name_list(path)
    if not names:
        raise PipelineError(f"{flag} {path} lists no image; nothing to do")
    return names


def check_images(spec: DatasetSpec, root: Path, names: Sequence[str], source: str) -> None:
    """Every listed image exists (not decoded: a decoding failure later names the file)."""
    missing = [n for n in names if not spec.image_path(root, n).is_file()]
    if missing:
        raise PipelineError(f"{len(missing)} images of {source} do not exist (first: "
                            f"{spec.image_path(root, missing[0])}); check {spec.root_flag} and the list")


def check_labels(cls_labels: str, names: Sequence[str], spec: DatasetSpec) -> None:
    """Every listed image has an image-level label of the dataset's class count."""
    labels_for(names, load_cls_labels(cls_labels), str(cls_labels), spec.n_classes)


def check_inputs(data: DataConfig, list_path: str | os.PathLike, list_flag: str) -> tuple[DatasetSpec, Path, list[str]]:
    """The dataset, its root and the IDs of the list ``list_path`` (given by ``list_flag``, for messages),
    after checking images and labels."""
    spec = data.spec()
    root = spec.check_root(data.root)
    names = read_list(list_path, list_flag)
    check_images(spec, root, names, f"{list_flag} {list_path}")
    check_labels(data.cls_labels, names, spec)
    return spec, root, names


def check_ground_truth(spec: DatasetSpec, root: Path, names: Sequence[str]) -> None:
    missing = [n for n in names if not spec.gt_path(root, n).is_file()]
    if missing:
        raise PipelineError(f"{len(missing)} of {len(names)} evaluated images have no ground truth in "
                            f"{spec.gt_location(root)} (first: {missing[0]}); prepare the dataset's masks, pass "
                            "--gt_dir, or pick another --chainer_eval_set")


def eval_targets(data: DataConfig, step: str, list_path: str | os.PathLike | None = None,
                 list_flag: str = "--chainer_eval_set list",
                 instances: bool = False) -> tuple[DatasetSpec, Path, list[str]] | None:
    """The dataset, root and evaluated IDs of an eval step (the --chainer_eval_set split unless ``list_path``),
    or None (with a message) without ground truth: masks, or with ``instances`` instance ground truth."""
    spec = data.spec()
    root = spec.check_root(data.root)
    if not (spec.has_instances(root) if instances else spec.has_ground_truth(root)):
        where = ("instance ground truth (VOC's SegmentationObject/, COCO's annotations/instances_*.json)"
                 if instances else f"ground-truth masks ({spec.gt_location(root)})")
        print(f"{step}: dataset {spec.name} has no {where}; skipping the evaluation")
        return None
    names = read_list(list_path or data.eval_list_path(), list_flag)
    if not instances or spec.instance_dir is not None:
        check_ground_truth(spec, root, names)
    return spec, root, names
