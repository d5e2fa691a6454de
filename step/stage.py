"""The one implementation behind make_cam/make_amn_cam, eval_cam/eval_amn_cam and
cam_to_ir_label/amn_cam_to_ir_label, plus the checks and provenance every step shares.

The steps differ only in their inputs, outputs, defaults and the network-specific
forward pass. Every step checks all its inputs before it starts (cheaply: existence
and records, not decoding), and every output carries the digest of the record that
made it, so a rerun redoes exactly the outputs that are missing, unreadable or stale.
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
from torch.utils.data import DataLoader
from tqdm import tqdm

from misc import evaluation, imutils, provenance, torchutils
from misc.errors import PipelineError
from misc.fileio import cam_path, load_cam, load_png, read_record, remove_stale_temporaries, save_cam, save_png
from step import datasets
from voc12 import dataloader as vocdata


def first_item(batch):
    """collate_fn for batch size 1 that keeps numpy arrays and tuples as they are."""
    return batch[0]


def png_path(out_dir: str | os.PathLike, name: str) -> Path:
    return Path(out_dir) / f"{name}.png"


# up-front checks ------------------------------------------------------------------

def read_list(path: str | os.PathLike, flag: str) -> list[str]:
    """The IDs of an image list, which must exist and name at least one image."""
    if not Path(path).is_file():
        raise PipelineError(f"{flag} {path} does not exist; create it with the dataset's prepare command or pass "
                            f"the right {flag}")
    names = vocdata.load_img_name_list(path)
    if not names:
        raise PipelineError(f"{flag} {path} lists no image; nothing to do")
    return names


def check_images(spec: vocdata.DatasetSpec, root: Path, names: Sequence[str], source: str) -> None:
    """Every listed image exists (not decoded: a decoding failure later names the file)."""
    missing = [n for n in names if not spec.image_path(root, n).is_file()]
    if missing:
        raise PipelineError(f"{len(missing)} images of {source} do not exist (first: "
                            f"{spec.image_path(root, missing[0])}); check {spec.root_flag} and the list")


def check_labels(args, names: Sequence[str], spec: vocdata.DatasetSpec) -> None:
    """Every listed image has an image-level label of the dataset's class count."""
    vocdata.labels_for(names, vocdata.load_cls_labels(args.cls_labels), str(args.cls_labels), spec.n_classes)


def check_inputs(args, list_flag: str) -> tuple[vocdata.DatasetSpec, Path, list[str]]:
    """The dataset, its root and the IDs of ``--<list_flag>``, after checking images and labels."""
    spec = datasets.get_dataset(args)
    root = spec.check_root(datasets.dataset_root(args))
    names = read_list(getattr(args, list_flag), f"--{list_flag}")
    check_images(spec, root, names, f"--{list_flag} {getattr(args, list_flag)}")
    check_labels(args, names, spec)
    return spec, root, names


def upstream_digest(folder: str | os.PathLike, names: Sequence[str], suffix: str, producer: str) -> str:
    """The current record of an upstream folder, after checking it holds a current output for every name."""
    folder = Path(folder)
    digest = provenance.current_digest(folder)
    paths = [folder / f"{n}{suffix}" for n in names]
    result = provenance.survey(paths, digest, read_record, accept_unrecorded=digest == provenance.UNRECORDED)
    if result.todo:
        raise PipelineError(f"{folder}: {len(result.todo)} of {len(names)} inputs are not usable: "
                            f"{provenance.summarize_failures(names, result)}; run {producer} first")
    if digest == provenance.UNRECORDED:
        print(f"warning: {folder} has no provenance record (made by an older version or elsewhere); "
              "its files are used as they are")
    return digest


def check_ground_truth(spec: vocdata.DatasetSpec, root: Path, names: Sequence[str]) -> None:
    missing = [n for n in names if not spec.gt_path(root, n).is_file()]
    if missing:
        raise PipelineError(f"{len(missing)} of {len(names)} evaluated images have no ground truth in "
                            f"{spec.gt_location(root)} (first: {missing[0]}); prepare the dataset's masks, pass "
                            "--gt_dir, or pick another --chainer_eval_set")


def eval_targets(args, step: str, list_path: str | os.PathLike | None = None,
                 list_flag: str = "--chainer_eval_set list",
                 instances: bool = False) -> tuple[vocdata.DatasetSpec, Path, list[str]] | None:
    """The dataset, root and evaluated IDs of an eval step (the --chainer_eval_set split unless ``list_path``),
    or None (with a message) without ground truth: masks, or with ``instances`` instance ground truth."""
    spec = datasets.get_dataset(args)
    root = spec.check_root(datasets.dataset_root(args))
    if not (spec.has_instances(root) if instances else spec.has_ground_truth(root)):
        where = ("instance ground truth (VOC's SegmentationObject/, COCO's annotations/instances_*.json)"
                 if instances else f"ground-truth masks ({spec.gt_location(root)})")
        print(f"{step}: dataset {spec.name} has no {where}; skipping the evaluation")
        return None
    names = read_list(list_path or datasets.eval_list_path(args), list_flag)
    if not instances or spec.instance_dir is not None:
        check_ground_truth(spec, root, names)
    return spec, root, names


# provenance of outputs ---------------------------------------------------------------

def plan_outputs(step: str, out_dir: str | os.PathLike, names: Sequence[str], suffix: str, record: dict,
                 overwrite: bool) -> tuple[provenance.FolderRecord, list[int]]:
    """Which outputs to (re)do; prints how many are kept and why the rest are redone, and commits the record."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    removed = remove_stale_temporaries(out_dir)
    if removed:
        print(f"{step}: removed {removed} temporary files left by a killed run in {out_dir}")
    folder = provenance.FolderRecord(out_dir, record)
    if overwrite:
        todo = list(range(len(names)))
        print(f"{step}: --overwrite True, redoing all {len(names)} outputs")
    else:
        result = provenance.survey([out_dir / f"{n}{suffix}" for n in names], folder.digest, read_record)
        todo = result.todo
        print(f"{step}: {folder.explain(result, len(names))}" + ("; nothing to do (--overwrite True redoes them)"
                                                               if not todo else ""))
    if todo:
        folder.commit()
    return folder, todo


# make ---------------------------------------------------------------------------

def no_upstream(args) -> dict:
    return {}


def no_params(args) -> dict:
    return {}


@dataclass(frozen=True)
class MapMaker:
    """How one network turns a multi-scale pack into (keys, strided maps, full-size maps).

    ``upstream(args)`` names the folders it reads besides the images, as
    ``{folder: (suffix, producing step)}``; ``params(args)`` the settings besides
    the scales that change its output. Every field is a module-level function, so a maker
    travels to spawned inference workers (one per GPU, or per listed --device).
    """

    forward: Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
    postprocess: Callable[[list[torch.Tensor], dict, "object"], tuple[np.ndarray, np.ndarray, np.ndarray]]
    upstream: Callable[["object"], dict] = no_upstream
    params: Callable[["object"], dict] = no_params


def run_make(args, maker: MapMaker, out_dir: str, step: str, checkpoint: Path,
             build_model: Callable[[], torch.nn.Module]) -> None:
    """Run ``maker`` over ``--train_list`` on every inference device and save one CAM file per image.

    ``build_model`` is picklable (a module-level function or a partial of one): each worker builds and
    loads its own copy, so no model travels between processes."""
    from misc.provenance import file_digest

    spec, root, names = check_inputs(args, "train_list")
    upstream = {str(d): upstream_digest(d, names, sfx, prod) for d, (sfx, prod) in maker.upstream(args).items()}
    record = {"step": step, "dataset": spec.name, "classes": spec.n_classes, "checkpoint": file_digest(checkpoint),
              "scales": list(args.cam_scales), **maker.params(args), "upstream": upstream}
    folder, todo = plan_outputs(step, out_dir, names, ".npz", record, args.overwrite)
    todo = torchutils.rank_share(todo)
    if not todo:
        return
    dataset = vocdata.VOC12ClassificationDatasetMSF([names[i] for i in todo], voc12_root=root,
                                                    scales=args.cam_scales, cls_labels=args.cls_labels, spec=spec)
    devices = torchutils.inference_devices(args.device)
    torchutils.run_on_devices(_make_work, dataset, devices, torchutils.WorkerSetup.from_args(args), build_model,
                              maker, args, out_dir, step, len(devices), folder.digest)


def _make_work(process_id, device, shard, build_model, maker: MapMaker, args, out_dir, step, n_devices,
               digest) -> None:
    loader = DataLoader(shard, shuffle=False, collate_fn=first_item, worker_init_fn=torchutils.init_worker,
                        num_workers=torchutils.worker_count(args.num_workers, n_devices))
    from step import training

    model = build_model().eval().to(device)
    training.use_channels_last(model, args)
    with torch.inference_mode(), training.autocast(device, args.amp):
        for pack in tqdm(loader, desc=f"{step}[{process_id}]", position=process_id, dynamic_ncols=True):
            torch.manual_seed(torchutils.image_seed(args.seed, pack["name"]))  # random layers: same on any device
            label = pack["label"].to(device)
            outputs = [maker.forward(model, training.batch_input(torch.from_numpy(img), device, args), label).float()
                       for img in pack["img"]]
            keys, cam, high_res = maker.postprocess(outputs, pack, args)
            save_cam(cam_path(out_dir, pack["name"]), keys, cam, high_res, record=digest)


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


def run_eval(args, cam_dir: str, stage: str, default_thres: float) -> dict | None:
    """mIoU at ``default_thres`` and over the threshold sweep; prints and writes result/<stage>.json."""
    targets = eval_targets(args, f"eval_{stage}")
    if targets is None:
        return None
    spec, root, names = targets
    made_by = upstream_digest(cam_dir, names, ".npz", f"make_{stage}")
    total, per_image, all_t, k_def = sweep_confusions(
        names, lambda name: cam_prediction_inputs(load_cam(cam_path(cam_dir, name))), spec, root,
        args.sweep_thresholds, default_thres, f"eval {stage}")
    record = evaluation_record(args, spec, root, stage, names, total[k_def], per_image)
    record.update(threshold=float(default_thres), made_by={str(cam_dir): made_by},
                  sweep=sweep_record(total, all_t))
    print_sweep(stage, record)
    evaluation.write_json(Path(args.result_dir) / f"{stage}.json", record)
    return record


def sweep_confusions(names: Sequence[str], inputs: Callable[[str], tuple[np.ndarray, np.ndarray]],
                     spec: vocdata.DatasetSpec, root: Path, thresholds, default_thres: float, desc: str):
    """Confusions of every image at every background threshold (and the default one): (T, n, n) summed, each
    image's mIoU at the default, the sorted thresholds and the default's index. ``inputs(name)`` gives an
    image's best foreground score and its label per pixel."""
    n_class = spec.n_classes + 1
    all_t = np.unique(np.append(np.asarray(thresholds, np.float64), default_thres))
    total = np.zeros((len(all_t), n_class, n_class), np.int64)
    per_image = []
    k_def = int(np.searchsorted(all_t, default_thres))
    for name in tqdm(names, desc=desc, dynamic_ncols=True):
        fg_max, fg_label = inputs(name)
        conf = threshold_confusions(fg_max, fg_label, load_png(spec.gt_path(root, name)), all_t, n_class)
        total += conf
        per_image.append((name, evaluation.mean_iou(evaluation.iou_from_confusion(conf[k_def]))))
    return total, per_image, all_t, k_def


def sweep_record(total: np.ndarray, thresholds: np.ndarray) -> dict:
    """The sweep of an eval record: mIoU per threshold and the robust interval."""
    ious = [evaluation.iou_from_confusion(c) for c in total]
    sweep = [evaluation.mean_iou(iou) for iou in ious]
    return {"thresholds": [float(t) for t in thresholds], "miou": sweep, **evaluation.robust_interval(thresholds, sweep),
            "per_class": [[evaluation.nan_to_none(v) for v in iou] for iou in ious]}


def score_masks(folder: str | os.PathLike, names: Sequence[str], spec: vocdata.DatasetSpec, root: Path,
                void_as_background: bool = False) -> tuple[np.ndarray, list]:
    """The summed confusion of the label PNGs ``folder/<id>.png`` against the ground truth, and each image's
    mIoU; ``void_as_background`` scores 255 in a mask as background (the pseudo masks' unsure pixels)."""
    n_class = spec.n_classes + 1
    confusion = np.zeros((n_class, n_class), np.int64)
    per_image = []
    for name in tqdm(names, desc=f"eval {Path(folder).name}", dynamic_ncols=True):
        pred = load_png(png_path(folder, name))
        if void_as_background:
            pred = np.where(pred == 255, 0, pred)
        conf = evaluation.confusion_matrix(pred, load_png(spec.gt_path(root, name)), n_class)
        confusion += conf
        per_image.append((name, evaluation.mean_iou(evaluation.iou_from_confusion(conf))))
    return confusion, per_image


def evaluation_record(args, spec: vocdata.DatasetSpec, root: Path, stage: str, names: list[str],
                      confusion: np.ndarray, per_image) -> dict:
    worst = sorted((x for x in per_image if np.isfinite(x[1])), key=lambda x: x[1])[:10]
    return {"stage": stage, "dataset": spec.name, "eval_set": args.chainer_eval_set, "n_images": len(names),
            "ground_truth": spec.gt_location(root),
            **evaluation.summarize(confusion, spec.class_names), "confusion": confusion.tolist(),
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
    name, img_path, cam_file, out_file, fg, bg, digest = job
    img = vocdata.read_image(Path(img_path))
    save_png(out_file, seed_from_cams(img, load_cam(cam_file), fg, bg), record=digest)
    return name


def run_seeds(args, cam_dir: str, out_dir: str, fg_thres: float, bg_thres: float, step: str, producer: str) -> None:
    """CRF-refined seeds for every image of ``--train_list``, spread over a process pool."""
    spec, root, names = check_inputs(args, "train_list")
    record = {"step": step, "dataset": spec.name, "conf_fg_thres": fg_thres, "conf_bg_thres": bg_thres,
              "crf": "t=10,gt_prob=0.7,gauss(3,3),bilateral(50,5,10)",
              "upstream": {str(cam_dir): upstream_digest(cam_dir, names, ".npz", producer)}}
    folder, todo = plan_outputs(step, out_dir, names, ".png", record, args.overwrite)
    todo = torchutils.rank_share(todo)
    if not todo:
        return
    print(f"{step}: fg threshold {fg_thres}, bg threshold {bg_thres}")
    jobs = [(names[i], str(spec.image_path(root, names[i])), str(cam_path(cam_dir, names[i])),
             str(png_path(out_dir, names[i])), fg_thres, bg_thres, folder.digest) for i in todo]
    run_jobs(_seed_job, jobs, step, args.num_workers, chunksize=4)


def run_jobs(fn, jobs: list, desc: str, workers: int, chunksize: int = 2) -> None:
    """``fn`` over ``jobs`` in a spawned pool whose workers die with this process (inline for one worker)."""
    n_proc = max(1, min(workers, len(jobs)))
    if n_proc == 1:
        for job in tqdm(jobs, desc=desc, dynamic_ncols=True):
            fn(job)
        return
    with mp.get_context("spawn").Pool(n_proc, initializer=torchutils.die_with_parent) as pool:
        for _ in tqdm(pool.imap_unordered(fn, jobs, chunksize=chunksize), total=len(jobs), desc=desc,
                      dynamic_ncols=True):
            pass
