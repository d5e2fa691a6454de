"""VOC instance-segmentation AP at IoU 0.5 of the instance pseudo masks (chainercv's semantics, no chainercv)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from misc import evaluation, instances
from misc.fileio import cam_path, load_png
from step import datasets, stage

IOU_THRESHOLD = 0.5


def load_instances(path: Path) -> dict[str, np.ndarray]:
    """One make_ins_seg file; an unreadable one is an error that names it."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in ("score", "class", "mask")}
    except (OSError, ValueError, KeyError) as err:
        raise stage.PipelineError(f"instance file {path} is corrupt ({err}); rerun make_ins_seg") from err


def run(args) -> dict | None:
    spec = datasets.get_dataset(args)
    root = spec.check_root(datasets.dataset_root(args))
    if not spec.has_instances(root):
        print(f"eval_ins_seg: dataset {spec.name} has no instance ground truth (SegmentationObject/); skipping")
        return None
    names = stage.read_list(datasets.eval_list_path(args), "--chainer_eval_set list")
    stage.check_ground_truth(spec, root, names)
    missing = [n for n in names if not spec.instance_path(root, n).is_file()]
    if missing:
        raise stage.PipelineError(f"{len(missing)} evaluated images have no {spec.instance_path(root, missing[0])}; "
                                  "pick another --chainer_eval_set")
    made_by = stage.upstream_digest(args.ins_seg_out_dir, names, ".npz", "make_ins_seg")
    preds, gts = [], []
    for name in tqdm(names, desc="eval ins_seg", dynamic_ncols=True):
        p = load_instances(cam_path(args.ins_seg_out_dir, name))
        preds.append((p["mask"], p["class"] - 1, p["score"]))
        gts.append(instances.instances_from_voc_pngs(load_png(spec.gt_path(root, name)),
                                                     load_png(spec.instance_path(root, name))))
    result = instances.eval_instance_segmentation_voc([p[0] for p in preds], [p[1] for p in preds],
                                                      [p[2] for p in preds], [g[0] for g in gts], [g[1] for g in gts],
                                                      iou_thresh=IOU_THRESHOLD)
    ap = np.full(spec.n_classes, np.nan)
    ap[:len(result["ap"])] = result["ap"][:spec.n_classes]
    record = {"stage": "ins_seg", "dataset": spec.name, "eval_set": args.chainer_eval_set, "n_images": len(names),
              "iou_threshold": IOU_THRESHOLD, "map": evaluation.nan_to_none(result["map"]),
              "ap": {c: evaluation.nan_to_none(v) for c, v in zip(spec.class_names, ap)},
              "made_by": {str(args.ins_seg_out_dir): made_by}}
    shown = "n/a" if record["map"] is None else f"{100 * record['map']:.2f}"
    print(f"eval_ins_seg: mAP@0.5 {shown} over {len(names)} images")
    evaluation.write_json(Path(args.result_dir) / "ins_seg.json", record)
    return record
