"""Inference of the segmentation network on --seg_eval_list (and --seg_test_list): full-size logits with flip
and optional extra scales, then the masks before and after deeplab-pytorch's dense CRF.

Outputs under --seg_out_dir, per list (``eval/``, ``test/``): ``logit/<id>.npz`` (stride-8 logits),
``raw/<id>.png`` (argmax of the upsampled softmax) and ``crf/<id>.png``. For a VOC test list the masks are also
written as the evaluation server expects: ``results/VOC2012/Segmentation/comp6_test_cls/<id>.png``.
"""
from __future__ import annotations

import functools
from pathlib import Path

from tqdm import tqdm

from dataset import checks, registry
from dataset.datasets import SegmentationImages
from engine import devices, inference, planner, seg_inference
from misc import distributed
from misc.fileio import load_png, save_png
from misc.provenance import file_digest
from misc.settings import declared
from voc12.dataloader import voc_palette

# The flags this step reads: its own, and those of the engines it calls (misc/settings.py).
SETTINGS = declared(seg_inference.SETTINGS, checks.SETTINGS, (
    "overwrite", "seg_crf", "seg_crf_bi_rgb_std", "seg_crf_bi_w", "seg_crf_bi_xy_std", "seg_crf_iter_max",
    "seg_crf_pos_w", "seg_crf_pos_xy_std", "seg_eval_list", "seg_out_dir", "seg_test_list",
))

SUBMISSION_DIR = "results/VOC2012/Segmentation/comp6_test_cls"


def crf_params(args) -> dict:
    return {"iter_max": args.seg_crf_iter_max, "pos_w": args.seg_crf_pos_w, "pos_xy_std": args.seg_crf_pos_xy_std,
            "bi_w": args.seg_crf_bi_w, "bi_xy_std": args.seg_crf_bi_xy_std, "bi_rgb_std": args.seg_crf_bi_rgb_std}


def infer_list(args, names: list[str], out: Path, spec, root, build_model, norm: str, record: dict) -> None:
    """Logits for every pending image of ``names`` into ``out/logit``, then the raw and CRF masks."""
    logit_dir, raw_dir, crf_dir = out / "logit", out / "raw", out / "crf"
    folder, todo = planner.plan_outputs("make_seg logits", logit_dir, names, ".npz", record, args.overwrite)
    todo = devices.rank_share(todo)
    if todo:
        dataset = SegmentationImages([names[i] for i in todo], root, norm, spec=spec)
        inference_devices = devices.parse_devices(args.device)
        inference.run_on_devices(seg_inference.network_work, dataset, inference_devices,
                                 inference.WorkerSetup.from_args(args), build_model, args, str(logit_dir),
                                 len(inference_devices), folder.digest)
    distributed.barrier()
    upstream = planner.upstream_digest(logit_dir, names, ".npz", "make_seg")
    raw_folder, raw_todo = planner.plan_outputs("make_seg masks", raw_dir, names, ".png",
                                                {"step": "make_seg raw", "upstream": upstream}, args.overwrite)
    crf = crf_params(args) if args.seg_crf else None
    crf_folder, crf_todo = (planner.plan_outputs("make_seg CRF", crf_dir, names, ".png",
                                                 {"step": "make_seg crf", "crf": crf, "upstream": upstream},
                                                 args.overwrite) if crf else (None, []))
    raw_set, crf_set = set(raw_todo), set(crf_todo)
    pending = devices.rank_share(sorted(raw_set | crf_set))
    jobs = [(names[i], spec.image_source(root, names[i]), str(logit_dir / f"{names[i]}.npz"),
             str(raw_dir / f"{names[i]}.png") if i in raw_set else None,
             str(crf_dir / f"{names[i]}.png") if i in crf_set else None, crf,
             (raw_folder.digest, crf_folder.digest if crf_folder else None)) for i in pending]
    if jobs:
        inference.run_jobs(seg_inference.mask_job, jobs, "make_seg masks" + (" + CRF" if crf else ""),
                           args.num_workers)


def write_submission(args, names: list[str], out: Path) -> Path:
    """The test masks as the VOC server wants them: palette PNGs named <id>.png in comp6_test_cls/."""
    source = out / ("crf" if args.seg_crf else "raw")
    target = Path(args.seg_out_dir) / SUBMISSION_DIR
    target.mkdir(parents=True, exist_ok=True)
    for name in tqdm(names, desc="submission", dynamic_ncols=True):
        save_png(target / f"{name}.png", load_png(source / f"{name}.png"), palette=voc_palette())
    return target


def run(args) -> None:
    spec = registry.get_dataset(args)
    root = spec.check_root(registry.dataset_root(args))
    lists = [("eval", args.seg_eval_list)] + ([("test", args.seg_test_list)] if args.seg_test_list else [])
    named = []
    for kind, path in lists:
        names = checks.read_list(path, f"--seg_{kind}_list")
        checks.check_images(spec, root, names, f"--seg_{kind}_list {path}")
        named.append((kind, names))
    depth, norm, checkpoint = seg_inference.seg_model_settings(args)
    model = functools.partial(seg_inference.build_seg_model, spec.n_classes + 1, depth, str(checkpoint))
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
