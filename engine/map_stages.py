"""The one implementation behind make_cam/make_amn_cam (:func:`run_make`), eval_cam/eval_amn_cam
(:func:`run_eval`) and cam_to_ir_label/amn_cam_to_ir_label (:func:`run_seeds`).

The steps differ only in their inputs, outputs, defaults and the network-specific forward pass. Every
output carries the digest of the record that made it (``engine.planner``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from dataset import checks
from dataset.checks import check_inputs, eval_targets
from dataset.datasets import ClassificationDatasetMSF
from dataset.spec import ImageSource
from engine import devices, inference, precision, seeding
from engine.planner import plan_outputs, upstream_digest
from misc import evaluation
from misc.fileio import cam_path, load_cam, png_path, save_cam, save_png
from misc.settings import declared
from postprocess.cam_maps import cam_prediction_inputs
from postprocess.scoring import evaluation_record, sweep_confusions, sweep_record
from postprocess.seeds import seed_from_cams

# The flags each of the three implementations reads.
MAKE_SETTINGS = declared(checks.SETTINGS, inference.SETTINGS, precision.SETTINGS,
                         ("train_list", "overwrite", "cam_scales"))
EVAL_SETTINGS = declared(checks.SETTINGS, ("sweep_thresholds", "result_dir"))
SEED_SETTINGS = declared(checks.SETTINGS, ("train_list", "overwrite", "num_workers"))


@dataclass(frozen=True)
class MapMaker:
    """How one network turns a multi-scale pack into (keys, strided maps, full-size maps), and what else its
    output depends on.

    ``forward(model, img, label)`` runs the network on one scale; ``postprocess(outputs, pack)`` merges the
    scales (a module-level function or a partial of one, so it travels to spawned workers). ``upstream`` names
    the folders it reads besides the images, ``{folder: (suffix, producing step)}``; ``params`` the settings
    besides the scales that change its output. The step builds it from its flags.
    """

    forward: Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
    postprocess: Callable[[list[torch.Tensor], dict], tuple[np.ndarray, np.ndarray, np.ndarray]]
    upstream: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MapJob:
    """What each inference worker of a make step receives: the model factory, the maker, where and under which
    record the maps go, and the run settings it needs (no flags namespace)."""

    build_model: Callable[[], torch.nn.Module]
    maker: MapMaker
    out_dir: str
    step: str
    digest: str
    loader_workers: int
    seed: int
    amp: bool
    channels_last: bool


def run_make(args, maker: MapMaker, out_dir: str, step: str, checkpoint: Path,
             build_model: Callable[[], torch.nn.Module]) -> None:
    """Run ``maker`` over ``--train_list`` on every inference device and save one CAM file per image.

    ``build_model`` is picklable (a module-level function or a partial of one): each worker builds and
    loads its own copy, so no model travels between processes."""
    from misc.provenance import file_digest

    spec, root, names = check_inputs(args, "train_list")
    upstream = {str(d): upstream_digest(d, names, sfx, prod) for d, (sfx, prod) in maker.upstream.items()}
    record = {"step": step, "dataset": spec.name, "classes": spec.n_classes, "checkpoint": file_digest(checkpoint),
              "scales": list(args.cam_scales), **maker.params, "upstream": upstream}
    folder, todo = plan_outputs(step, out_dir, names, ".npz", record, args.overwrite)
    todo = devices.rank_share(todo)
    if not todo:
        return
    dataset = ClassificationDatasetMSF([names[i] for i in todo], root=root,
                                       scales=args.cam_scales, cls_labels=args.cls_labels, spec=spec)
    inference_devices = devices.parse_devices(args.device)
    job = MapJob(build_model, maker, out_dir, step, folder.digest,
                 inference.worker_count(args.num_workers, len(inference_devices)), args.seed, args.amp,
                 args.channels_last)
    inference.run_on_devices(_make_work, dataset, inference_devices, inference.WorkerSetup.from_args(args), job)


def _make_work(process_id: int, device: torch.device, shard, job: MapJob) -> None:
    loader = DataLoader(shard, shuffle=False, collate_fn=inference.first_item, worker_init_fn=inference.init_worker,
                        num_workers=job.loader_workers)
    model = job.build_model().eval().to(device)
    precision.use_channels_last(model, job.channels_last)
    with torch.inference_mode(), precision.autocast(device, job.amp):
        for pack in tqdm(loader, desc=f"{job.step}[{process_id}]", position=process_id, dynamic_ncols=True):
            torch.manual_seed(seeding.image_seed(job.seed, pack["name"]))  # random layers: same on any device
            label = pack["label"].to(device)
            inputs = [precision.batch_input(torch.from_numpy(img), device, job.channels_last) for img in pack["img"]]
            outputs = [job.maker.forward(model, x, label).float() for x in inputs]
            keys, cam, high_res = job.maker.postprocess(outputs, pack)
            save_cam(cam_path(job.out_dir, pack["name"]), keys, cam, high_res, record=job.digest)


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
    record = evaluation_record(args.chainer_eval_set, spec, root, stage, names, total[k_def], per_image)
    record.update(threshold=float(default_thres), made_by={str(cam_dir): made_by},
                  sweep=sweep_record(total, all_t))
    print_sweep(stage, record)
    evaluation.write_json(Path(args.result_dir) / f"{stage}.json", record)
    return record


def print_sweep(stage: str, record: dict) -> None:
    print(evaluation.format_summary(record))
    sw = record["sweep"]
    print(f"{stage}: threshold sweep (background threshold: mIoU)")
    print("  " + "  ".join(f"{t:.2f}:{100 * m:.1f}" for t, m in zip(sw["thresholds"], sw["miou"])))
    print(f"{stage}: mIoU {100 * record['miou']:.2f} at threshold {record['threshold']:.2f}; "
          f"best {100 * sw['best_miou']:.2f} at {sw['best_threshold']:.2f}; "
          f"within 1 point of the best over [{sw['low']:.2f}, {sw['high']:.2f}] (width {sw['width']:.2f})")


@dataclass(frozen=True)
class SeedJob:
    """One image's CRF seeds, as a pool worker receives it."""

    name: str
    image: ImageSource
    cam_file: str
    out_file: str
    fg_thres: float
    bg_thres: float
    digest: str


def _seed_job(job: SeedJob) -> str:
    img = job.image.read()
    save_png(job.out_file, seed_from_cams(img, load_cam(job.cam_file), job.fg_thres, job.bg_thres), record=job.digest)
    return job.name


def run_seeds(args, cam_dir: str, out_dir: str, fg_thres: float, bg_thres: float, step: str, producer: str) -> None:
    """CRF-refined seeds for every image of ``--train_list``, spread over a process pool."""
    spec, root, names = check_inputs(args, "train_list")
    record = {"step": step, "dataset": spec.name, "conf_fg_thres": fg_thres, "conf_bg_thres": bg_thres,
              "crf": "t=10,gt_prob=0.7,gauss(3,3),bilateral(50,5,10)",
              "upstream": {str(cam_dir): upstream_digest(cam_dir, names, ".npz", producer)}}
    folder, todo = plan_outputs(step, out_dir, names, ".png", record, args.overwrite)
    todo = devices.rank_share(todo)
    if not todo:
        return
    print(f"{step}: fg threshold {fg_thres}, bg threshold {bg_thres}")
    jobs = [SeedJob(names[i], spec.image_source(root, names[i]), str(cam_path(cam_dir, names[i])),
                    str(png_path(out_dir, names[i])), fg_thres, bg_thres, folder.digest) for i in todo]
    inference.run_jobs(_seed_job, jobs, step, args.num_workers, chunksize=4)
