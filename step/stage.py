"""The one implementation behind make_cam/make_amn_cam, eval_cam/eval_amn_cam and
cam_to_ir_label/amn_cam_to_ir_label; the steps differ only in their inputs,
outputs, defaults and the network-specific forward pass.
"""
from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from misc import evaluation, imutils, torchutils
from misc.fileio import cam_path, load_cam, load_png, save_cam, save_png
from voc12 import dataloader as vocdata


def first_item(batch):
    """collate_fn for batch size 1 that keeps numpy arrays and tuples as they are."""
    return batch[0]


def pending_indices(names: Sequence[str], out_path: Callable[[str], Path], overwrite: bool) -> list[int]:
    """Indices of images whose output is missing (all of them with ``overwrite``)."""
    return [i for i, n in enumerate(names) if overwrite or not out_path(n).exists()]


def report_skipped(step: str, total: int, todo: int) -> None:
    if todo < total:
        print(f"{step}: {total - todo} of {total} outputs exist already, skipping them (--overwrite redoes them)")


# make ---------------------------------------------------------------------------

@dataclass
class MapMaker:
    """How one network turns a multi-scale pack into (keys, strided maps, full-size maps)."""

    forward: Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
    postprocess: Callable[[list[torch.Tensor], dict, "object"], tuple[np.ndarray, np.ndarray, np.ndarray]]


def run_make(model: torch.nn.Module, maker: MapMaker, args, out_dir: str, step: str) -> None:
    """Run ``maker`` over ``args.train_list`` on every inference device and save one CAM file per image."""
    dataset = vocdata.VOC12ClassificationDatasetMSF(args.train_list, voc12_root=args.voc12_root,
                                                    scales=args.cam_scales, cls_labels=args.cls_labels)
    todo = pending_indices(dataset.img_name_list, lambda n: cam_path(out_dir, n), args.overwrite)
    report_skipped(step, len(dataset), len(todo))
    os.makedirs(out_dir, exist_ok=True)
    model.eval()
    devices = torchutils.inference_devices(args.device)
    torchutils.run_on_devices(_make_work, Subset(dataset, todo), devices, model, maker, args, out_dir, step,
                              len(devices))


def _make_work(process_id, device, shard, model, maker: MapMaker, args, out_dir, step, n_devices) -> None:
    loader = DataLoader(shard, shuffle=False, collate_fn=first_item,
                        num_workers=torchutils.worker_count(args.num_workers, n_devices))
    model = model.to(device)
    with torch.inference_mode():
        for pack in tqdm(loader, desc=f"{step}[{process_id}]", position=process_id, dynamic_ncols=True):
            label = pack["label"].to(device)
            outputs = [maker.forward(model, torch.from_numpy(img).to(device), label) for img in pack["img"]]
            keys, cam, high_res = maker.postprocess(outputs, pack, args)
            save_cam(cam_path(out_dir, pack["name"]), keys, cam, high_res)


def resize_sum(outputs: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    """Sum of (C, h, w) maps after bilinear resizing each to ``size``."""
    return torch.stack([F.interpolate(o[None], size, mode="bilinear", align_corners=False)[0]
                        for o in outputs]).sum(0)


def max_normalize(x: torch.Tensor) -> torch.Tensor:
    """Divide each map by its maximum (+1e-5), as IRN's make_cam does."""
    return x / (F.adaptive_max_pool2d(x, (1, 1)) + 1e-5)


def min_max_normalize(x: np.ndarray) -> np.ndarray:
    lo = x.min(axis=(1, 2), keepdims=True)
    hi = x.max(axis=(1, 2), keepdims=True)
    return (x - lo) / (hi - lo + 1e-5)


# eval ---------------------------------------------------------------------------

def eval_split_names(args) -> list[str]:
    root = vocdata.check_root(args.voc12_root)
    return vocdata.load_img_name_list(vocdata.VOC12.split_path(root, args.chainer_eval_set))


def load_gt(args, name: str) -> np.ndarray:
    return load_png(vocdata.VOC12.gt_path(args.voc12_root, name))


def threshold_confusions(fg_max: np.ndarray, fg_label: np.ndarray, gt: np.ndarray, thresholds: np.ndarray,
                         n_class: int) -> np.ndarray:
    """Confusion matrices for every background threshold at once: (T, n_class, n_class).

    A pixel is foreground (``fg_label``) at threshold t iff ``fg_max > t``,
    which is what argmax over [t, cams...] gives, since ties go to background.
    """
    valid = gt < n_class
    g, p, m = gt[valid].astype(np.int64), fg_label[valid].astype(np.int64), fg_max[valid]
    n_t = len(thresholds)
    n_fg_thresholds = np.searchsorted(thresholds, m, side="left")  # thresholds below m: pixel is fg there
    fg_counts = np.bincount((g * n_class + p) * (n_t + 1) + n_fg_thresholds,
                            minlength=n_class * n_class * (n_t + 1)).reshape(n_class, n_class, n_t + 1)
    # fg at threshold k iff k < n_fg_thresholds: a reversed cumulative sum over the bins.
    fg_at = np.flip(np.cumsum(np.flip(fg_counts, -1), -1), -1)[..., 1:]
    conf = np.moveaxis(fg_at, -1, 0).copy()
    bg_at = np.bincount(g, minlength=n_class)[None, :] - conf.sum(-1)
    conf[:, :, 0] += bg_at
    return conf


def cam_prediction_inputs(cam_file: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the best foreground score and its VOC label (1..20)."""
    cams, keys = cam_file["high_res"], cam_file["keys"] + 1
    if len(keys) == 0:
        h, w = cams.shape[-2:]
        return np.zeros((h, w), np.float32), np.zeros((h, w), np.int64)
    return cams.max(0), keys[cams.argmax(0)]


def run_eval(args, cam_dir: str, stage: str, default_thres: float) -> dict:
    """mIoU at ``default_thres`` and over the threshold sweep; prints and writes result/<stage>.json."""
    names = eval_split_names(args)
    n_class = vocdata.N_CAT + 1
    thresholds = np.asarray(args.sweep_thresholds, np.float64)
    all_t = np.unique(np.append(thresholds, default_thres))
    total = np.zeros((len(all_t), n_class, n_class), np.int64)
    per_image = []
    k_def = int(np.searchsorted(all_t, default_thres))
    for name in tqdm(names, desc=f"eval {stage}", dynamic_ncols=True):
        fg_max, fg_label = cam_prediction_inputs(load_cam(cam_path(cam_dir, name)))
        gt = load_gt(args, name)
        conf = threshold_confusions(fg_max, fg_label, gt, all_t, n_class)
        total += conf
        per_image.append((name, evaluation.mean_iou(evaluation.iou_from_confusion(conf[k_def]))))
    sweep = [evaluation.mean_iou(evaluation.iou_from_confusion(c)) for c in total]
    record = evaluation_record(args, stage, names, total[k_def], per_image)
    record["threshold"] = float(default_thres)
    record["sweep"] = {"thresholds": [float(t) for t in all_t], "miou": sweep,
                       **evaluation.robust_interval(all_t, sweep)}
    print_sweep(stage, record)
    evaluation.write_json(Path(args.result_dir) / f"{stage}.json", record)
    return record


def evaluation_record(args, stage: str, names: list[str], confusion: np.ndarray, per_image) -> dict:
    worst = sorted((x for x in per_image if np.isfinite(x[1])), key=lambda x: x[1])[:10]
    return {"stage": stage, "eval_set": args.chainer_eval_set, "n_images": len(names),
            "ground_truth": str(vocdata.VOC12.gt_path(args.voc12_root, "*")),
            **evaluation.summarize(confusion, vocdata.CAT_LIST),
            "worst_images": [{"name": n, "miou": v} for n, v in worst]}


def print_sweep(stage: str, record: dict) -> None:
    print(evaluation.format_summary(record))
    sw = record["sweep"]
    print(f"{stage}: threshold sweep (background threshold: mIoU)")
    print("  " + "  ".join(f"{t:.2f}:{100 * m:.1f}" for t, m in zip(sw["thresholds"], sw["miou"])))
    print(f"{stage}: mIoU {100 * record['miou']:.2f} at threshold {record['threshold']:.2f}; "
          f"best {100 * sw['best_miou']:.2f} at {sw['best_threshold']:.2f}; "
          f"within 1 point of the best over [{sw['low']:.2f}, {sw['high']:.2f}] (width {sw['width']:.2f})")


# seeds --------------------------------------------------------------------------

def seed_from_cams(img: np.ndarray, cam_file: dict, fg_thres: float, bg_thres: float) -> np.ndarray:
    """Confident seeds: the class where the fg-threshold CRF says so, 0 where both CRFs say
    background, 255 elsewhere. Both CRFs share one pairwise lattice."""
    cams = cam_file["high_res"]
    keys = np.pad(cam_file["keys"] + 1, (1, 0), mode="constant")
    fg_labels = np.argmax(np.pad(cams, ((1, 0), (0, 0), (0, 0)), constant_values=fg_thres), axis=0)
    bg_labels = np.argmax(np.pad(cams, ((1, 0), (0, 0), (0, 0)), constant_values=bg_thres), axis=0)
    if len(keys) < 2:
        fg_conf = bg_conf = np.zeros(cams.shape[-2:], np.int64)
    else:
        fg_pred, bg_pred = imutils.crf_inference_label_pair(img, fg_labels, bg_labels, n_labels=len(keys))
        fg_conf, bg_conf = keys[fg_pred], keys[bg_pred]
    conf = fg_conf.copy()
    conf[fg_conf == 0] = 255
    conf[bg_conf + fg_conf == 0] = 0
    return conf.astype(np.uint8)


def _seed_job(job) -> str:
    name, img_path, cam_file, out_file, fg, bg = job
    img = vocdata.read_image(Path(img_path))
    save_png(out_file, seed_from_cams(img, load_cam(cam_file), fg, bg))
    return name


def run_seeds(args, cam_dir: str, out_dir: str, fg_thres: float, bg_thres: float, step: str) -> None:
    """CRF-refined seeds for every image of ``args.train_list``, spread over a process pool."""
    root = vocdata.check_root(args.voc12_root)
    names = vocdata.load_img_name_list(args.train_list)
    out = lambda n: Path(out_dir) / f"{n}.png"  # noqa: E731
    todo = pending_indices(names, out, args.overwrite)
    report_skipped(step, len(names), len(todo))
    missing = [names[i] for i in todo if not cam_path(cam_dir, names[i]).is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} CAM files are missing in {cam_dir} (first: {missing[0]}); "
                                "run the make step first")
    print(f"{step}: fg threshold {fg_thres}, bg threshold {bg_thres}")
    jobs = [(names[i], str(vocdata.VOC12.image_path(root, names[i])), str(cam_path(cam_dir, names[i])),
             str(out(names[i])), fg_thres, bg_thres) for i in todo]
    os.makedirs(out_dir, exist_ok=True)
    n_proc = max(1, min(args.num_workers, len(jobs)))
    if n_proc == 1:
        for job in tqdm(jobs, desc=step, dynamic_ncols=True):
            _seed_job(job)
        return
    with mp.get_context("spawn").Pool(n_proc) as pool:
        for _ in tqdm(pool.imap_unordered(_seed_job, jobs, chunksize=4), total=len(jobs), desc=step,
                      dynamic_ncols=True):
            pass
