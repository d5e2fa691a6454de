"""mIoU, per-class IoU and error rates of the final pseudo masks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from step import stage
from misc import evaluation
from misc.fileio import load_png
from voc12 import dataloader as vocdata


def run(args) -> dict:
    names = stage.eval_split_names(args)
    n_class = vocdata.N_CAT + 1
    confusion = np.zeros((n_class, n_class), np.int64)
    per_image = []
    for name in tqdm(names, desc="eval sem_seg", dynamic_ncols=True):
        pred = load_png(Path(args.sem_seg_out_dir) / f"{name}.png").copy()
        pred[pred == 255] = 0
        conf = evaluation.confusion_matrix(pred, stage.load_gt(args, name), n_class)
        confusion += conf
        per_image.append((name, evaluation.mean_iou(evaluation.iou_from_confusion(conf))))
    record = stage.evaluation_record(args, "sem_seg", names, confusion, per_image)
    record["threshold"] = float(args.sem_seg_bg_thres)
    print(evaluation.format_summary(record))
    rate = lambda k: "n/a" if record[k] is None else f"{record[k]:.4f}"  # noqa: E731
    print(f"background fp {rate('bg_fp')} fn {rate('bg_fn')}; foreground mean fp {rate('fg_fp')} fn {rate('fg_fn')}")
    evaluation.write_json(Path(args.result_dir) / "sem_seg.json", record)
    return record
