"""Final pseudo masks: IRN boundaries + a random walk of the (AMN) CAMs, then a background threshold."""
from __future__ import annotations

import functools

from dataset import checks
from engine import checkpoints, irn_inference, planner
from misc.provenance import file_digest
from misc.settings import declared
from postprocess.random_walk import Walk
from step._config import DATA_FLAGS, INFERENCE_FLAGS, data_config, inference_config

# The flags this step reads, its own and those of the config objects it builds (misc/settings.py).
SETTINGS = declared(DATA_FLAGS, INFERENCE_FLAGS, (
    "amn_cam_out_dir", "beta", "cam_out_dir", "exp_times", "infer_list", "irn_crop_size", "irn_seeds",
    "irn_weights_name", "sem_seg_bg_thres", "sem_seg_map_dir", "sem_seg_out_dir", "sem_seg_power",
))


def run(args) -> None:
    data = data_config(args)
    spec, root, names = checks.check_inputs(data, args.infer_list, "--infer_list")
    cam_dir = args.amn_cam_out_dir if args.irn_seeds == "amn" else args.cam_out_dir
    producer = "make_amn_cam" if args.irn_seeds == "amn" else "make_cam"
    upstream = planner.upstream_digest(cam_dir, names, ".npz", producer)
    checkpoint = checkpoints.checkpoint_path(args.irn_weights_name, "--irn_weights_name", "train_irn")
    record = {"step": "make_sem_seg", "dataset": spec.name, "checkpoint": file_digest(checkpoint),
              "irn_crop_size": args.irn_crop_size, "beta": args.beta, "exp_times": args.exp_times,
              "sem_seg_bg_thres": args.sem_seg_bg_thres, "sem_seg_power": args.sem_seg_power,
              "upstream": {str(cam_dir): upstream}}
    print(f"make_sem_seg: random walk of {cam_dir}")
    outputs = [irn_inference.IrnOutput(args.sem_seg_out_dir, ".png", record)]
    map_dir = args.sem_seg_map_dir if irn_inference.keeps_maps(args.sem_seg_map_dir) else None
    if map_dir is not None:
        outputs.append(irn_inference.IrnOutput(map_dir, ".npz", {**record, "step": "make_sem_seg maps"}))
    build = functools.partial(irn_inference.build_model, args.irn_crop_size, str(checkpoint))
    task = irn_inference.IrnTask("make_sem_seg", spec, root, names, data.cls_labels, build, tuple(outputs))
    walk = Walk(beta=args.beta, exp_times=args.exp_times)
    config = inference_config(args)
    irn_inference.run_irn_step(task, lambda digests: irn_inference.SemSegWriter(
        cam_dir, args.sem_seg_out_dir, map_dir, walk, args.sem_seg_power, args.sem_seg_bg_thres, digests,
        config.amp), config)
