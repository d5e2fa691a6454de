"""Inference of the segmentation network on --seg_eval_list (and --seg_test_list): full-size logits with flip
and optional extra scales, then the masks before and after deeplab-pytorch's dense CRF.

Outputs under --seg_out_dir, per list (``eval/``, ``test/``): ``logit/<id>.npz`` (stride-8 logits),
``raw/<id>.png`` (argmax of the upsampled softmax) and ``crf/<id>.png``. For a VOC test list the masks are also
written as the evaluation server expects: ``results/VOC2012/Segmentation/comp6_test_cls/<id>.png``.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from misc import distributed, imutils, torchutils
from misc.fileio import load_arrays, load_png, save_arrays, save_png
from misc.provenance import file_digest
from net import deeplab_v2
from step import datasets, stage, training
from step.train_seg import meta_path
from voc12.dataloader import read_image, voc_palette
from voc12.segmentation import SegmentationImages

SUBMISSION_DIR = "results/VOC2012/Segmentation/comp6_test_cls"


def crf_params(args) -> dict:
    return {"iter_max": args.seg_crf_iter_max, "pos_w": args.seg_crf_pos_w, "pos_xy_std": args.seg_crf_pos_xy_std,
            "bi_w": args.seg_crf_bi_w, "bi_xy_std": args.seg_crf_bi_xy_std, "bi_rgb_std": args.seg_crf_bi_rgb_std}


def read_meta(weights: Path) -> dict:
    """What train_seg wrote beside the weights (depth, input normalisation); {} for a released checkpoint."""
    path = meta_path(str(weights))
    return json.loads(path.read_text()) if path.is_file() else {}


def seg_model_settings(args) -> tuple[int, str, Path]:
    """The trained network's depth, input normalisation and checkpoint path."""
    checkpoint = training.checkpoint_path(args.seg_weights_name, "--seg_weights_name", "train_seg")
    meta = read_meta(checkpoint)
    depth = meta.get("depth", args.seg_depth)
    norm = args.seg_input_norm if args.seg_input_norm != "auto" else meta.get("input_norm", "caffe")
    if not meta and args.seg_input_norm == "auto":
        print(f"make_seg: {checkpoint} has no {checkpoint}.json beside it (a released deeplab-pytorch model?); "
              "assuming Caffe input normalisation (BGR minus the mean); set --seg_input_norm otherwise")
    return depth, norm, checkpoint


def build_seg_model(n_classes: int, depth: int, checkpoint: str) -> deeplab_v2.MSC:
    """The trained network in eval mode (each inference worker builds its own)."""
    model = deeplab_v2.deeplabv2_msc(n_classes, depth=depth)
    training.load_weights(model, checkpoint, expected=f"DeepLab-v2 ResNet-{depth} MSC", flag="--seg_weights_name",
                          producer="train_seg")
    return model.eval()


def load_seg_model(args, n_classes: int) -> tuple[deeplab_v2.MSC, str, Path]:
    """The trained network in eval mode, its input normalisation and checkpoint path."""
    depth, norm, checkpoint = seg_model_settings(args)
    return build_seg_model(n_classes, depth, str(checkpoint)), norm, checkpoint


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


def _network_work(process_id, device, shard, build_model, args, logit_dir, n_devices, digest) -> None:
    loader = DataLoader(shard, shuffle=False, collate_fn=stage.first_item, worker_init_fn=torchutils.init_worker,
                        num_workers=torchutils.worker_count(args.num_workers, n_devices))
    model = build_model().to(device)
    with torch.inference_mode(), training.autocast(device, args.amp):
        for pack in tqdm(loader, desc=f"make_seg[{process_id}]", position=process_id, dynamic_ncols=True):
            logit = predict_logits(model, pack["img"][None].to(device), args.seg_test_scales, args.seg_flip)
            save_arrays(Path(logit_dir) / f"{pack['name']}.npz", record=digest,
                        logit=logit.float().cpu().numpy().astype(np.float16), size=np.asarray(pack["size"]))


def masks_from_logits(img: np.ndarray, logit: np.ndarray, crf: dict | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(argmax of the upsampled softmax, the CRF-refined argmax or None), as uint8 label maps."""
    h, w = img.shape[:2]
    up = F.interpolate(torch.from_numpy(logit.astype(np.float32))[None], size=(h, w), mode="bilinear",
                       align_corners=False)
    prob = torch.softmax(up, dim=1)[0].numpy()
    raw = prob.argmax(0).astype(np.uint8)
    refined = None if crf is None else imutils.crf_inference_prob(img, prob, **crf).argmax(0).astype(np.uint8)
    return raw, refined


def _mask_job(job) -> str:
    name, img_path, logit_path, raw_out, crf_out, crf, digests = job
    logit = load_arrays(logit_path, ("logit",))["logit"]
    raw, refined = masks_from_logits(read_image(Path(img_path)), logit, crf if crf_out else None)
    if raw_out:
        save_png(raw_out, raw, palette=voc_palette(), record=digests[0])
    if crf_out:
        save_png(crf_out, refined, palette=voc_palette(), record=digests[1])
    return name


def infer_list(args, names: list[str], out: Path, spec, root, build_model, norm: str, record: dict) -> None:
    """Logits for every pending image of ``names`` into ``out/logit``, then the raw and CRF masks."""
    logit_dir, raw_dir, crf_dir = out / "logit", out / "raw", out / "crf"
    folder, todo = stage.plan_outputs("make_seg logits", logit_dir, names, ".npz", record, args.overwrite)
    todo = torchutils.rank_share(todo)
    if todo:
        dataset = SegmentationImages([names[i] for i in todo], root, norm, spec=spec)
        devices = torchutils.inference_devices(args.device)
        torchutils.run_on_devices(_network_work, dataset, devices, torchutils.WorkerSetup.from_args(args),
                                  build_model, args, str(logit_dir), len(devices), folder.digest)
    distributed.barrier()
    upstream = stage.upstream_digest(logit_dir, names, ".npz", "make_seg")
    raw_folder, raw_todo = stage.plan_outputs("make_seg masks", raw_dir, names, ".png",
                                              {"step": "make_seg raw", "upstream": upstream}, args.overwrite)
    crf = crf_params(args) if args.seg_crf else None
    crf_folder, crf_todo = (stage.plan_outputs("make_seg CRF", crf_dir, names, ".png",
                                               {"step": "make_seg crf", "crf": crf, "upstream": upstream},
                                               args.overwrite) if crf else (None, []))
    raw_set, crf_set = set(raw_todo), set(crf_todo)
    pending = torchutils.rank_share(sorted(raw_set | crf_set))
    jobs = [(names[i], str(spec.image_path(root, names[i])), str(logit_dir / f"{names[i]}.npz"),
             str(raw_dir / f"{names[i]}.png") if i in raw_set else None,
             str(crf_dir / f"{names[i]}.png") if i in crf_set else None, crf,
             (raw_folder.digest, crf_folder.digest if crf_folder else None)) for i in pending]
    if jobs:
        stage.run_jobs(_mask_job, jobs, "make_seg masks" + (" + CRF" if crf else ""), args.num_workers)


def write_submission(args, names: list[str], out: Path) -> Path:
    """The test masks as the VOC server wants them: palette PNGs named <id>.png in comp6_test_cls/."""
    source = out / ("crf" if args.seg_crf else "raw")
    target = Path(args.seg_out_dir) / SUBMISSION_DIR
    target.mkdir(parents=True, exist_ok=True)
    for name in tqdm(names, desc="submission", dynamic_ncols=True):
        save_png(target / f"{name}.png", load_png(source / f"{name}.png"), palette=voc_palette())
    return target


def run(args) -> None:
    spec = datasets.get_dataset(args)
    root = spec.check_root(datasets.dataset_root(args))
    lists = [("eval", args.seg_eval_list)] + ([("test", args.seg_test_list)] if args.seg_test_list else [])
    named = []
    for kind, path in lists:
        names = stage.read_list(path, f"--seg_{kind}_list")
        stage.check_images(spec, root, names, f"--seg_{kind}_list {path}")
        named.append((kind, names))
    depth, norm, checkpoint = seg_model_settings(args)
    model = functools.partial(build_seg_model, spec.n_classes + 1, depth, str(checkpoint))
    record = {"step": "make_seg", "dataset": spec.name, "checkpoint": file_digest(checkpoint),
              "input_norm": norm, "test_scales": list(args.seg_test_scales), "flip": args.seg_flip}
    print(f"make_seg: {checkpoint}, input normalisation {norm}, scales {list(args.seg_test_scales)}, "
          f"flip {args.seg_flip}, CRF {args.seg_crf}")
    for kind, names in named:
        out = Path(args.seg_out_dir) / kind
        infer_list(args, names, out, spec, root, model, norm, record)
        if kind == "test":
            distributed.barrier()
            if distributed.is_main():
                where = write_submission(args, names, out)
                print(f"make_seg: {len(names)} test masks in {where}; for the VOC server: tar -czf results.tgz -C "
                      f"{args.seg_out_dir} results")
