"""mIoU, per-class IoU and error rates of the final pseudo masks, and, from the walked maps make_sem_seg keeps,
their mIoU over the sweep of ``--sem_seg_bg_thres`` (as eval_cam sweeps the CAM threshold)."""
from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import torch

from dataset import checks
from engine import eval_runs, map_stages, planner
from engine.irn_inference import keeps_maps
from misc import evaluation
from misc.fileio import load_arrays
from misc.settings import declared
from postprocess import cam_maps, scoring
from postprocess.random_walk import upsample_walk
from report import paper
from step._config import DATA_FLAGS, EVAL_FLAGS, data_config, eval_config

# The flags this step reads: its own, and those of the engines it calls (misc/settings.py).
SETTINGS = declared(DATA_FLAGS, (
    "result_dir", "sem_seg_bg_thres", "sem_seg_map_dir", "sem_seg_out_dir", "sweep_thresholds",
), EVAL_FLAGS)


def walked_prediction_inputs(map_dir: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the best walked foreground score and its label (1..C), from an image's kept map file."""
    data = load_arrays(Path(map_dir) / f"{name}.npz", ("keys", "maps", "size"))
    size = tuple(int(v) for v in data["size"])
    if len(data["keys"]) == 0:
        upsampled = np.zeros((0,) + size, np.float32)
    else:
        upsampled = upsample_walk(torch.from_numpy(data["maps"])[:, None], size).numpy()
    return cam_maps.cam_prediction_inputs({"high_res": upsampled, "keys": data["keys"]})


def sweep(args, spec, root, names: list[str], made_by: dict, workers: int) -> dict | None:
    """The threshold sweep of the walked maps (``made_by``: the producers' digests), or None (with a message)
    where they were not kept."""
    if not keeps_maps(args.sem_seg_map_dir):
        print("eval_sem_seg: --sem_seg_map_dir none: no threshold sweep of the final masks")
        return None
    total, _, thresholds, _ = scoring.sweep_confusions(
        names, partial(walked_prediction_inputs, str(args.sem_seg_map_dir)), spec, root,
        args.sweep_thresholds, args.sem_seg_bg_thres, "sweep sem_seg", workers)
    map_dir = str(args.sem_seg_map_dir)
    return {**scoring.sweep_record(total, thresholds), "made_by": {map_dir: made_by[map_dir]}}


def run(args) -> dict | None:
    targets = checks.eval_targets(data_config(args), "eval_sem_seg")
    if targets is None:
        return None
    spec, root, names = targets
    run_config = eval_config(args)
    made_by = {str(args.sem_seg_out_dir): planner.upstream_digest(args.sem_seg_out_dir, names, ".png",
                                                                  "make_sem_seg")}
    if keeps_maps(args.sem_seg_map_dir):
        made_by[str(args.sem_seg_map_dir)] = planner.upstream_digest(args.sem_seg_map_dir, names, ".npz",
                                                                     "make_sem_seg")
    path = Path(args.result_dir) / "sem_seg.json"
    digest = eval_runs.inputs_digest(names, made_by, {
        "stage": "sem_seg", "dataset": spec.name, "threshold": args.sem_seg_bg_thres,
        "sweep": list(args.sweep_thresholds), "gt": spec.gt_location(root)})
    reused = eval_runs.current_result(path, digest, run_config, "eval_sem_seg")
    if reused is not None:
        print(evaluation.format_summary(reused))
        return reused
    confusion, per_image = scoring.score_masks(args.sem_seg_out_dir, names, spec, root, void_as_background=True,
                                               workers=run_config.num_workers)
    record = scoring.evaluation_record(args.chainer_eval_set, spec, root, "sem_seg", names, confusion, per_image)
    record.update(threshold=float(args.sem_seg_bg_thres), made_by={str(args.sem_seg_out_dir):
                                                                   made_by[str(args.sem_seg_out_dir)]})
    swept = sweep(args, spec, root, names, made_by, run_config.num_workers)
    if swept is not None:
        record["sweep"] = swept
        map_stages.print_sweep("sem_seg", record)
    else:
        print(evaluation.format_summary(record))
    rate = lambda k: "n/a" if record[k] is None else f"{record[k]:.4f}"  # noqa: E731
    print(f"background fp {rate('bg_fp')} fn {rate('bg_fn')}; foreground mean fp {rate('fg_fp')} fn {rate('fg_fn')}")
    paper.print_beside(record)
    eval_runs.write_result(path, record, digest)
    return record
