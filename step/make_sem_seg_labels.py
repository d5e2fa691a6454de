"""Final pseudo masks: IRN boundaries + a random walk of the (AMN) CAMs, then a background threshold."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dataset import checks
from engine import checkpoints, irn_inference, planner
from misc.fileio import cam_path, load_cam, png_path, save_arrays, save_png
from misc.provenance import file_digest
from misc.settings import declared
from postprocess import random_walk

# The flags this step reads: its own, and those of the engines it calls (misc/settings.py).
SETTINGS = declared(irn_inference.SETTINGS, (
    "amn_cam_out_dir", "cam_out_dir", "irn_seeds", "sem_seg_bg_thres", "sem_seg_map_dir", "sem_seg_out_dir",
    "sem_seg_power",
))


def _work(process_id, device, shard, build_model, args, cam_dir, n_devices, mask_digest,
          map_digest: str | None = None) -> None:
    walk = irn_inference.walk_of(args)
    outputs = irn_inference.irn_outputs(process_id, device, shard, build_model, args, n_devices, "make_sem_seg")
    for pack, edge, _ in outputs:
        with torch.inference_mode():
            cam = load_cam(cam_path(cam_dir, pack["name"]))
            mask, maps = random_walk.cams_to_mask_and_maps(cam["cam"], cam["keys"], edge, pack["size"], walk,
                                                           args.sem_seg_power, args.sem_seg_bg_thres)
            save_png(png_path(args.sem_seg_out_dir, pack["name"]), mask, record=mask_digest)
            if map_digest is not None:
                save_arrays(Path(args.sem_seg_map_dir) / f"{pack['name']}.npz", record=map_digest,
                            keys=cam["keys"], maps=maps, size=np.asarray(pack["size"]))


def run(args) -> None:
    spec, root, names = checks.check_inputs(args, "infer_list")
    cam_dir = args.amn_cam_out_dir if args.irn_seeds == "amn" else args.cam_out_dir
    producer = "make_amn_cam" if args.irn_seeds == "amn" else "make_cam"
    upstream = planner.upstream_digest(cam_dir, names, ".npz", producer)
    checkpoint = checkpoints.checkpoint_path(args.irn_weights_name, "--irn_weights_name", "train_irn")
    record = {"step": "make_sem_seg", "dataset": spec.name, "checkpoint": file_digest(checkpoint),
              "irn_crop_size": args.irn_crop_size, "beta": args.beta, "exp_times": args.exp_times,
              "sem_seg_bg_thres": args.sem_seg_bg_thres, "sem_seg_power": args.sem_seg_power,
              "upstream": {str(cam_dir): upstream}}
    print(f"make_sem_seg: random walk of {cam_dir}")
    keep = irn_inference.keeps_maps(args.sem_seg_map_dir)
    extra = (args.sem_seg_map_dir, ".npz", {**record, "step": "make_sem_seg maps"}) if keep else None
    irn_inference.run_irn_step(args, "make_sem_seg", args.sem_seg_out_dir, ".png", names, root, spec, checkpoint,
                               record, _work, cam_dir, extra=extra)


