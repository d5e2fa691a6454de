"""IRN's instance pseudo masks: centroids from the displacement field, instance-wise random walks of the
CAMs on the boundary map, then connected fragments scored by their maps (official make_ins_seg_labels).

Writes ``<ins_seg_out_dir>/<id>.npz`` with ``score`` (K,) float32, ``class`` (K,) 1-based class ids and
``mask`` (K, H, W) bool; K = 0 for an image without classes or where nothing survives.
"""
from __future__ import annotations

import torch

from dataset import checks
from engine import checkpoints, irn_inference, planner
from misc.fileio import cam_path, load_cam
from misc.provenance import file_digest
from misc.settings import declared
from postprocess import instances

# The flags this step reads: its own, and those of the engines it calls (misc/settings.py).
SETTINGS = declared(irn_inference.SETTINGS, (
    "cam_out_dir", "ins_seg_bg_thres", "ins_seg_out_dir",
))


def _work(process_id, device, shard, build_model, args, n_devices, digest) -> None:
    outputs = irn_inference.irn_outputs(process_id, device, shard, build_model, args, n_devices, "make_ins_seg")
    for pack, edge, dp in outputs:
        with torch.inference_mode():
            cam = load_cam(cam_path(args.cam_out_dir, pack["name"]))
            detected = instances.instances_from_cams(cam["cam"], cam["keys"], edge, dp.cpu().numpy(), pack["size"],
                                                     irn_inference.walk_of(args), args.ins_seg_bg_thres)
            instances.save_instances(cam_path(args.ins_seg_out_dir, pack["name"]), detected, digest)


def run(args) -> None:
    spec, root, names = checks.check_inputs(args, "infer_list")
    upstream = planner.upstream_digest(args.cam_out_dir, names, ".npz", "make_cam")
    checkpoint = checkpoints.checkpoint_path(args.irn_weights_name, "--irn_weights_name", "train_irn")
    record = {"step": "make_ins_seg", "dataset": spec.name, "checkpoint": file_digest(checkpoint),
              "irn_crop_size": args.irn_crop_size, "beta": args.beta, "exp_times": args.exp_times,
              "ins_seg_bg_thres": args.ins_seg_bg_thres, "upstream": {str(args.cam_out_dir): upstream}}
    irn_inference.run_irn_step(args, "make_ins_seg", args.ins_seg_out_dir, ".npz", names, root, spec, checkpoint,
                               record, _work)
