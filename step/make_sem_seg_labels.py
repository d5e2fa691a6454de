"""Final pseudo masks: IRN boundaries + a random walk of the (AMN) CAMs, then a background threshold."""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from step import stage
from misc import indexing, torchutils
from misc.fileio import cam_path, load_cam, load_state_dict, save_arrays, save_png
from misc.provenance import file_digest
from net import resnet50_irn
from step import training
from voc12 import dataloader as vocdata


def cams_to_mask(cams: np.ndarray, keys: np.ndarray, edge: torch.Tensor, size, args) -> np.ndarray:
    """Random walk of ``cams`` (C, h, w at stride 4) on ``edge``; returns the VOC label map at ``size``."""
    return cams_to_mask_and_maps(cams, keys, edge, size, args)[0]


def cams_to_mask_and_maps(cams: np.ndarray, keys: np.ndarray, edge: torch.Tensor, size,
                          args) -> tuple[np.ndarray, np.ndarray]:
    """The VOC label map at ``size`` and the walked stride-4 maps (C, h, w) float32, divided by the maximum of
    their upsampled crop, so a background threshold applies to their upsampled values directly."""
    keys = np.pad(keys + 1, (1, 0))
    if len(keys) == 1:
        return np.zeros(tuple(size), np.uint8), np.zeros((0,) + tuple(cams.shape[1:]), np.float32)
    x = torch.from_numpy(np.power(cams, args.sem_seg_power)).to(edge.device)
    rw = indexing.propagate_to_edge(x, edge, beta=args.beta, exp_times=args.exp_times, radius=5)
    upsampled = upsample_walk(rw, size)
    peak = torch.max(upsampled)
    mask = keys[labels_above(upsampled / peak, args.sem_seg_bg_thres)].astype(np.uint8)
    return mask, (rw[:, 0] / peak).cpu().numpy().astype(np.float32)


def upsample_walk(rw: torch.Tensor, size) -> torch.Tensor:
    """Walked stride-4 maps (C, 1, h, w) upsampled x4 and cropped to ``size``: (C, H, W)."""
    return F.interpolate(rw, scale_factor=4, mode="bilinear", align_corners=False)[..., 0, :size[0], :size[1]]


def walked_to_labels(rw: torch.Tensor, size, bg_thres: float) -> np.ndarray:
    """Index into ``[background, *keys]`` of walked stride-4 maps ``rw`` (C, 1, h, w): upsampled x4, divided by
    their maximum, the background at ``bg_thres``."""
    rw_up = upsample_walk(rw, size)
    return labels_above(rw_up / torch.max(rw_up), bg_thres)


def labels_above(maps: torch.Tensor, bg_thres: float) -> np.ndarray:
    """Index into ``[background, *maps]`` per pixel of (C, H, W) maps: background where none exceeds ``bg_thres``."""
    return torch.argmax(F.pad(maps, (0, 0, 0, 0, 1, 0), value=bg_thres), dim=0).cpu().numpy()


def irn_outputs(process_id, device, shard, build_model, args, n_devices, desc: str):
    """Yield (pack, boundary map, displacement) of every image of ``shard``, EdgeDisplacement on the flip pair
    (float32 even under --amp)."""
    loader = DataLoader(shard, shuffle=False, collate_fn=stage.first_item, worker_init_fn=torchutils.init_worker,
                        num_workers=torchutils.worker_count(args.num_workers, n_devices))
    model = build_model().to(device)
    with torch.inference_mode():
        for pack in tqdm(loader, desc=f"{desc}[{process_id}]", position=process_id, dynamic_ncols=True):
            with training.autocast(device, args.amp):
                edge, dp = model(torch.from_numpy(pack["img"][0]).to(device))
            yield pack, edge.float(), dp.float()


def _work(process_id, device, shard, build_model, args, cam_dir, n_devices, mask_digest,
          map_digest: str | None = None) -> None:
    for pack, edge, _ in irn_outputs(process_id, device, shard, build_model, args, n_devices, "make_sem_seg"):
        with torch.inference_mode():
            cam = load_cam(cam_path(cam_dir, pack["name"]))
            mask, maps = cams_to_mask_and_maps(cam["cam"], cam["keys"], edge, pack["size"], args)
            save_png(stage.png_path(args.sem_seg_out_dir, pack["name"]), mask, record=mask_digest)
            if map_digest is not None:
                save_arrays(Path(args.sem_seg_map_dir) / f"{pack['name']}.npz", record=map_digest,
                            keys=cam["keys"], maps=maps, size=np.asarray(pack["size"]))


def run_irn_step(args, step: str, out_dir: str, suffix: str, names, root, spec, checkpoint, record: dict,
                 work, *work_args, extra: tuple | None = None) -> None:
    """Plan the outputs of an IRN inference step, then run ``work`` on this rank's pending images. ``extra``,
    ``(folder, suffix, record)``, is a second output of every image: ``work`` then gets its digest too."""
    folder, todo = stage.plan_outputs(step, out_dir, names, suffix, record, args.overwrite)
    digests = [folder.digest]
    if extra is not None:
        extra_folder, extra_todo = stage.plan_outputs(step, extra[0], names, extra[1], extra[2], args.overwrite)
        todo = sorted(set(todo) | set(extra_todo))
        digests.append(extra_folder.digest)
    todo = torchutils.rank_share(todo)
    if not todo:
        return
    dataset = vocdata.VOC12ClassificationDatasetMSF([names[i] for i in todo], voc12_root=root, scales=(1.0,),
                                                    cls_labels=args.cls_labels, spec=spec)
    devices = torchutils.inference_devices(args.device)
    build = functools.partial(build_model, args.irn_crop_size, str(checkpoint))
    torchutils.run_on_devices(work, dataset, devices, torchutils.WorkerSetup.from_args(args), build, args,
                              *work_args, len(devices), *digests)


def build_model(crop_size: int, checkpoint: str) -> resnet50_irn.EdgeDisplacement:
    """IRN at inference with the trained weights, in eval mode (each inference worker builds its own)."""
    model = resnet50_irn.EdgeDisplacement(crop_size=crop_size, stride=4)
    try:
        dropped = resnet50_irn.load_edge_displacement_weights(model, load_state_dict(checkpoint))
    except (RuntimeError, KeyError) as err:
        raise stage.PipelineError(f"{checkpoint} holds the weights of "
                                  f"{training.describe_checkpoint(load_state_dict(checkpoint))}, not of IRN; pass "
                                  "the right file with --irn_weights_name") from err
    print(f"loaded {checkpoint} (rebuilt, not loaded: {len(dropped)} path-index buffers)")
    return model.eval()


def run(args) -> None:
    spec, root, names = stage.check_inputs(args, "infer_list")
    cam_dir = args.amn_cam_out_dir if args.irn_seeds == "amn" else args.cam_out_dir
    producer = "make_amn_cam" if args.irn_seeds == "amn" else "make_cam"
    upstream = stage.upstream_digest(cam_dir, names, ".npz", producer)
    checkpoint = training.checkpoint_path(args.irn_weights_name, "--irn_weights_name", "train_irn")
    record = {"step": "make_sem_seg", "dataset": spec.name, "checkpoint": file_digest(checkpoint),
              "irn_crop_size": args.irn_crop_size, "beta": args.beta, "exp_times": args.exp_times,
              "sem_seg_bg_thres": args.sem_seg_bg_thres, "sem_seg_power": args.sem_seg_power,
              "upstream": {str(cam_dir): upstream}}
    print(f"make_sem_seg: random walk of {cam_dir}")
    keep = keeps_maps(args)
    extra = (args.sem_seg_map_dir, ".npz", {**record, "step": "make_sem_seg maps"}) if keep else None
    run_irn_step(args, "make_sem_seg", args.sem_seg_out_dir, ".png", names, root, spec, checkpoint, record, _work,
                 cam_dir, extra=extra)


def keeps_maps(args) -> bool:
    """Whether make_sem_seg keeps the walked maps (for eval_sem_seg's threshold sweep)."""
    return str(getattr(args, "sem_seg_map_dir", None) or "none").lower() != "none"
