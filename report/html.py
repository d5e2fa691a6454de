"""``<result_dir>/report/report.html``: the threshold report as one self-contained page.

Images and data are inline (PNG/JPEG data URIs, one JSON object) and its script is written here, so the page
opens from disk in any browser and loads nothing (a Content-Security-Policy forbids any other source). A slider
(``id="threshold"``, initial value from ``report.html#t=0.40``) sets the background threshold: each swept stage's
``id="miou-<stage>"`` shows its mIoU there (from the eval records' sweeps), the curves mark it, and the image
browser recomputes the CAM and AMN masks from each image's best-class score and label, stored as two 8-bit
PNGs.
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from misc.experiment import run_folder
from misc.fileio import atomic_open, cam_path, load_cam, load_png
from report.summary import ReportConfig

SWEPT = ("cam", "amn_cam", "sem_seg")
NAMES = {"cam": "CAM", "amn_cam": "AMN CAM", "sem_seg": "final mask", "seg": "segmentation net",
         "seg_crf": "segmentation net + CRF"}
COLOURS = {"cam": "#1f77b4", "amn_cam": "#d62728", "sem_seg": "#2ca02c"}
THUMB = 192


def data_uri(array: np.ndarray, fmt: str = "PNG", palette: np.ndarray | None = None) -> str:
    img = Image.fromarray(array)
    if palette is not None:
        img = img.convert("P")
        img.putpalette(palette.astype(np.uint8).reshape(-1).tolist())
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def thumb_size(h: int, w: int) -> tuple[int, int]:
    scale = min(1.0, THUMB / max(h, w))
    return max(int(round(w * scale)), 1), max(int(round(h * scale)), 1)


def _resize(array: np.ndarray, size: tuple[int, int], nearest: bool) -> np.ndarray:
    return np.asarray(Image.fromarray(array).resize(size, Image.NEAREST if nearest else Image.BILINEAR))


def cam_layers(path: Path, size: tuple[int, int]) -> dict | None:
    """An image's best foreground score (0..255) and its label (1..C) at thumbnail size, as PNG data URIs."""
    if not path.is_file():
        return None
    cam = load_cam(path)
    maps, keys = cam["high_res"], cam["keys"] + 1
    if len(keys) == 0:
        score = np.zeros(maps.shape[1:], np.uint8)
        label = np.zeros(maps.shape[1:], np.uint8)
    else:
        score = np.clip(np.round(maps.max(0) * 255), 0, 255).astype(np.uint8)
        label = keys[maps.argmax(0)].astype(np.uint8)
    return {"score": data_uri(_resize(score, size, nearest=False)), "label": data_uri(_resize(label, size, True))}


def _thumbnail_row(spec, root, name: str, masks: dict[str, Path], palette: np.ndarray) -> tuple[dict, tuple]:
    """A browser row's image and whichever of ``masks`` exist, thumbnail-sized; also the thumbnail size."""
    img = spec.load_image(root, name)
    size = thumb_size(*img.shape[:2])
    row = {"name": name, "width": size[0], "height": size[1],
           "image": data_uri(_resize(img, size, nearest=False), "JPEG")}
    for key, path in masks.items():
        if path.is_file():
            row[key] = data_uri(_resize(load_png(path), size, nearest=True), palette=palette)
    return row, size


def image_row(cfg: ReportConfig, spec, root, name: str, palette: np.ndarray) -> dict:
    """One row of the image browser: the image, the fixed masks and the CAM/AMN layers, thumbnail-sized."""
    row, size = _thumbnail_row(spec, root, name, {
        "gt": spec.gt_path(root, name), "seed": Path(cfg.amn_ir_label_out_dir) / f"{name}.png",
        "final": Path(cfg.sem_seg_out_dir) / f"{name}.png",
        "seg": Path(cfg.seg_out_dir) / "eval" / "crf" / f"{name}.png"}, palette)
    for key, folder in (("cam", cfg.cam_out_dir), ("amn_cam", cfg.amn_cam_out_dir)):
        layers = cam_layers(cam_path(folder, name), size)
        if layers:
            row[key] = layers
    return row


def segmentation_row(cfg: ReportConfig, spec, root, name: str, palette: np.ndarray) -> dict:
    """One row of the segmentation network's browser (its own eval list): image, ground truth, raw and CRF masks."""
    masks = Path(cfg.seg_out_dir) / "eval"
    return _thumbnail_row(spec, root, name, {"gt": spec.gt_path(root, name), "raw": masks / "raw" / f"{name}.png",
                                             "crf": masks / "crf" / f"{name}.png"}, palette)[0]


def browser_names(records: dict, names: list[str], limit: int) -> list[str]:
    """Worst images first (by the final masks' per-image mIoU, else AMN's or CAM's), then the list's order."""
    for stage in ("sem_seg", "amn_cam", "cam"):
        if stage in records:
            worst = [w["name"] for w in records[stage].get("worst_images", [])]
            return (worst + [n for n in names if n not in worst])[:limit]
    return names[:limit]


def training_curves(folder: Path) -> dict[str, list]:
    """Per training step, (iteration, loss terms) from metrics.jsonl, if the run wrote one."""
    path = folder / "metrics.jsonl"
    curves: dict[str, list] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            terms = {k: v for k, v in rec.items() if k not in ("step", "epoch", "iteration", "total", "images_per_s",
                                                                "eta_s", "peak_mb", "time", "lr")
                     and isinstance(v, (int, float)) and not k.startswith("val_")}
            if terms:
                curves.setdefault(rec["step"], []).append({"iteration": rec["iteration"], **terms})
    return curves


def page_data(cfg: ReportConfig, spec, root, records: dict, names: list[str], instances: list[Path]) -> dict:
    palette = spec.palette()
    classes = ["background", *spec.class_names]
    rows = [image_row(cfg, spec, root, n, palette) for n in browser_names(records, names, cfg.report_images)]
    folder = run_folder(cfg.work_dir, cfg.result_dir)
    meta = Path(f"{cfg.seg_weights_name}.json")
    seg_iterations = json.loads(meta.read_text()).get("iterations") if meta.is_file() and "seg" in records else None
    seg_names = [w["name"] for w in records.get("seg", {}).get("worst_images", [])][:cfg.report_images]
    return {"seg_iterations": seg_iterations,
            "seg_rows": [segmentation_row(cfg, spec, root, n, palette) for n in seg_names],"records": {k: {key: v.get(key) for key in ("miou", "threshold", "sweep", "per_class_iou", "eval_set",
                                                         "n_images", "confusion", "map", "coco")}
                        for k, v in records.items()},
            "classes": classes, "palette": palette[:len(classes)].tolist(), "rows": rows,
            "curves": training_curves(folder),
            "instances": [data_uri(np.asarray(Image.open(p).convert("RGB")), "JPEG") for p in instances]}


def seeds_data(summary: dict | None, band_png: Path | None, page_dir: Path) -> dict | None:
    """The page's view of a seeds summary: the spread table, every run's status with a link to its own report
    (relative to ``page_dir``, where this page is written) and the band plot."""
    if summary is None:
        return None
    import os

    from report import seeds as seeds_report

    def run_row(r: dict) -> dict:
        page = Path(r.get("folder") or "") / "report" / "report.html"
        link = os.path.relpath(page, page_dir) if r.get("folder") and page.is_file() else None
        return {**{k: r.get(k) for k in ("run", "status", "error")}, "report": link}

    band = data_uri(np.asarray(Image.open(band_png).convert("RGB"))) if band_png and band_png.is_file() else None
    return {"stages": summary["stages"], "runs": [run_row(r) for r in summary["runs"]],
            "names": seeds_report.STAGE_NAMES, "metrics": seeds_report.METRICS,
            "percent": sorted(seeds_report.PERCENT), "band": band}


def write(path: Path, data: dict) -> Path:
    text = TEMPLATE.replace("__DATA__", json.dumps(data).replace("</", "<\\/"))
    with atomic_open(path, "w") as f:
        f.write(text)
    return path


TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; img-src data: blob:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>AMN threshold report</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f3f3f3}.l{text-align:left}#slider{position:sticky;top:0;background:#fff;padding:.5em 0;z-index:2}
.row{display:flex;gap:4px;margin:6px 0;align-items:flex-start}.row figure{margin:0}.row figcaption{font-size:11px}
canvas,img{image-rendering:auto}.legend span{display:inline-block;margin:0 8px 4px 0}
.sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:3px;border:1px solid #888}
</style></head><body>
<h1>AMN threshold report</h1>
<div id="slider"><label>background threshold <input type="range" id="threshold" min="0" max="0.6" step="0.01"
 value="0.25"> <b id="tvalue">0.25</b></label> &nbsp; <span id="mious"></span></div>
<h2>Stages</h2><table id="stages"></table><p id="segnote"></p>
<h2>Threshold curves</h2><p>mIoU against the background threshold; dots: each stage's default; bands: the
thresholds within 1 point of the best (the robustness the paper is about); the grey line: the slider.</p>
<div id="curves"></div><h3>Per class</h3><select id="cls"></select><div id="classcurves"></div>
<h2>Images (worst first)</h2><div class="legend" id="legend"></div><div id="rows"></div>
<h2>Segmentation network on its own list (worst first)</h2><div id="segrows"></div>
<h2>Confusion of the final masks</h2><p>rows: ground truth, columns: prediction, % of the row.</p>
<div id="confusion"></div><h2>Training curves</h2><div id="training"></div>
<h2>Instances</h2><div id="instances"></div>
<h2>Spread over seeds</h2><div id="seeds"></div>
<script>
const D = __DATA__;
const SW = ["cam", "amn_cam", "sem_seg"].filter(s => D.records[s] && D.records[s].sweep);
const NAME = {cam: "CAM", amn_cam: "AMN CAM", sem_seg: "final mask", seg: "segmentation net",
  seg_crf: "segmentation net + CRF", ins_seg: "instances"};
const COL = {cam: "#1f77b4", amn_cam: "#d62728", sem_seg: "#2ca02c"};
const pct = v => v === null || v === undefined ? "-" : (100 * v).toFixed(1);
function nearest(sw, t) { let k = 0; sw.thresholds.forEach((x, i) => { if (Math.abs(x - t) < Math.abs(sw.thresholds[k] - t)) k = i; }); return k; }
function el(tag, attrs, text) { const e = document.createElement(tag); Object.assign(e, attrs || {}); if (text !== undefined) e.textContent = text; return e; }
function stages() {
  const t = document.getElementById("stages");
  t.innerHTML = "<tr><th class=l>stage</th><th>mIoU</th><th>at threshold</th><th>best</th><th>robust width</th></tr>";
  for (const [k, r] of Object.entries(D.records)) {
    const sw = r.sweep, tr = el("tr");
    const main = k === "ins_seg" ? `VOC AP50 ${pct(r.map)}, COCO AP ${pct(r.coco && r.coco.ap)}` : pct(r.miou);
    [NAME[k] || k, main, r.threshold === null || r.threshold === undefined ? (r.eval_set || "") : r.threshold.toFixed(2),
     sw ? `${pct(sw.best_miou)} @ ${sw.best_threshold.toFixed(2)}` : "-", sw ? sw.width.toFixed(2) : "-"]
      .forEach((v, i) => tr.appendChild(el("td", {className: i ? "" : "l"}, v)));
    t.appendChild(tr);
  }
  if (!Object.keys(D.records).length) document.getElementById("segnote").textContent = D.seeds ?
    "No stage ran in this folder itself: it holds one run per seed; see the spread over seeds below and each seed's own report." :
    "No stage has been evaluated yet.";
  if (D.seg_iterations) document.getElementById("segnote").textContent = `The segmentation network trained ${D.seg_iterations} ` +
    "iterations here; the recipe trains 30,000 (VOC) or 100,000 (COCO) on a GPU, so a short run's score says nothing of what it reaches.";
}
function svgPlot(series, w, h, ymin, ymax, xmax) {
  const x = v => 40 + (w - 50) * v / xmax, y = v => h - 25 - (h - 35) * (v - ymin) / (ymax - ymin || 1);
  let s = `<svg width="${w}" height="${h}" font-size="10">`;
  s += `<line x1="40" y1="${h - 25}" x2="${w - 10}" y2="${h - 25}" stroke="#888"/><line x1="40" y1="10" x2="40" y2="${h - 25}" stroke="#888"/>`;
  for (let k = 0; k <= 4; k++) { const v = ymin + (ymax - ymin) * k / 4; s += `<text x="2" y="${y(v) + 3}">${v.toFixed(1)}</text>`; }
  s += `<text x="${w - 40}" y="${h - 5}">${xmax}</text><text x="36" y="${h - 5}">0</text>`;
  for (const sr of series) {
    if (sr.band) s += `<rect x="${x(sr.band[0])}" y="10" width="${Math.max(x(sr.band[1]) - x(sr.band[0]), 1)}" height="${h - 35}" fill="${sr.colour}" opacity="0.12"/>`;
    s += `<polyline fill="none" stroke="${sr.colour}" stroke-width="1.5" points="${sr.xs.map((v, i) => x(v) + "," + y(sr.ys[i])).join(" ")}"/>`;
    if (sr.dot) s += `<circle cx="${x(sr.dot[0])}" cy="${y(sr.dot[1])}" r="3.5" fill="${sr.colour}"/>`;
    if (sr.label) s += `<text x="${x(sr.xs[sr.xs.length - 1]) - 60}" y="${y(sr.ys[sr.ys.length - 1]) - 4}" fill="${sr.colour}">${sr.label}</text>`;
  }
  return s + `<line class="cursor" x1="0" x2="0" y1="10" y2="${h - 25}" stroke="#555" data-x0="40" data-w="${w - 50}" data-xmax="${xmax}"/></svg>`;
}
function curves() {
  const all = SW.map(s => D.records[s].sweep.miou).flat().map(v => 100 * v);
  const lo = Math.floor(Math.min(...all) / 5) * 5, hi = Math.ceil(Math.max(...all) / 5) * 5;
  document.getElementById("curves").innerHTML = SW.length ? svgPlot(SW.map(s => { const r = D.records[s];
    return {xs: r.sweep.thresholds, ys: r.sweep.miou.map(v => 100 * v), colour: COL[s], band: [r.sweep.low, r.sweep.high],
      dot: [r.threshold, 100 * r.miou], label: NAME[s]}; }), 640, 300, lo, hi, 0.6) : "no swept stage yet";
  const sel = document.getElementById("cls");
  D.classes.forEach((c, i) => sel.appendChild(el("option", {value: i}, c)));
  sel.onchange = classCurves; classCurves();
}
function classIou(conf, c) { let tp = conf[c][c], row = 0, col = 0; for (let j = 0; j < conf.length; j++) { row += conf[c][j]; col += conf[j][c]; } const u = row + col - tp; return u ? 100 * tp / u : null; }
function classCurves() {
  const c = +document.getElementById("cls").value;
  const series = SW.filter(s => D.records[s].sweep.per_class).map(s => { const sw = D.records[s].sweep;
    return {xs: sw.thresholds, ys: sw.per_class.map(v => v[c] === null ? 0 : 100 * v[c]), colour: COL[s], label: NAME[s]}; });
  document.getElementById("classcurves").innerHTML = series.length ? svgPlot(series, 640, 240, 0, 100, 0.6) : "";
}
function colourise(ctx, w, h, getLabel) {
  const out = ctx.createImageData(w, h);
  for (let p = 0; p < w * h; p++) { const c = D.palette[getLabel(p)] || [0, 0, 0]; out.data.set([c[0], c[1], c[2], 255], 4 * p); }
  ctx.putImageData(out, 0, 0);
}
const PIXELS = new Map();
function pixels(uri, w, h) {
  if (PIXELS.has(uri)) return Promise.resolve(PIXELS.get(uri));
  return new Promise(res => { const im = new Image(); im.onload = () => { const c = el("canvas", {width: w, height: h});
    const x = c.getContext("2d"); x.drawImage(im, 0, 0, w, h); const d = x.getImageData(0, 0, w, h).data; PIXELS.set(uri, d); res(d); }; im.src = uri; });
}
async function drawMasks(t) {
  for (const cv of document.querySelectorAll("canvas.thr")) {
    const row = D.rows[+cv.dataset.row], layers = row[cv.dataset.stage];
    const [score, label] = await Promise.all([pixels(layers.score, row.width, row.height), pixels(layers.label, row.width, row.height)]);
    colourise(cv.getContext("2d"), row.width, row.height, p => score[4 * p] > 255 * t ? label[4 * p] : 0);
  }
}
function rows() {
  const lg = document.getElementById("legend");
  D.classes.forEach((c, i) => { const s = el("span"); const b = el("span", {className: "sw"}); b.style.background = `rgb(${D.palette[i]})`; s.appendChild(b); s.append(c); lg.appendChild(s); });
  const box = document.getElementById("rows");
  D.rows.forEach((r, i) => {
    const div = el("div", {className: "row"}); div.appendChild(el("div", {}, r.name));
    const fig = (caption, node) => { const f = el("figure"); f.appendChild(node); f.appendChild(el("figcaption", {}, caption)); div.appendChild(f); };
    fig("image", el("img", {src: r.image, width: r.width, height: r.height}));
    if (r.gt) fig("ground truth", el("img", {src: r.gt, width: r.width, height: r.height}));
    for (const s of ["cam", "amn_cam"]) if (r[s]) { const c = el("canvas", {width: r.width, height: r.height, className: "thr"}); c.dataset.row = i; c.dataset.stage = s; fig(NAME[s] + " at the slider", c); }
    for (const [k, cap] of [["seed", "AMN seed"], ["final", "final mask"], ["seg", "segmentation net + CRF"]]) if (r[k]) fig(cap, el("img", {src: r[k], width: r.width, height: r.height}));
    box.appendChild(div);
  });
}
function segRows() {
  const box = document.getElementById("segrows");
  if (!D.seg_rows || !D.seg_rows.length) { box.textContent = "no segmentation network results yet"; return; }
  for (const r of D.seg_rows) {
    const div = el("div", {className: "row"}); div.appendChild(el("div", {}, r.name));
    for (const [k, cap] of [["image", "image"], ["gt", "ground truth"], ["raw", "segmentation net"], ["crf", "+ CRF"]])
      if (r[k]) { const f = el("figure"); f.appendChild(el("img", {src: r[k], width: r.width, height: r.height})); f.appendChild(el("figcaption", {}, cap)); div.appendChild(f); }
    box.appendChild(div);
  }
}
function confusion() {
  const r = D.records.sem_seg; if (!r || !r.confusion) return;
  const t = el("table"), head = el("tr"); head.appendChild(el("th", {}, "gt \\\\ pred"));
  // only the classes that occur in the ground truth or the masks
  const shown = D.classes.map((_, j) => j).filter(j => r.confusion[j].some(v => v) || r.confusion.some(row => row[j]));
  shown.forEach(j => head.appendChild(el("th", {}, D.classes[j].slice(0, 5)))); t.appendChild(head);
  r.confusion.forEach((row, i) => { const sum = row.reduce((a, b) => a + b, 0); if (!sum) return; const tr = el("tr"); tr.appendChild(el("th", {className: "l"}, D.classes[i]));
    shown.forEach(j => { const v = row[j], td = el("td", {}, (100 * v / sum).toFixed(0)); td.style.background = `rgba(44,160,44,${v / sum})`; tr.appendChild(td); }); t.appendChild(tr); });
  document.getElementById("confusion").appendChild(t);
}
function training() {
  const box = document.getElementById("training"); const steps = Object.entries(D.curves);
  if (!steps.length) { box.textContent = "no metrics.jsonl in this run folder (training ran elsewhere or before it existed)"; return; }
  for (const [step, pts] of steps) { const keys = Object.keys(pts[0]).filter(k => k !== "iteration"); const xs = pts.map(p => p.iteration);
    const ys = keys.map(k => pts.map(p => p[k])); const flat = ys.flat(); const colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];
    box.insertAdjacentHTML("beforeend", `<h3>${step}</h3>` + svgPlot(keys.map((k, i) => ({xs, ys: ys[i], colour: colours[i % 5], label: k})), 640, 200, Math.min(...flat), Math.max(...flat), Math.max(...xs))); }
}
function instances() {
  const box = document.getElementById("instances"), r = D.records.ins_seg;
  if (r) box.appendChild(el("p", {}, `VOC mAP@0.5 ${pct(r.map)}; COCO mask AP ${pct(r.coco && r.coco.ap)}, AP50 ${pct(r.coco && r.coco.ap50)}, AP75 ${pct(r.coco && r.coco.ap75)} (image | ground truth | prediction)`));
  if (!r && !D.instances.length) box.textContent = "no instance results yet (make_ins_seg, eval_ins_seg)";
  D.instances.forEach(uri => { box.appendChild(el("img", {src: uri})); box.appendChild(el("br")); });
}
function setThreshold(t) {
  t = Math.min(0.6, Math.max(0, t));
  const slider = document.getElementById("threshold"); slider.value = t.toFixed(2); slider.setAttribute("value", t.toFixed(2));
  document.getElementById("tvalue").textContent = t.toFixed(2);
  const box = document.getElementById("mious"); box.innerHTML = "";
  for (const s of SW) { const sw = D.records[s].sweep; const span = el("span", {}, ` ${NAME[s]} `); const b = el("b", {id: "miou-" + s}, pct(sw.miou[nearest(sw, t)])); span.appendChild(b); box.appendChild(span); }
  document.querySelectorAll("line.cursor").forEach(l => { const x = +l.dataset.x0 + +l.dataset.w * t / +l.dataset.xmax; l.setAttribute("x1", x); l.setAttribute("x2", x); });
  drawMasks(t);
}
function seeds() {
  const box = document.getElementById("seeds"), S = D.seeds;
  if (!S) { box.textContent = "one run (run_sample.py ... --seeds 0,1,2 --work_dir W runs the steps once per seed and reports their spread in W's report)"; return; }
  const fmt = (m, v) => v === null || v === undefined ? "-" : S.percent.includes(m) ? (100 * v).toFixed(1) : v.toFixed(2);
  const t = el("table", {id: "seedtable"});
  t.innerHTML = "<tr><th class=l>stage</th><th class=l>figure</th><th>mean</th><th>std</th><th>min</th><th>max</th><th>runs</th></tr>";
  for (const [stage, ms] of Object.entries(S.stages)) for (const [m, s] of Object.entries(ms)) {
    const tr = el("tr");
    [S.names[stage] || stage, S.metrics[m] || m, fmt(m, s.mean), fmt(m, s.std), fmt(m, s.min), fmt(m, s.max), String(s.n)]
      .forEach((v, i) => tr.appendChild(el("td", {className: i < 2 ? "l" : ""}, v)));
    t.appendChild(tr);
  }
  box.appendChild(t);
  const runs = el("p", {id: "seedruns"});
  S.runs.forEach((r, i) => {
    if (i) runs.appendChild(document.createTextNode("; "));
    runs.appendChild(r.report ? el("a", {href: r.report}, r.run) : el("span", {}, r.run));
    runs.appendChild(document.createTextNode(r.status === "ok" ? ": ok" : `: failed (${r.error || ""})`));
  });
  box.appendChild(runs);
  if (S.band) box.appendChild(el("img", {src: S.band, alt: "threshold curves over seeds"}));
}
stages(); curves(); rows(); segRows(); confusion(); training(); instances(); seeds();
const fromHash = /t=([0-9.]+)/.exec(location.hash);
setThreshold(fromHash ? parseFloat(fromHash[1]) : 0.25);
document.getElementById("threshold").addEventListener("input", e => { setThreshold(parseFloat(e.target.value)); history.replaceState(null, "", "#t=" + e.target.value); });
</script></body></html>
"""
