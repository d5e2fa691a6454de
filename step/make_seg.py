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

from dataset import checks
from engine import seg_inference
from misc import distributed
from misc.fileio import load_png, save_png
from misc.provenance import file_digest
from misc.settings import declared
from step._config import DATA_FLAGS, INFERENCE_FLAGS, data_config, inference_config
from voc12.dataloader import voc_palette

# The flags this step reads, its own and those of the config objects it builds (misc/settings.py).
SETTINGS = declared(DATA_FLAGS, INFERENCE_FLAGS, (
    "seg_crf", "seg_crf_bi_rgb_std", "seg_crf_bi_w", "seg_crf_bi_xy_std", "seg_crf_iter_max", "seg_crf_labels",
    "seg_crf_pos_w",
    "seg_crf_pos_xy_std", "seg_depth", "seg_eval_list", "seg_flip", "seg_input_norm", "seg_out_dir",
    "seg_test_list", "seg_test_scales", "seg_weights_name",
))

SUBMISSION_DIR = "results/VOC2012/Segmentation/comp6_test_cls"


def crf_params(args) -> dict:
    params = {"iter_max": args.seg_crf_iter_max, "pos_w": args.seg_crf_pos_w, "pos_xy_std": args.seg_crf_pos_xy_std,
              "bi_w": args.seg_crf_bi_w, "bi_xy_std": args.seg_crf_bi_xy_std, "bi_rgb_std": args.seg_crf_bi_rgb_std}
    if args.seg_crf_labels != "all":  # the official CRF's record (and so its files' digests) stays as it was
        params["labels"] = args.seg_crf_labels
    return params


def write_submission(names: list[str], out: Path, crf: bool, seg_out_dir: str) -> Path:
    """The test masks (CRF ones with ``crf``) as the VOC server wants them: palette PNGs named <id>.png in
    <seg_out_dir>/results/VOC2012/Segmentation/comp6_test_cls/."""
    source = out / ("crf" if crf else "raw")
    target = Path(seg_out_dir) / SUBMISSION_DIR
    target.mkdir(parents=True, exist_ok=True)
    for name in tqdm(names, desc="submission", dynamic_ncols=True):
        save_png(target / f"{name}.png", load_png(source / f"{name}.png"), palette=voc_palette())
    return target


def run(args) -> None:
    data = data_config(args)
    spec = data.spec()
    root = spec.check_root(data.root)
    lists = [("eval", args.seg_eval_list)] + ([("test", args.seg_test_list)] if args.seg_test_list else [])
    named = []
    for kind, path in lists:
        names = checks.read_list(path, f"--seg_{kind}_list")
        checks.check_images(spec, root, names, f"--seg_{kind}_list {path}")
        named.append((kind, names))
    depth, norm, checkpoint = seg_inference.seg_model_settings(args.seg_weights_name, args.seg_depth,
                                                                args.seg_input_norm)
    model = functools.partial(seg_inference.build_seg_model, spec.n_classes + 1, depth, str(checkpoint))
    record = {"step": "make_seg", "dataset": spec.name, "checkpoint": file_digest(checkpoint),
              "input_norm": norm, "test_scales": list(args.seg_test_scales), "flip": args.seg_flip}
    print(f"make_seg: {checkpoint}, input normalisation {norm}, scales {list(args.seg_test_scales)}, "
          f"flip {args.seg_flip}, CRF {args.seg_crf}")
    for kind, names in named:
        out = Path(args.seg_out_dir) / kind
        seg_inference.run_seg_inference(seg_inference.SegTask(
            spec, root, names, out, model, norm, record, tuple(args.seg_test_scales), args.seg_flip,
            crf_params(args) if args.seg_crf else None), inference_config(args))
        if kind == "test":
            distributed.barrier()
            if distributed.is_main():
                where = write_submission(names, out, args.seg_crf, args.seg_out_dir)
                print(f"make_seg: {len(names)} test masks in {where}; for the VOC server: tar -czf results.tgz -C "
                      f"{args.seg_out_dir} results")
