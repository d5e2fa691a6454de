"""mIoU of the segmentation network on --seg_eval_list, before and after the dense CRF -> result/seg.json."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from misc import evaluation
from misc.fileio import load_png
from step import datasets, stage


def score_folder(folder: Path, names: list[str], spec, root, n_class: int) -> tuple[np.ndarray, list]:
    """The summed confusion of the masks in ``folder`` and each image's mIoU."""
    confusion = np.zeros((n_class, n_class), np.int64)
    per_image = []
    for name in tqdm(names, desc=f"eval {folder.name}", dynamic_ncols=True):
        conf = evaluation.confusion_matrix(load_png(folder / f"{name}.png"), load_png(spec.gt_path(root, name)),
                                           n_class)
        confusion += conf
        per_image.append((name, evaluation.mean_iou(evaluation.iou_from_confusion(conf))))
    return confusion, per_image


def run(args) -> dict | None:
    spec = datasets.get_dataset(args)
    root = spec.check_root(datasets.dataset_root(args))
    if not spec.has_ground_truth(root):
        print(f"eval_seg: dataset {spec.name} has no ground-truth masks ({spec.gt_location(root)}); skipping")
        return None
    names = stage.read_list(args.seg_eval_list, "--seg_eval_list")
    stage.check_ground_truth(spec, root, names)
    out = Path(args.seg_out_dir) / "eval"
    n_class = spec.n_classes + 1
    made_by = {str(out / "raw"): stage.upstream_digest(out / "raw", names, ".png", "make_seg")}
    confusion, per_image = score_folder(out / "raw", names, spec, root, n_class)
    record = stage.evaluation_record(args, spec, root, "seg", names, confusion, per_image)
    record.update(eval_set=str(args.seg_eval_list), threshold=None, made_by=made_by)
    print("segmentation network, before CRF: " + evaluation.format_summary(record))
    if args.seg_crf:
        made_by[str(out / "crf")] = stage.upstream_digest(out / "crf", names, ".png", "make_seg")
        crf_conf, _ = score_folder(out / "crf", names, spec, root, n_class)
        record["crf"] = evaluation.summarize(crf_conf, spec.class_names)
        print("segmentation network, after CRF: " + evaluation.format_summary(record["crf"]))
    evaluation.write_json(Path(args.result_dir) / "seg.json", record)
    return record
