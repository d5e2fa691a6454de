"""Threshold-robustness report from whatever stages have run: a curve, tables, overlays and report.html.

Writes <result_dir>/report/: threshold_curve.png, summary.md, report.json, overlays/*.png, instances/*.png
and report.html.
"""
from __future__ import annotations

import json
from pathlib import Path

from dataset.spec import load_img_name_list
from misc import evaluation
from misc.fileio import atomic_open
from misc.settings import declared, flag_names, from_flags
from report import html
from report import seeds as seeds_report
from report.summary import (
    STAGES,
    ReportConfig,
    instance_markdown,
    load_records,
    mask_figures,
    plot_threshold_curve,
    regressions,
    summary_markdown,
    write_instance_overlays,
    write_overlays,
)
from step._config import DATA_FLAGS, data_config

# The flags this step reads, its own and those of the config objects it builds (misc/settings.py).
# (ReportConfig's spec and root come from the DataConfig, its other fields from flags of their names.)
SETTINGS = declared(DATA_FLAGS, [n for n in flag_names(ReportConfig) if n not in ("spec", "root")],
                    ("ir_label_out_dir", "num_workers", "train_list"))


def seeds_section(spread: dict) -> str:
    """The seeds' table under the report's own (a --seeds parent folder), and the band plot."""
    table = seeds_report.markdown(spread).replace("# Spread over seeds", "## Spread over seeds", 1)
    return "\n" + table + ("\n![threshold curves over seeds](seeds_threshold_band.png)\n" if spread["curves"] else "")


def run(args) -> Path:
    result_dir = Path(args.result_dir)
    out = result_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    records = load_records(result_dir)
    missing = [STAGES[s] for s in STAGES if s not in records and s != "seg_crf"]
    if missing:
        print(f"make_report: no results yet for {', '.join(missing)}; reporting the rest")
    data = data_config(args)
    spec, root = data.spec(), data.checked_root()
    cfg = from_flags(ReportConfig, args, spec=spec, root=data.root)
    has_gt = spec.has_ground_truth(root)
    if not has_gt:
        print(f"make_report: dataset {spec.name} has no ground truth; the report has overlays but no scores")
    names = data.eval_names() if has_gt else load_img_name_list(args.train_list)
    seeds, floods = mask_figures(cfg, {"CAM seeds": args.ir_label_out_dir, "AMN seeds": args.amn_ir_label_out_dir},
                                 names, args.num_workers) if has_gt else ({}, {})
    if any(s in records for s in ("cam", "amn_cam", "sem_seg")):
        plot_threshold_curve(records, out / "threshold_curve.png")
    ins = json.loads((result_dir / "ins_seg.json").read_text()) if (result_dir / "ins_seg.json").is_file() else None
    spread = seeds_report.load(result_dir)
    band = out / "seeds_threshold_band.png"
    if spread is not None and not seeds_report.plot_bands(spread, band):
        band = None
    with atomic_open(out / "summary.md", "w") as f:
        f.write(summary_markdown(records, seeds, missing, floods) + "\n".join(instance_markdown(ins)) + "\n"
                + (seeds_section(spread) if spread is not None else ""))
    evaluation.write_json(out / "report.json", {"stages": records, "seed_quality": seeds, "missing": missing,
                                                "instances": ins, "flooding_classes": floods,
                                                "warnings": regressions(records)})
    write_overlays(cfg, names, out / "overlays")
    instance_rows = write_instance_overlays(cfg, names, out / "instances")
    page = html.page_data(cfg, spec, root, {**records, **({"ins_seg": ins} if ins else {})}, names,
                          instance_rows)
    page["seeds"] = html.seeds_data(spread, band, out)
    html.write(out / "report.html", page)
    print(f"make_report: wrote {out} (open {out / 'report.html'})")
    return out
