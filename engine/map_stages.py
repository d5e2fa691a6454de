"""The one implementation behind make_cam/make_amn_cam (:func:`run_make`), eval_cam/eval_amn_cam
(:func:`run_eval`) and cam_to_ir_label/amn_cam_to_ir_label (:func:`run_seeds`).

The steps differ only in their inputs, outputs, defaults and the network-specific forward pass. Every
output carries the digest of the record that made it (``engine.planner``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from dataset.checks import check_inputs, eval_targets
from dataset.datasets import ClassificationDatasetMSF
from dataset.registry import DataConfig
from dataset.spec import ImageSource
from engine import devices, inference, precision, seeding
from engine.eval_runs import EvalConfig, current_result, inputs_digest, write_result
from engine.planner import plan_outputs, upstream_digest
from misc import evaluation
from misc.fileio import cam_path, load_cam, png_path, save_cam, save_png
from postprocess.cam_maps import cam_prediction_inputs
from postprocess.scoring import evaluation_record, sweep_confusions, sweep_record
from postprocess.seeds import seed_from_cams


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
class MakeTask:
    """One make step: its name, the list it maps (``list_flag`` names it in messages), where the maps go, the
    checkpoint they come from and the picklable factory that builds the loaded network, the step's
    :class:`MapMaker` and the image scales."""

    step: str
    list_path: str
    list_flag: str
    out_dir: str
    checkpoint: Path
    build_model: Callable[[], torch.nn.Module]
    maker: MapMaker
    scales: tuple[float, ...]


@dataclass(frozen=True)
class MapProcessor(inference.Processor):
    """A multi-scale pack to one CAM file: the maker's forward on every scale, its postprocess, saved under the
    folder's record digest. Random layers (AMN's dropout at inference) are seeded per image, so any device gives
    the same maps."""

    maker: MapMaker
    out_dir: str
    digest: str
    seed: int
    amp: bool
    channels_last: bool

    def process(self, model, pack, device) -> None:
        with precision.autocast(device, self.amp):
            torch.manual_seed(seeding.image_seed(self.seed, pack["name"]))
            label = pack["label"].to(device)
            inputs = [precision.batch_input(torch.from_numpy(img), device, self.channels_last) for img in pack["img"]]
            outputs = [self.maker.forward(model, x, label).float() for x in inputs]
            keys, cam, high_res = self.maker.postprocess(outputs, pack)
        save_cam(cam_path(self.out_dir, pack["name"]), keys, cam, high_res, record=self.digest)


def run_make(task: MakeTask, data: DataConfig, config: inference.InferenceConfig) -> None:
    """Run ``task.maker`` over the task's list on every inference device and save one CAM file per image."""
    from misc.provenance import file_digest

    spec, root, names = check_inputs(data, task.list_path, task.list_flag)
    upstream = {str(d): upstream_digest(d, names, sfx, prod) for d, (sfx, prod) in task.maker.upstream.items()}
    record = {"step": task.step, "dataset": spec.name, "classes": spec.n_classes,
              "checkpoint": file_digest(task.checkpoint), "scales": list(task.scales), **task.maker.params,
              "upstream": upstream}
    folder, todo = plan_outputs(task.step, task.out_dir, names, ".npz", record, config.overwrite)
    todo = devices.rank_share(todo)
    if not todo:
        return
    dataset = ClassificationDatasetMSF([names[i] for i in todo], root=root, scales=task.scales,
                                       cls_labels=data.cls_labels, spec=spec)
    processor = MapProcessor(task.maker, task.out_dir, folder.digest, config.seed, config.amp, config.channels_last)
    inference.run_inference(dataset, inference.InferenceJob(task.build_model, processor, task.step,
                                                            config.channels_last), config)


FULL_SIZE = ("keys", "high_res")  # what the evals and the seed CRFs read of a CAM file: not the strided maps


def cam_inputs(cam_dir: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, an image's best foreground score and its label, from its CAM file (the full-size maps only)."""
    return cam_prediction_inputs(load_cam(cam_path(cam_dir, name), FULL_SIZE))


def run_eval(data: DataConfig, cam_dir: str, stage: str, thresholds: tuple[float, Sequence[float]],
             result_dir: str, run: EvalConfig) -> dict | None:
    """mIoU at the default threshold and over the sweep (``thresholds``: the default and the sweep's); prints
    and writes <result_dir>/<stage>.json, or reuses it where nothing it depends on changed."""
    targets = eval_targets(data, f"eval_{stage}")
    if targets is None:
        return None
    spec, root, names = targets
    default_thres, sweep_thresholds = thresholds
    made_by = {str(cam_dir): upstream_digest(cam_dir, names, ".npz", f"make_{stage}")}
    path = Path(result_dir) / f"{stage}.json"
    digest = inputs_digest(names, made_by, {"stage": stage, "dataset": spec.name, "threshold": default_thres,
                                            "sweep": list(sweep_thresholds), "gt": spec.gt_location(root)})
    reused = current_result(path, digest, run, f"eval_{stage}")
    if reused is not None:
        print_sweep(stage, reused)
        return reused
    total, per_image, all_t, k_def = sweep_confusions(
        names, partial(cam_inputs, str(cam_dir)), spec, root, sweep_thresholds, default_thres, f"eval {stage}",
        run.num_workers)
    record = evaluation_record(data.chainer_eval_set, spec, root, stage, names, total[k_def], per_image)
    record.update(threshold=float(default_thres), made_by=made_by, sweep=sweep_record(total, all_t))
    print_sweep(stage, record)
    write_result(path, record, digest)
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
    cams = load_cam(job.cam_file, FULL_SIZE)
    save_png(job.out_file, seed_from_cams(img, cams, job.fg_thres, job.bg_thres), record=job.digest)
    return job.name


@dataclass(frozen=True)
class SeedTask:
    """One seed step: its name, the step that made the maps, where they are and where the seeds go, the list
    of images and the CRF's foreground and background thresholds."""

    step: str
    producer: str
    cam_dir: str
    out_dir: str
    list_path: str
    fg_thres: float
    bg_thres: float


def run_seeds(task: SeedTask, data: DataConfig, config: inference.InferenceConfig) -> None:
    """CRF-refined seeds for every image of the task's list, spread over a process pool."""
    spec, root, names = check_inputs(data, task.list_path, "--train_list")
    record = {"step": task.step, "dataset": spec.name, "conf_fg_thres": task.fg_thres,
              "conf_bg_thres": task.bg_thres, "crf": "t=10,gt_prob=0.7,gauss(3,3),bilateral(50,5,10)",
              "upstream": {str(task.cam_dir): upstream_digest(task.cam_dir, names, ".npz", task.producer)}}
    folder, todo = plan_outputs(task.step, task.out_dir, names, ".png", record, config.overwrite)
    todo = devices.rank_share(todo)
    if not todo:
        return
    print(f"{task.step}: fg threshold {task.fg_thres}, bg threshold {task.bg_thres}")
    jobs = [SeedJob(names[i], spec.image_source(root, names[i]), str(cam_path(task.cam_dir, names[i])),
                    str(png_path(task.out_dir, names[i])), task.fg_thres, task.bg_thres, folder.digest) for i in todo]
    inference.run_jobs(_seed_job, jobs, task.step, config.num_workers, chunksize=4)
