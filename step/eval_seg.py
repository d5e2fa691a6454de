"""mIoU of the segmentation network on --seg_eval_list, before and after the dense CRF -> result/seg.json."""
from __future__ import annotations

from pathlib import Path

from dataset import checks
from engine import eval_runs, planner
from misc import evaluation
from misc.settings import declared
from postprocess import scoring
from report import paper
from step._config import DATA_FLAGS, EVAL_FLAGS, data_config, eval_config

# The flags this step reads: its own, and those of the engines it calls (misc/settings.py).
SETTINGS = declared(DATA_FLAGS, (
    "result_dir", "seg_crf", "seg_eval_list", "seg_out_dir",
), EVAL_FLAGS)


def run(args) -> dict | None:
    targets = checks.eval_targets(data_config(args), "eval_seg", args.seg_eval_list, "--seg_eval_list")
    if targets is None:
        return None
    spec, root, names = targets
    run_config = eval_config(args)
    out = Path(args.seg_out_dir) / "eval"
    made_by = {str(out / "raw"): planner.upstream_digest(out / "raw", names, ".png", "make_seg")}
    if args.seg_crf:
        made_by[str(out / "crf")] = planner.upstream_digest(out / "crf", names, ".png", "make_seg")
    path = Path(args.result_dir) / "seg.json"
    digest = eval_runs.inputs_digest(names, made_by, {"stage": "seg", "dataset": spec.name,
                                                      "crf": bool(args.seg_crf), "gt": spec.gt_location(root)})
    reused = eval_runs.current_result(path, digest, run_config, "eval_seg")
    if reused is not None:
        print(evaluation.format_summary(reused))
        return reused
    confusion, per_image = scoring.score_masks(out / "raw", names, spec, root, workers=run_config.num_workers)
    record = scoring.evaluation_record(args.chainer_eval_set, spec, root, "seg", names, confusion, per_image)
    record.update(eval_set=str(args.seg_eval_list), threshold=None, made_by=made_by)
    print("segmentation network, before CRF: " + evaluation.format_summary(record))
    if args.seg_crf:
        crf_conf, _ = scoring.score_masks(out / "crf", names, spec, root, workers=run_config.num_workers)
        record["crf"] = evaluation.summarize(crf_conf, spec.class_names)
        print("segmentation network, after CRF: " + evaluation.format_summary(record["crf"]))
    if args.seg_crf:
        paper.print_beside({**record, **record["crf"]}, "seg_crf")
    eval_runs.write_result(path, record, digest)
    return record
