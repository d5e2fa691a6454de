"""Spread over seeds: mean, standard deviation, min and max of every evaluated stage, from run folders.

  python -m report.seeds work/seed_0 work/seed_1 other-machine/run [--out work]

Each folder is a run's result folder (its --work_dir or --result_dir) holding eval records (cam.json,
amn_cam.json, sem_seg.json, ins_seg.json, seg.json). ``run_sample.py --seeds 0,1,2 --work_dir W`` runs the
steps once per seed into W/seed_<k>/ and calls this on them. A folder without any record, or one whose run
failed, is reported as failed and left out of the statistics. The standard deviation is the sample one
(n - 1), as papers that report "mean +- std over seeds" use.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from misc.fileio import atomic_open
from report.summary import save_threshold_plot

SEEDS_JSON, SEEDS_MD = "seeds.json", "seeds.md"
SWEPT = {"cam": "CAM", "amn_cam": "AMN CAM", "sem_seg": "final masks"}
STAGE_NAMES = {**SWEPT, "ins_seg": "instances", "seg": "segmentation network"}
METRICS = {"miou": "mIoU at the default threshold", "best_miou": "best mIoU", "best_threshold": "best threshold",
           "width": "robust band width", "crf_miou": "mIoU after CRF", "map": "VOC mAP@0.5", "coco_ap": "COCO mask AP"}
PERCENT = {"miou", "best_miou", "crf_miou", "map", "coco_ap"}


def stage_figures(stage: str, rec: dict) -> dict[str, float | None]:
    """The figures of one eval record that the spread is taken of."""
    if stage in SWEPT:
        sw = rec.get("sweep") or {}
        return {"miou": rec.get("miou"), "best_miou": sw.get("best_miou"), "best_threshold": sw.get("best_threshold"),
                "width": sw.get("width")}
    if stage == "seg":
        return {"miou": rec.get("miou"), "crf_miou": (rec.get("crf") or {}).get("miou")}
    return {"map": rec.get("map"), "coco_ap": (rec.get("coco") or {}).get("ap")}


def folder_figures(folder: Path) -> dict[str, dict[str, float | None]]:
    """Every stage's figures in a result folder (stages without a record are absent)."""
    out = {}
    for stage in STAGE_NAMES:
        path = folder / f"{stage}.json"
        if path.is_file():
            out[stage] = stage_figures(stage, json.loads(path.read_text()))
    return out


def folder_curves(folder: Path) -> dict[str, dict[str, list[float]]]:
    """The threshold curve (thresholds, mIoU) of every swept stage in a result folder."""
    curves = {}
    for stage in SWEPT:
        path = folder / f"{stage}.json"
        sw = json.loads(path.read_text()).get("sweep") if path.is_file() else None
        if sw:
            curves[stage] = {"thresholds": sw["thresholds"], "miou": sw["miou"]}
    return curves


def last_error(folder: Path) -> str | None:
    """The last ``error:`` line of the folder's run.log, if any."""
    log = folder / "run.log"
    if not log.is_file():
        return None
    errors = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.startswith("error:")]
    return errors[-1] if errors else None


def spread(values: Sequence[float]) -> dict[str, float | int | None]:
    """mean, sample standard deviation (None for one value), min, max and n of ``values``."""
    arr = np.asarray(values, np.float64)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else None,
            "min": float(arr.min()), "max": float(arr.max()), "n": int(len(arr))}


def curve_band(curves: list[dict[str, list[float]]]) -> dict[str, list[float]] | None:
    """Mean, min and max mIoU per threshold over runs that swept the same thresholds (None if they differ)."""
    if not curves or any(c["thresholds"] != curves[0]["thresholds"] for c in curves):
        return None
    m = np.asarray([c["miou"] for c in curves], np.float64)
    return {"thresholds": curves[0]["thresholds"], "mean": m.mean(0).tolist(), "min": m.min(0).tolist(),
            "max": m.max(0).tolist()}


def summarize(runs: Sequence[tuple[str, Path, str | None]]) -> dict:
    """The seeds summary of ``(label, folder, failure or None)`` runs: per-run figures and status, and per stage
    and metric the spread over the runs that succeeded and have that figure."""
    table, good = [], []
    for label, folder, failure in runs:
        figures = folder_figures(folder) if folder.is_dir() else {}
        failure = failure or (None if figures else (last_error(folder) or "no eval record"))
        table.append({"run": label, "folder": str(folder), "status": "failed" if failure else "ok",
                      **({"error": failure} if failure else {}), "figures": figures})
        if not failure:
            good.append((folder, figures))
    stages = {}
    for stage in STAGE_NAMES:
        per_metric = {}
        for metric in METRICS:
            vals = [f[stage][metric] for _, f in good if stage in f and f[stage].get(metric) is not None]
            if vals and all(math.isfinite(v) for v in vals):
                per_metric[metric] = spread(vals)
        if per_metric:
            stages[stage] = per_metric
    bands = {s: b for s in SWEPT
             if (b := curve_band([c[s] for c in (folder_curves(f) for f, _ in good) if s in c])) is not None}
    return {"runs": table, "stages": stages, "curves": bands,
            "n_ok": len(good), "n_failed": len(table) - len(good)}


def metric_name(stage: str, metric: str) -> str:
    """A figure's name in the tables (the segmentation network has no threshold: its mIoU is before the CRF)."""
    return "mIoU before CRF" if (stage, metric) == ("seg", "miou") else METRICS[metric]


def _cell(metric: str, s: dict) -> str:
    scale = 100 if metric in PERCENT else 1
    digits = 1 if metric in PERCENT else 2
    std = "" if s["std"] is None else f" ± {scale * s['std']:.{digits}f}"
    return f"{scale * s['mean']:.{digits}f}{std} [{scale * s['min']:.{digits}f}, {scale * s['max']:.{digits}f}]"


def _value(metric: str, v: float | None) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.1f}" if metric in PERCENT else f"{v:.2f}"


def markdown(summary: dict) -> str:
    """The seeds table: per stage and metric mean ± std [min, max], then every run's own figures."""
    lines = ["# Spread over seeds", "",
             f"{summary['n_ok']} runs succeeded, {summary['n_failed']} failed (left out of the statistics). "
             "Figures in % (thresholds and band widths as they are); mean ± sample std [min, max].", "",
             "| stage | figure | mean ± std [min, max] |", "|---|---|---|"]
    for stage, metrics in summary["stages"].items():
        lines += [f"| {STAGE_NAMES[stage]} | {metric_name(stage, m)} | {_cell(m, s)} |" for m, s in metrics.items()]
    lines += ["", "## Per run", "", "| run | status | " + " | ".join(
        f"{STAGE_NAMES[s]} {metric_name(s, m)}" for s, ms in summary["stages"].items() for m in ms) + " |",
        "|---|---|" + "---|" * sum(len(ms) for ms in summary["stages"].values())]
    for run in summary["runs"]:
        cells = [_value(m, run["figures"].get(s, {}).get(m)) if run["status"] == "ok" else "-"
                 for s, ms in summary["stages"].items() for m in ms]
        status = "ok" if run["status"] == "ok" else f"failed: {run.get('error', '')}".replace("|", "/")
        lines.append(f"| {run['run']} | {status} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_bands(summary: dict, path: Path) -> bool:
    """The threshold curves' spread: each swept stage's mean curve and its min-max band; False if none."""
    if not summary["curves"]:
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for (stage, band), colour in zip(summary["curves"].items(), ("tab:blue", "tab:red", "tab:green")):
        t = band["thresholds"]
        ax.plot(t, [100 * m for m in band["mean"]], color=colour, label=f"{SWEPT[stage]} (mean)")
        ax.fill_between(t, [100 * m for m in band["min"]], [100 * m for m in band["max"]], color=colour, alpha=0.2)
    save_threshold_plot(fig, ax, f"background threshold (bands: min to max over {summary['n_ok']} runs)",
                        "mIoU against the background threshold, over seeds", path)
    return True


def load(folder: Path) -> dict | None:
    """The seeds summary a --seeds run wrote into ``folder``, or None."""
    path = Path(folder) / SEEDS_JSON
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def write(summary: dict, out_dir: Path) -> None:
    """seeds.json, seeds.md and seeds_threshold_band.png into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_dir / SEEDS_JSON, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    with atomic_open(out_dir / SEEDS_MD, "w", encoding="utf-8") as f:
        f.write(markdown(summary))
    plot_bands(summary, out_dir / "seeds_threshold_band.png")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", help="run folders (each a --work_dir or --result_dir with eval records)")
    p.add_argument("--out", default=None, help="where seeds.json and seeds.md go (default: print the table only)")
    a = p.parse_args(argv)
    missing = [f for f in a.folders if not Path(f).is_dir()]
    if missing:
        sys.exit(f"error: {missing[0]} is not a folder")
    summary = summarize([(Path(f).name or f, Path(f), None) for f in a.folders])
    print(markdown(summary), end="")
    if a.out:
        write(summary, Path(a.out))
        print(f"wrote {Path(a.out) / SEEDS_JSON} and {Path(a.out) / SEEDS_MD}")


if __name__ == "__main__":
    main()
