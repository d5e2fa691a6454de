"""mIoU, per-class IoU and error rates of the final pseudo masks."""
from __future__ import annotations

from pathlib import Path

from misc import evaluation
from step import stage


def run(args) -> dict | None:
    targets = stage.eval_targets(args, "eval_sem_seg")
    if targets is None:
        return None
    spec, root, names = targets
    made_by = stage.upstream_digest(args.sem_seg_out_dir, names, ".png", "make_sem_seg")
    confusion, per_image = stage.score_masks(args.sem_seg_out_dir, names, spec, root, void_as_background=True)
    record = stage.evaluation_record(args, spec, root, "sem_seg", names, confusion, per_image)
    record.update(threshold=float(args.sem_seg_bg_thres), made_by={str(args.sem_seg_out_dir): made_by})
    print(evaluation.format_summary(record))
    rate = lambda k: "n/a" if record[k] is None else f"{record[k]:.4f}"  # noqa: E731
    print(f"background fp {rate('bg_fp')} fn {rate('bg_fn')}; foreground mean fp {rate('fg_fp')} fn {rate('fg_fn')}")
    evaluation.write_json(Path(args.result_dir) / "sem_seg.json", record)
    return record
