"""Instance AP of the instance pseudo masks: VOC's AP at IoU 0.5 (chainercv's semantics, no chainercv) on VOC,
and COCO's mask AP (pycocotools' COCOeval: AP over IoU 0.50:0.95, AP50, AP75, per class) on VOC and COCO."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from dataset import checks
from engine import planner
from misc import coco_eval, evaluation
from misc.coco_eval import StreamingCocoEval
from misc.errors import PipelineError
from misc.fileio import cam_path
from misc.settings import declared
from postprocess import coco_instances
from postprocess.instance_scoring import VocInstanceAP
from step._config import DATA_FLAGS, data_config

# The flags this step reads: its own, and those of the engines it calls (misc/settings.py).
SETTINGS = declared(DATA_FLAGS, (
    "ins_seg_out_dir", "result_dir",
))

IOU_THRESHOLD = 0.5


def score_images(spec, root: Path, names: list[str], ins_dir: str,
                 voc_layout: bool) -> tuple[VocInstanceAP | None, StreamingCocoEval]:
    """Both APs' tallies over ``names``, one image at a time: its instance file and ground truth are read,
    matched and let go, so memory holds the detections' flags, never the masks of all images."""
    voc = VocInstanceAP(IOU_THRESHOLD) if voc_layout else None
    coco = StreamingCocoEval(spec.category_ids)
    truth = coco_instances.InstanceTruth(spec, root, names)
    for name, (image, truth_anns, voc_truth) in tqdm(zip(names, truth), total=len(names), desc="eval ins_seg",
                                                       dynamic_ncols=True):
        det = coco_instances.load_instances(cam_path(ins_dir, name))
        if voc is not None:
            voc.add((det["mask"], det["class"] - 1, det["score"]), *voc_truth)
        size = image["height"], image["width"]
        found = coco_instances.prediction_annotations(spec, det, image["id"])
        coco.add_image(image["id"], coco_eval.ground_truth_of(truth_anns, *size),
                       coco_eval.detections_of(found, *size))
    return voc, coco


def voc_ap(spec, voc: VocInstanceAP) -> dict:
    """chainercv's VOC instance AP at IoU 0.5: ``map`` and per-class ``ap``."""
    result = voc.result()
    ap = np.full(spec.n_classes, np.nan)
    ap[:len(result["ap"])] = result["ap"][:spec.n_classes]
    return {"iou_threshold": IOU_THRESHOLD, "map": evaluation.nan_to_none(result["map"]),
            "ap": {c: evaluation.nan_to_none(v) for c, v in zip(spec.class_names, ap)}}


def coco_ap(spec, coco: StreamingCocoEval) -> dict:
    """COCO's mask AP (pycocotools' COCOeval, streamed): AP, AP50, AP75, by size and per class."""
    return coco.summarize(dict(zip(spec.category_ids, spec.class_names)))


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
    voc, coco = score_images(spec, root, names, args.ins_seg_out_dir, voc_layout)
    record = {"stage": "ins_seg", "dataset": spec.name, "eval_set": args.chainer_eval_set, "n_images": len(names),
              **(voc_ap(spec, voc) if voc_layout else {"iou_threshold": IOU_THRESHOLD, "map": None, "ap": {}}),
              "coco": coco_ap(spec, coco),
              "made_by": {str(args.ins_seg_out_dir): made_by}}
    coco = record["coco"]
    print(f"eval_ins_seg: over {len(names)} images, VOC mAP@0.5 {_pct(record['map'])}; COCO mask AP "
          f"{_pct(coco['ap'])}, AP50 {_pct(coco['ap50'])}, AP75 {_pct(coco['ap75'])}")
    evaluation.write_json(Path(args.result_dir) / "ins_seg.json", record)
    return record
