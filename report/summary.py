"""The threshold-robustness report's pieces: the curve, the markdown tables, seed quality, flooding classes
and the overlay rows (make_report assembles them; ``report.html`` builds the page)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from dataset.spec import DatasetSpec, voc_palette
from misc.fileio import atomic_open, cam_path, load_cam, load_png


@dataclass(frozen=True)
class ReportConfig:
    """What the report reads, once (make_report builds it from the flags of the same names): the dataset's spec
    and root, every stage's output folder, the segmentation network's weights (for its metadata), how many
    images to show, and where the results and the run's metrics are."""

    spec: DatasetSpec
    root: str | None
    cam_out_dir: str
    amn_cam_out_dir: str
    amn_ir_label_out_dir: str
    sem_seg_out_dir: str
    ins_seg_out_dir: str
    seg_out_dir: str
    seg_weights_name: str
    report_images: int
    result_dir: str
    work_dir: str | None

STAGES = {"cam": "CAM", "amn_cam": "AMN CAM", "sem_seg": "final mask", "seg": "segmentation net",
          "seg_crf": "segmentation net + CRF"}
# The segmentation network is scored on its own list (val), not on the pseudo masks' images.
PSEUDO_MASK_STAGES = ("cam", "amn_cam", "sem_seg")
TILE = 160
TITLE_HEIGHT = 18
COLUMNS = ("image", "ground truth", "CAM", "AMN CAM", "AMN seed", "final mask")


def load_records(result_dir: Path) -> dict[str, dict]:
    """Every stage's eval record; seg.json's CRF scores become the stage seg_crf."""
    records = {s: json.loads((result_dir / f"{s}.json").read_text())
               for s in STAGES if (result_dir / f"{s}.json").is_file()}
    if "seg" in records and records["seg"].get("crf"):
        records["seg_crf"] = {**records["seg"]["crf"], "threshold": None, "eval_set": records["seg"]["eval_set"]}
    return records


def _at(rec: dict) -> str:
    """'mIoU @ threshold', or 'mIoU (on <list>)' for the segmentation network."""
    if rec.get("threshold") is None:
        return f"{_fmt(rec['miou'])} (on {Path(str(rec.get('eval_set', '?'))).name})"
    return f"{_fmt(rec['miou'])} @ {rec['threshold']:.2f}"


def plot_threshold_curve(records: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for stage, colour in (("cam", "tab:blue"), ("amn_cam", "tab:red")):
        rec = records.get(stage)
        if rec is None:
            continue
        sw = rec["sweep"]
        ax.plot(sw["thresholds"], [100 * m for m in sw["miou"]], color=colour, label=STAGES[stage])
        ax.plot([rec["threshold"]], [100 * rec["miou"]], "o", color=colour)
        ax.axvspan(sw["low"], sw["high"], color=colour, alpha=0.12)
    sem_seg = records.get("sem_seg")
    if sem_seg is not None and sem_seg.get("sweep"):
        sw = sem_seg["sweep"]
        ax.plot(sw["thresholds"], [100 * m for m in sw["miou"]], color="tab:green", label="final mask")
        ax.plot([sem_seg["threshold"]], [100 * sem_seg["miou"]], "o", color="tab:green")
        ax.axvspan(sw["low"], sw["high"], color="tab:green", alpha=0.12)
    elif sem_seg is not None:
        ax.axhline(100 * sem_seg["miou"], color="tab:green", ls="--", label="final mask")
    save_threshold_plot(fig, ax, "background threshold\n(dots: default thresholds; bands: within 1 point of the best)",
                        "mIoU against the background threshold", path)


def save_threshold_plot(fig, ax, xlabel: str, title: str, path: Path) -> None:
    """Label an mIoU-against-threshold plot the report's way and write it atomically as PNG."""
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel("mIoU (%)")
    ax.set_title(title, fontsize=12)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_open(path) as f:
        fig.savefig(f, format="png")
    plt.close(fig)


FLOOD_FILL, FLOOD_EXCESS = 0.5, 3.0


@dataclass(frozen=True)
class FigureSource:
    """What one image's report figures read (picklable, for pool workers): the ground truth, the seed folders
    in order and the final masks' folder."""

    spec: DatasetSpec
    root: str | None
    seed_dirs: tuple[str, ...]
    sem_seg_dir: str


def image_figures(source: FigureSource, name: str) -> tuple[list, list | None]:
    """One image's seed tallies ``(correct, confident, unsure, total)`` per seed folder (None where its file is
    missing) and its flooding classes (None without a final mask), from one read of each file."""
    gt = load_png(source.spec.gt_path(source.root, name))
    seeds = []
    for folder in source.seed_dirs:
        path = Path(folder) / f"{name}.png"
        if not path.is_file():
            seeds.append(None)
            continue
        seed = load_png(path)
        conf = (seed != 255) & (gt != 255)
        seeds.append((int((seed[conf] == gt[conf]).sum()), int(conf.sum()), int((seed == 255).sum()), seed.size))
    path = Path(source.sem_seg_dir) / f"{name}.png"
    if not path.is_file():
        return seeds, None
    mask = load_png(path)
    floods = [int(c) for c in np.unique(mask) if 0 < c <= source.spec.n_classes
              and (mask == c).mean() > FLOOD_FILL and (mask == c).sum() > FLOOD_EXCESS * max((gt == c).sum(), 1)]
    return seeds, floods


def folder_stamp(folder: str) -> list[int]:
    """The modification times of a folder and its subfolders: a file written, renamed into place or removed
    changes them, so a step that finished what a killed run left half done moves the stamp even though its
    record, and so the folder's digest, is the same."""
    stamps = []
    for here, _, _ in os.walk(folder):
        try:
            stamps.append(os.stat(here).st_mtime_ns)
        except OSError:
            continue
    return stamps


def mask_figures(cfg: ReportConfig, seed_dirs: dict[str, str], names: list[str],
                 workers: int = 1) -> tuple[dict, dict[str, int]]:
    """The seeds' quality per label (precision of the confident, non-255 pixels against the ground truth, and
    the 255 fraction; a folder missing any image is left out) and the flooding classes (final masks covering
    more than half an image and 3 x its ground truth there), over ``names`` in one pass of ``workers``
    processes. The figures are kept in
    ``<result_dir>/report/figures.json`` under the digest of the folders' records and the list, so a report
    whose inputs did not change reads no mask again."""
    from misc import parallel, provenance

    folders = {"seeds": {label: [d, provenance.current_digest(d), folder_stamp(d)] for label, d in seed_dirs.items()},
               "sem_seg": [cfg.sem_seg_out_dir, provenance.current_digest(cfg.sem_seg_out_dir),
                           folder_stamp(cfg.sem_seg_out_dir)]}
    key = provenance.record_digest({"folders": folders, "gt": cfg.spec.gt_location(cfg.root),
                                    "names": provenance.record_digest({"names": names}),
                                    "flood": [FLOOD_FILL, FLOOD_EXCESS]})
    cache = Path(cfg.result_dir) / "report" / "figures.json"
    try:
        kept = json.loads(cache.read_text())
        if kept.get("key") == key:
            return kept["seeds"], kept["floods"]
    except (OSError, ValueError, AttributeError):
        pass
    source = FigureSource(cfg.spec, cfg.root, tuple(seed_dirs.values()), cfg.sem_seg_out_dir)
    tallies = np.zeros((len(seed_dirs), 4), np.int64)
    complete = np.ones(len(seed_dirs), bool)
    floods: dict[str, int] = {}
    for seeds, flooded in parallel.imap_ordered(partial(image_figures, source), names, workers, "report figures"):
        for k, tally in enumerate(seeds):
            if tally is None:
                complete[k] = False
            else:
                tallies[k] += tally
        for c in flooded or ():
            floods[cfg.spec.class_names[c - 1]] = floods.get(cfg.spec.class_names[c - 1], 0) + 1
    quality = {label: {"precision": int(t[0]) / max(int(t[1]), 1), "ignored_fraction": int(t[2]) / int(t[3])}
               for label, t, ok in zip(seed_dirs, tallies, complete) if ok and t[3] > 0}
    with atomic_open(cache, "w") as f:
        json.dump({"key": key, "seeds": quality, "floods": floods}, f)
    return quality, floods


def _fmt(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def regressions(records: dict) -> list[str]:
    """A warning for every stage that scores below an earlier one (pipeline order)."""
    order = [s for s in PSEUDO_MASK_STAGES if s in records and records[s]["miou"] is not None]
    return [f"**Warning:** {STAGES[later]} ({_fmt(records[later]['miou'])}) scores below {STAGES[earlier]} "
            f"({_fmt(records[earlier]['miou'])})."
            for i, later in enumerate(order) for earlier in order[:i]
            if records[later]["miou"] < records[earlier]["miou"]]


def summary_markdown(records: dict, seeds: dict, missing: list[str], floods: dict | None = None) -> str:
    lines = ["# Threshold-robustness report", ""]
    if missing:
        lines += [f"Missing stages (not run yet): {', '.join(missing)}.", ""]
    warnings = regressions(records)
    if floods:
        warnings.append("**Warning:** final masks flood images where the ground truth has little of the class: " +
                        ", ".join(f"{c} ({n} image{'s' * (n > 1)})"
                                  for c, n in sorted(floods.items(), key=lambda x: -x[1])) +
                        " (the mask covers over half the image and over 3x the class's true area).")
    for warning in warnings:
        lines += [warning, ""]
    lines += ["| stage | mIoU at default threshold | best threshold | best mIoU | robust interval (within 1 point) |",
              "|---|---|---|---|---|"]
    for stage, rec in records.items():
        sw = rec.get("sweep")
        best = (f"{sw['best_threshold']:.2f}", _fmt(sw["best_miou"]),
                f"{sw['width']:.2f} ([{sw['low']:.2f}, {sw['high']:.2f}])") if sw else ("-", "-", "-")
        lines.append(f"| {STAGES[stage]} | {_at(rec)} | {' | '.join(best)} |")
    lines += ["", "## Per-class IoU (%)", "", "| class | " + " | ".join(STAGES[s] for s in records) + " |",
              "|---|" + "---|" * len(records)]
    classes = next(iter(records.values()))["per_class_iou"] if records else {}
    for c in classes:
        vals = [records[s]["per_class_iou"].get(c) for s in records]
        if any(v is not None for v in vals):
            lines.append(f"| {c} | " + " | ".join(_fmt(v) for v in vals) + " |")
    if seeds:
        lines += ["", "## Seed quality", "", "| seeds | precision of confident pixels | pixels marked 255 |",
                  "|---|---|---|"]
        lines += [f"| {k} | {_fmt(v['precision'])} | {_fmt(v['ignored_fraction'])} |" for k, v in seeds.items()]
    for stage, rec in records.items():
        if rec.get("worst_images"):
            lines += ["", f"## Worst images: {STAGES[stage]}", "", "| image | mIoU |", "|---|---|"]
            lines += [f"| {w['name']} | {_fmt(w['miou'])} |" for w in rec["worst_images"]]
    return "\n".join(lines) + "\n"


# overlays -------------------------------------------------------------------------

def _tile(arr: np.ndarray | None) -> np.ndarray:
    if arr is None:
        return np.full((TILE, TILE, 3), 128, np.uint8)
    return np.asarray(Image.fromarray(arr).resize((TILE, TILE), Image.NEAREST))


def _colour_mask(mask: np.ndarray) -> np.ndarray:
    return voc_palette()[mask]


def title_strip(width: int) -> np.ndarray:
    """A white strip with the column titles, one per tile."""
    from PIL import ImageDraw

    strip = Image.new("RGB", (width, TITLE_HEIGHT), "white")
    draw = ImageDraw.Draw(strip)
    for i, title in enumerate(COLUMNS):
        draw.text((i * TILE + 4, 3), title, fill="black")
    return np.asarray(strip)


def _heat(img: np.ndarray, cam_dir: str, name: str) -> np.ndarray | None:
    path = cam_path(cam_dir, name)
    if not path.is_file():
        return None
    import matplotlib

    cams = load_cam(path)["high_res"]
    heat = cams.max(0) if len(cams) else np.zeros(img.shape[:2], np.float32)
    rgb = (matplotlib.colormaps["jet"](np.clip(heat, 0, 1))[..., :3] * 255).astype(np.float32)
    return (0.5 * img + 0.5 * rgb).astype(np.uint8)


def _png_or_none(path: Path) -> np.ndarray | None:
    return _colour_mask(load_png(path)) if path.is_file() else None


def overlay_row(cfg: ReportConfig, name: str) -> np.ndarray:
    """Titled row: image | ground truth | CAM | AMN CAM | AMN seed | final mask, each TILE x TILE."""
    spec, root = cfg.spec, cfg.root
    img = spec.load_image(root, name)
    panels = [img, _png_or_none(spec.gt_path(root, name)),
              _heat(img, cfg.cam_out_dir, name), _heat(img, cfg.amn_cam_out_dir, name),
              _png_or_none(Path(cfg.amn_ir_label_out_dir) / f"{name}.png"),
              _png_or_none(Path(cfg.sem_seg_out_dir) / f"{name}.png")]
    row = np.concatenate([_tile(p) for p in panels], axis=1)
    return np.concatenate([title_strip(row.shape[1]), row], axis=0)


def _instance_colours(masks: np.ndarray, img: np.ndarray) -> np.ndarray:
    """Each instance in its own palette colour, blended over the image."""
    out = img.astype(np.float32) * 0.4
    palette = voc_palette()
    for k, m in enumerate(masks):
        out[m] = 0.4 * img[m] + 0.6 * palette[1 + k % 254]
    return out.astype(np.uint8)


def instance_row(cfg: ReportConfig, name: str) -> np.ndarray | None:
    """image | ground-truth instances | predicted instances, or None without predictions."""
    from postprocess.instance_scoring import instances_from_voc_pngs

    path = cam_path(cfg.ins_seg_out_dir, name)
    if not path.is_file():
        return None
    spec, root = cfg.spec, cfg.root
    img = spec.load_image(root, name)
    with np.load(path, allow_pickle=False) as data:
        pred = data["mask"]
    panels = [img, None, _instance_colours(pred, img)]
    if spec.has_instances(root) and spec.instance_path(root, name).is_file():
        gt, _ = instances_from_voc_pngs(load_png(spec.gt_path(root, name)), load_png(spec.instance_path(root, name)))
        panels[1] = _instance_colours(gt, img)
    return np.concatenate([_tile(p) for p in panels], axis=1)


def write_instance_overlays(cfg: ReportConfig, names: list[str], out_dir: Path) -> list[Path]:
    written = []
    for name in names[:cfg.report_images]:
        row = instance_row(cfg, name)
        if row is None:
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_open(out_dir / f"{name}.png") as f:
            Image.fromarray(row).save(f, format="PNG")
        written.append(out_dir / f"{name}.png")
    return written


def instance_markdown(record: dict | None) -> list[str]:
    if record is None:
        return []
    coco = record.get("coco") or {}
    lines = ["", "## Instance masks (VOC mAP at IoU 0.5; COCO mask AP)", "", f"VOC mAP@0.5 {_fmt(record['map'])}, "
             f"COCO AP {_fmt(coco.get('ap'))} (AP50 {_fmt(coco.get('ap50'))}, AP75 {_fmt(coco.get('ap75'))}) over "
             f"{record['n_images']} images; overlays in instances/ (image | ground truth | prediction).", "",
             "| class | VOC AP@0.5 | COCO AP |", "|---|---|---|"]
    per_class = coco.get("per_class", {})
    classes = [c for c in dict.fromkeys([*record["ap"], *per_class])
               if record["ap"].get(c) is not None or per_class.get(c) is not None]
    return lines + [f"| {c} | {_fmt(record['ap'].get(c))} | {_fmt(per_class.get(c))} |" for c in classes]


def write_overlays(cfg: ReportConfig, names: list[str], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names[:cfg.report_images]:
        path = out_dir / f"{name}.png"
        with atomic_open(path) as f:
            Image.fromarray(overlay_row(cfg, name)).save(f, format="PNG")
        written.append(path)
    return written
