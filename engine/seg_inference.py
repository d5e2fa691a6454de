"""The segmentation network at inference: the trained DeepLab-v2 and how to feed it (from the metadata
train_seg writes beside the weights), multi-scale flip logits on every device, and masks with the CRF."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from dataset.datasets import SegmentationImages
from dataset.spec import DatasetSpec, ImageSource, voc_palette
from engine import checkpoints, devices, inference, planner, precision
from misc import distributed, imutils
from misc.fileio import load_arrays, save_arrays, save_png
from net import deeplab_v2


def read_meta(weights: Path) -> dict:
    """What train_seg wrote beside the weights (depth, input normalisation); {} for a released checkpoint."""
    path = checkpoints.seg_meta_path(str(weights))
    return json.loads(path.read_text()) if path.is_file() else {}


def seg_model_settings(weights_name: str, depth: int, input_norm: str) -> tuple[int, str, Path]:
    """The trained network's depth, input normalisation and checkpoint path: what train_seg wrote beside
    ``weights_name`` (--seg_weights_name), else ``depth`` (--seg_depth) and ``input_norm`` (--seg_input_norm,
    ``auto``: Caffe's)."""
    checkpoint = checkpoints.checkpoint_path(weights_name, "--seg_weights_name", "train_seg")
    meta = read_meta(checkpoint)
    depth = meta.get("depth", depth)
    norm = input_norm if input_norm != "auto" else meta.get("input_norm", "caffe")
    if not meta and input_norm == "auto":
        print(f"make_seg: {checkpoint} has no {checkpoint}.json beside it (a released deeplab-pytorch model?); "
              "assuming Caffe input normalisation (BGR minus the mean); set --seg_input_norm otherwise")
    return depth, norm, checkpoint


def build_seg_model(n_classes: int, depth: int, checkpoint: str) -> deeplab_v2.MSC:
    """The trained network in eval mode (each inference worker builds its own)."""
    model = deeplab_v2.deeplabv2_msc(n_classes, depth=depth)
    checkpoints.load_weights(model, checkpoint, expected=f"DeepLab-v2 ResNet-{depth} MSC", flag="--seg_weights_name",
                             producer="train_seg")
    return model.eval()


def predict_logits(model: torch.nn.Module, img: torch.Tensor, scales, flip: bool) -> torch.Tensor:
    """Logits (C, h, w) at the size of the first scale's output: the mean over ``scales`` and, with ``flip``,
    the mirrored image (each MSC output is already the max over its 1, 0.5 and 0.75 copies)."""
    outputs, size = [], None
    for s in scales:
        x = img if s == 1.0 else F.interpolate(img, scale_factor=s, mode="bilinear", align_corners=False)
        for mirrored in ((False, True) if flip else (False,)):
            out = model(x.flip(-1) if mirrored else x)
            out = out.flip(-1) if mirrored else out
            size = size or out.shape[-2:]
            outputs.append(F.interpolate(out, size=size, mode="bilinear", align_corners=False))
    return torch.stack(outputs).mean(0)[0]


@dataclass(frozen=True)
class LogitWriter(inference.Processor):
    """make_seg's image: the logits over ``scales`` (and mirrored with ``flip``), saved as float16 with the image
    size under the folder's record digest."""

    logit_dir: str
    scales: tuple[float, ...]
    flip: bool
    digest: str
    amp: bool

    def process(self, model, pack, device) -> None:
        with precision.autocast(device, self.amp):
            logit = predict_logits(model, pack["img"][None].to(device), self.scales, self.flip)
        save_arrays(Path(self.logit_dir) / f"{pack['name']}.npz", record=self.digest,
                    logit=logit.float().cpu().numpy().astype(np.float16), size=np.asarray(pack["size"]))


def masks_from_logits(img: np.ndarray, logit: np.ndarray, crf: dict | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(argmax of the upsampled softmax, the CRF-refined argmax or None), as uint8 label maps."""
    h, w = img.shape[:2]
    up = F.interpolate(torch.from_numpy(logit.astype(np.float32))[None], size=(h, w), mode="bilinear",
                       align_corners=False)
    prob = torch.softmax(up, dim=1)[0].numpy()
    raw = prob.argmax(0).astype(np.uint8)
    refined = None
    if crf is not None:
        refined = crf_labels(img, prob, crf)
    return raw, refined


PRESENT_EPS = 1e-3  # --seg_crf_labels present: a class takes part where its probability exceeds this somewhere


def crf_labels(img: np.ndarray, prob: np.ndarray, crf: dict) -> np.ndarray:
    """The CRF-refined label map of softmax probabilities (C, H, W): over every class (the official CRF), or
    with ``crf["labels"] == "present"`` over background and the classes that reach :data:`PRESENT_EPS`
    somewhere (COCO's 81-label CRF costs about 6 s an image, the few present classes a fraction of it)."""
    params = dict(crf)
    if params.pop("labels", "all") == "all":
        return imutils.crf_inference_prob(img, prob, imutils.DenseCRF(**params)).argmax(0).astype(np.uint8)
    kept = np.flatnonzero(prob.reshape(len(prob), -1).max(1) > PRESENT_EPS)
    kept = np.union1d([0], kept)
    refined = imutils.crf_inference_prob(img, np.ascontiguousarray(prob[kept]), imutils.DenseCRF(**params))
    return kept[refined.argmax(0)].astype(np.uint8)


@dataclass(frozen=True)
class MaskJob:
    """One image's masks from its logits, as a pool worker receives it: the raw mask and/or the CRF mask (None:
    not to be made), each written under its folder's digest."""

    name: str
    image: ImageSource
    logit_file: str
    raw_out: str | None
    crf_out: str | None
    crf: dict | None
    raw_digest: str
    crf_digest: str | None


def mask_job(job: MaskJob) -> str:
    logit = load_arrays(job.logit_file, ("logit",))["logit"]
    raw, refined = masks_from_logits(job.image.read(), logit, job.crf if job.crf_out else None)
    if job.raw_out:
        save_png(job.raw_out, raw, palette=voc_palette(), record=job.raw_digest)
    if job.crf_out:
        save_png(job.crf_out, refined, palette=voc_palette(), record=job.crf_digest)
    return job.name


@dataclass(frozen=True)
class SegTask:
    """make_seg on one list: its images (spec, root, IDs), where its logits and masks go (``out/logit``,
    ``out/raw``, ``out/crf``), the picklable factory of the trained network, its input normalisation, the
    logits' record, the test scales and flip, and the CRF's parameters (None: no CRF masks)."""

    spec: DatasetSpec
    root: Path
    names: list[str]
    out: Path
    build_model: Callable[[], torch.nn.Module]
    norm: str
    record: dict
    scales: tuple[float, ...]
    flip: bool
    crf: dict | None


def run_seg_inference(task: SegTask, config: inference.InferenceConfig) -> None:
    """Logits for every pending image of the task into ``out/logit`` on every device, then the raw and CRF
    masks in a process pool."""
    logit_dir, raw_dir, crf_dir = task.out / "logit", task.out / "raw", task.out / "crf"
    folder, todo = planner.plan_outputs("make_seg logits", logit_dir, task.names, ".npz", task.record,
                                        config.overwrite)
    todo = devices.rank_share(todo)
    if todo:
        dataset = SegmentationImages([task.names[i] for i in todo], task.root, task.norm, spec=task.spec)
        writer = LogitWriter(str(logit_dir), task.scales, task.flip, folder.digest, config.amp)
        inference.run_inference(dataset, inference.InferenceJob(task.build_model, writer, "make_seg"), config)
    distributed.barrier()
    upstream = planner.upstream_digest(logit_dir, task.names, ".npz", "make_seg")
    raw_folder, raw_todo = planner.plan_outputs("make_seg masks", raw_dir, task.names, ".png",
                                                {"step": "make_seg raw", "upstream": upstream}, config.overwrite)
    crf_folder, crf_todo = (planner.plan_outputs("make_seg CRF", crf_dir, task.names, ".png",
                                                 {"step": "make_seg crf", "crf": task.crf, "upstream": upstream},
                                                 config.overwrite) if task.crf else (None, []))
    raw_set, crf_set = set(raw_todo), set(crf_todo)
    jobs = [MaskJob(name, task.spec.image_source(task.root, name), str(logit_dir / f"{name}.npz"),
                    str(raw_dir / f"{name}.png") if i in raw_set else None,
                    str(crf_dir / f"{name}.png") if i in crf_set else None, task.crf, raw_folder.digest,
                    crf_folder.digest if crf_folder else None)
            for i, name in ((i, task.names[i]) for i in devices.rank_share(sorted(raw_set | crf_set)))]
    if jobs:
        inference.run_jobs(mask_job, jobs, "make_seg masks" + (" + CRF" if task.crf else ""), config.num_workers)
