"""Instance AP of the instance pseudo masks: VOC's AP at IoU 0.5 (chainercv's semantics, no chainercv) on VOC,
and COCO's mask AP (pycocotools' COCOeval: AP over IoU 0.50:0.95, AP50, AP75, per class) on VOC and COCO."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from misc import coco_format, evaluation, instances
from misc.fileio import cam_path, load_png
from step import stage
from step.instances_coco import ground_truth_file, load_instances, pseudo_label_file

IOU_THRESHOLD = 0.5


def voc_ap(spec, root: Path, names: list[str], ins_dir: str) -> dict:
    """chainercv's VOC instance AP at IoU 0.5 over ``names``: ``map`` and per-class ``ap``."""
    preds, gts = [], []
    for name in tqdm(names, desc="eval ins_seg", dynamic_ncols=True):
        p = load_instances(cam_path(ins_dir, name))
        preds.append((p["mask"], p["class"] - 1, p["score"]))
        gts.append(instances.instances_from_voc_pngs(load_png(spec.gt_path(root, name)),
                                                     load_png(spec.instance_path(root, name))))
    result = instances.eval_instance_segmentation_voc([p[0] for p in preds], [p[1] for p in preds],
                                                      [p[2] for p in preds], [g[0] for g in gts], [g[1] for g in gts],
                                                      iou_thresh=IOU_THRESHOLD)
    ap = np.full(spec.n_classes, np.nan)
    ap[:len(result["ap"])] = result["ap"][:spec.n_classes]
    return {"iou_threshold": IOU_THRESHOLD, "map": evaluation.nan_to_none(result["map"]),
            "ap": {c: evaluation.nan_to_none(v) for c, v in zip(spec.class_names, ap)}}


def coco_ap(spec, root: Path, names: list[str], ins_dir: str) -> dict:
    """COCO's mask AP of the instance masks of ``names`` against their instance ground truth."""
    gt = ground_truth_file(spec, root, names)
    predictions = pseudo_label_file(spec, root, names, ins_dir)
    return coco_format.coco_ap(gt, predictions["annotations"])


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def run(args) -> dict | None:
    targets = stage.eval_targets(args, "eval_ins_seg", instances=True)
    if targets is None:
        return None
    spec, root, names = targets
    voc_layout = spec.instance_dir is not None
    if voc_layout:
        missing = [n for n in names if not spec.instance_path(root, n).is_file()]
        if missing:
            raise stage.PipelineError(f"{len(missing)} evaluated images have no "
                                      f"{spec.instance_path(root, missing[0])}; pick another --chainer_eval_set")
    made_by = stage.upstream_digest(args.ins_seg_out_dir, names, ".npz", "make_ins_seg")
    record = {"stage": "ins_seg", "dataset": spec.name, "eval_set": args.chainer_eval_set, "n_images": len(names),
              **(voc_ap(spec, root, names, args.ins_seg_out_dir) if voc_layout else
                 {"iou_threshold": IOU_THRESHOLD, "map": None, "ap": {}}),
              "coco": coco_ap(spec, root, names, args.ins_seg_out_dir),
              "made_by": {str(args.ins_seg_out_dir): made_by}}
    coco = record["coco"]
    print(f"eval_ins_seg: over {len(names)} images, VOC mAP@0.5 {_pct(record['map'])}; COCO mask AP "
          f"{_pct(coco['ap'])}, AP50 {_pct(coco['ap50'])}, AP75 {_pct(coco['ap75'])}")
    evaluation.write_json(Path(args.result_dir) / "ins_seg.json", record)
    return record
