"""Instance AP of the instance pseudo masks: VOC's AP at IoU 0.5 (chainercv's semantics, no chainercv) on VOC,
and COCO's mask AP (pycocotools' COCOeval: AP over IoU 0.50:0.95, AP50, AP75, per class) on VOC and COCO."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from dataset import checks
from engine import planner
from misc import coco_format, evaluation
from misc.errors import PipelineError
from misc.fileio import cam_path
from misc.settings import declared
from postprocess import instance_scoring
from postprocess.coco_instances import (
    categories_of,
    ground_truth_annotations,
    ground_truth_file,
    load_instances,
    prediction_annotations,
    voc_ground_truth,
)
from step._config import DATA_FLAGS, data_config

# The flags this step reads: its own, and those of the engines it calls (misc/settings.py).
SETTINGS = declared(DATA_FLAGS, (
    "ins_seg_out_dir", "result_dir",
))

IOU_THRESHOLD = 0.5


def load_all(spec, root: Path, names: list[str], ins_dir: str, voc_layout: bool) -> tuple[list, list]:
    """Every image's instance file and, with VOC's PNGs, its ground-truth (masks, 0-based labels): read once."""
    preds, gts = [], []
    for name in tqdm(names, desc="eval ins_seg", dynamic_ncols=True):
        preds.append(load_instances(cam_path(ins_dir, name)))
        gts.append(voc_ground_truth(spec, root, name) if voc_layout else None)
    return preds, gts


def voc_ap(spec, preds: list, gts: list) -> dict:
    """chainercv's VOC instance AP at IoU 0.5: ``map`` and per-class ``ap``."""
    result = instance_scoring.eval_instance_segmentation_voc(
        [p["mask"] for p in preds], [p["class"] - 1 for p in preds], [p["score"] for p in preds],
        [g[0] for g in gts], [g[1] for g in gts], iou_thresh=IOU_THRESHOLD)
    ap = np.full(spec.n_classes, np.nan)
    ap[:len(result["ap"])] = result["ap"][:spec.n_classes]
    return {"iou_threshold": IOU_THRESHOLD, "map": evaluation.nan_to_none(result["map"]),
            "ap": {c: evaluation.nan_to_none(v) for c, v in zip(spec.class_names, ap)}}


def coco_ap(spec, root: Path, names: list[str], preds: list, gts: list) -> dict:
    """COCO's mask AP of the instance masks against the ground truth (VOC's PNGs as loaded, else COCO's JSON)."""
    ids = [coco_format.image_id(n) for n in names]
    if gts[0] is None:
        gt = ground_truth_file(spec, root, names)
    else:
        images = [coco_format.image_entry(n, spec.image_file_name(root, n), *g[0].shape[1:])
                  for n, g in zip(names, gts)]
        annotations = [a for i, g in zip(ids, gts) for a in ground_truth_annotations(spec, *g, i)]
        gt = coco_format.instances_file(images, annotations, categories_of(spec))
    detections = [a for i, p in zip(ids, preds) for a in prediction_annotations(spec, p, i)]
    return coco_format.coco_ap(gt, detections)


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def run(args) -> dict | None:
    targets = checks.eval_targets(data_config(args), "eval_ins_seg", instances=True)
    if targets is None:
        return None
    spec, root, names = targets
    voc_layout = spec.instance_dir is not None
    if voc_layout:
        missing = [n for n in names if not spec.instance_path(root, n).is_file()]
        if missing:
            raise PipelineError(f"{len(missing)} evaluated images have no "
                                      f"{spec.instance_path(root, missing[0])}; pick another --chainer_eval_set")
    made_by = planner.upstream_digest(args.ins_seg_out_dir, names, ".npz", "make_ins_seg")
    preds, gts = load_all(spec, root, names, args.ins_seg_out_dir, voc_layout)
    record = {"stage": "ins_seg", "dataset": spec.name, "eval_set": args.chainer_eval_set, "n_images": len(names),
              **(voc_ap(spec, preds, gts) if voc_layout else {"iou_threshold": IOU_THRESHOLD, "map": None, "ap": {}}),
              "coco": coco_ap(spec, root, names, preds, gts),
              "made_by": {str(args.ins_seg_out_dir): made_by}}
    coco = record["coco"]
    print(f"eval_ins_seg: over {len(names)} images, VOC mAP@0.5 {_pct(record['map'])}; COCO mask AP "
          f"{_pct(coco['ap'])}, AP50 {_pct(coco['ap50'])}, AP75 {_pct(coco['ap75'])}")
    evaluation.write_json(Path(args.result_dir) / "ins_seg.json", record)
    return record
