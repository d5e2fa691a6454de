"""IRN's instance pseudo masks: centroids from the displacement field, instance-wise random walks of the
CAMs on the boundary map, then connected fragments scored by their maps (official make_ins_seg_labels).

Writes ``<ins_seg_out_dir>/<id>.npz`` with ``score`` (K,) float32, ``class`` (K,) 1-based class ids and
``mask`` (K, H, W) bool; K = 0 for an image without classes or where nothing survives.
"""
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
    "beta", "cam_out_dir", "exp_times", "infer_list", "ins_seg_bg_thres", "ins_seg_out_dir", "irn_crop_size",
    "irn_weights_name",
))


def run(args) -> None:
    data = data_config(args)
    spec, root, names = checks.check_inputs(data, args.infer_list, "--infer_list")
    upstream = planner.upstream_digest(args.cam_out_dir, names, ".npz", "make_cam")
    checkpoint = checkpoints.checkpoint_path(args.irn_weights_name, "--irn_weights_name", "train_irn")
    record = {"step": "make_ins_seg", "dataset": spec.name, "checkpoint": file_digest(checkpoint),
              "irn_crop_size": args.irn_crop_size, "beta": args.beta, "exp_times": args.exp_times,
              "ins_seg_bg_thres": args.ins_seg_bg_thres, "upstream": {str(args.cam_out_dir): upstream}}
    build = functools.partial(irn_inference.build_model, args.irn_crop_size, str(checkpoint))
    task = irn_inference.IrnTask("make_ins_seg", spec, root, names, data.cls_labels, build,
                                 (irn_inference.IrnOutput(args.ins_seg_out_dir, ".npz", record),))
    walk = Walk(beta=args.beta, exp_times=args.exp_times)
    config = inference_config(args)
    irn_inference.run_irn_step(task, lambda digests: irn_inference.InstanceWriter(
        args.cam_out_dir, args.ins_seg_out_dir, walk, args.ins_seg_bg_thres, digests, config.amp,
        centroid_workers=config.num_workers), config)
