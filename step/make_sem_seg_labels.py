"""Final pseudo masks: IRN boundaries + a random walk of the (AMN) CAMs, then a background threshold."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from step import stage
from misc import indexing, torchutils
from misc.fileio import cam_path, load_cam, load_state_dict, resolve_weights, save_png
from net import resnet50_irn
from voc12 import dataloader as vocdata


def cams_to_mask(cams: np.ndarray, keys: np.ndarray, edge: torch.Tensor, size, args) -> np.ndarray:
    """Random walk of ``cams`` (C, h, w at stride 4) on ``edge``; returns the VOC label map at ``size``."""
    keys = np.pad(keys + 1, (1, 0))
    if len(keys) == 1:
        return np.zeros(tuple(size), np.uint8)
    x = torch.from_numpy(np.power(cams, args.sem_seg_power)).to(edge.device)
    rw = indexing.propagate_to_edge(x, edge, beta=args.beta, exp_times=args.exp_times, radius=5)
    rw_up = F.interpolate(rw, scale_factor=4, mode="bilinear", align_corners=False)[..., 0, :size[0], :size[1]]
    rw_up = rw_up / torch.max(rw_up)
    rw_up_bg = F.pad(rw_up, (0, 0, 0, 0, 1, 0), value=args.sem_seg_bg_thres)
    return keys[torch.argmax(rw_up_bg, dim=0).cpu().numpy()].astype(np.uint8)


def _work(process_id, device, shard, model, args, cam_dir) -> None:
    n_devices = len(torchutils.inference_devices(args.device))
    loader = DataLoader(shard, shuffle=False, collate_fn=stage.first_item,
                        num_workers=torchutils.worker_count(args.num_workers, n_devices))
    model = model.to(device)
    with torch.inference_mode():
        for pack in tqdm(loader, desc=f"make_sem_seg[{process_id}]", position=process_id, dynamic_ncols=True):
            edge, _ = model(torch.from_numpy(pack["img"][0]).to(device))
            cam = load_cam(cam_path(cam_dir, pack["name"]))
            mask = cams_to_mask(cam["cam"], cam["keys"], edge, pack["size"], args)
            save_png(Path(args.sem_seg_out_dir) / f"{pack['name']}.png", mask)


def run(args) -> None:
    model = resnet50_irn.EdgeDisplacement(crop_size=args.irn_crop_size, stride=4)
    path = resolve_weights(args.irn_weights_name)
    dropped = resnet50_irn.load_edge_displacement_weights(model, load_state_dict(path))
    print(f"loaded {path} (rebuilt, not loaded: {len(dropped)} path-index buffers)")
    model.eval()
    cam_dir = args.amn_cam_out_dir if args.irn_seeds == "amn" else args.cam_out_dir
    dataset = vocdata.VOC12ClassificationDatasetMSF(args.infer_list, voc12_root=args.voc12_root, scales=(1.0,),
                                                    cls_labels=args.cls_labels)
    out = lambda n: Path(args.sem_seg_out_dir) / f"{n}.png"  # noqa: E731
    todo = stage.pending_indices(dataset.img_name_list, out, args.overwrite)
    stage.report_skipped("make_sem_seg", len(dataset), len(todo))
    os.makedirs(args.sem_seg_out_dir, exist_ok=True)
    print(f"make_sem_seg: random walk of {cam_dir}")
    torchutils.run_on_devices(_work, Subset(dataset, todo), torchutils.inference_devices(args.device), model, args,
                              cam_dir)
