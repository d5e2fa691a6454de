"""How every step outside the networks grows with the image count, on synthetic COCO sets.

    python bench/scale.py                      # N = 1,000, 4,000 and 16,000 small images, every step
    python bench/scale.py --sizes 1000 4000    # fewer sizes
    python bench/scale.py --constants          # per-image constants at about 512 px

It writes N images in COCO's download layout (``train2014/``, ``val2014/`` with a quarter as many, and
``annotations/instances_*.json``: 80 classes, about 3 an image, polygons, a crowd region every 50th image and an
empty image every 20th). No network runs: ``engine.inference.run_inference`` is replaced by a stand-in that
writes each make step's files in their exact format, under the digest the step's own planner gave them, so
everything else is the project's code run through the driver (``run_sample.main``), each step in its own
process: ``coco14.prepare``, ``python -m dataset.folder`` with a CSV, every eval, both seed CRF steps, the file
handling of make_cam/make_amn_cam/make_sem_seg/make_ins_seg/make_seg, export_ins_coco, eval_ins_seg, make_seg's
mask pool (CRF over 81 classes), make_report, the no-op rerun of each make step, and a progress bar of N
redraws under the run log.

Printed per step: seconds per 1,000 images at each N, the per-image time ratio of the largest N to the
smallest, peak RSS (VmHWM) of the step's process and of its largest worker process, the KB of peak RSS per
extra image, and each step extrapolated to COCO train (82,783) or val (40,504).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

HEIGHT, WIDTH = 48, 64
COCO_TRAIN, COCO_VAL = 82_783, 40_504
STAND_IN_STEPS = ("make_cam", "make_amn_cam", "make_sem_seg", "make_ins_seg", "make_seg")


# The synthetic COCO set ------------------------------------------------------------------------------------------

def synthesize(root: Path, n_train: int, seed: int = 0) -> None:
    """COCO's download layout with ``n_train`` train and ``n_train // 4`` val images."""
    from PIL import Image

    from coco14.dataloader import CATEGORIES

    rng = np.random.default_rng(seed)
    cats = [{"id": cid, "name": name, "supercategory": "none"} for cid, name in CATEGORIES]
    noise = [Image.fromarray(rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)) for _ in range(16)]
    next_id = 1
    for split, n in (("train2014", n_train), ("val2014", max(n_train // 4, 8))):
        (root / split).mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        for i in range(n):
            image_id = next_id + i
            noise[i % len(noise)].save(root / split / f"COCO_{split}_{image_id:012d}.jpg", quality=90)
            images.append({"id": image_id, "file_name": f"COCO_{split}_{image_id:012d}.jpg", "height": HEIGHT,
                           "width": WIDTH})
            annotations += _annotations(rng, image_id, i, cats, len(annotations))
        next_id += n
        (root / "annotations").mkdir(exist_ok=True)
        with open(root / "annotations" / f"instances_{split}.json", "w") as f:
            json.dump({"images": images, "annotations": annotations, "categories": cats}, f)


def _annotations(rng, image_id: int, i: int, cats: list, first_id: int) -> list[dict]:
    if i % 20 == 19:
        return []  # an empty image
    out = []
    for cat in rng.choice(len(cats), int(rng.integers(2, 5)), replace=False):
        y, x = int(rng.integers(0, HEIGHT - 16)), int(rng.integers(0, WIDTH - 16))
        h, w = int(rng.integers(8, 16)), int(rng.integers(8, 16))
        poly = [x, y, x + w, y, x + w, y + h // 2, x + w // 2, y + h, x, y + h]
        out.append({"id": first_id + len(out) + 1, "image_id": image_id, "category_id": cats[cat]["id"],
                    "segmentation": [[float(v) for v in poly]], "area": float(w * h * 0.85),
                    "bbox": [x, y, w, h], "iscrowd": 0})
    if i % 50 == 0:  # a crowd region, as uncompressed RLE
        counts = [HEIGHT * 2, HEIGHT * 3, HEIGHT * (WIDTH - 5)]
        out.append({"id": first_id + len(out) + 1, "image_id": image_id, "category_id": out[0]["category_id"],
                    "segmentation": {"size": [HEIGHT, WIDTH], "counts": counts}, "area": float(HEIGHT * 3),
                    "bbox": [2, 0, 3, HEIGHT], "iscrowd": 1})
    return out


# Stand-in network outputs -----------------------------------------------------------------------------------------

def stand_in_inference(dataset, job, config) -> None:
    """What ``engine.inference.run_inference`` would write, without a network: each processor's files in their
    exact format, under the digests the step's planner handed the processor."""
    from engine import irn_inference, map_stages, seg_inference
    from misc.fileio import cam_path, png_path, save_arrays, save_cam, save_png
    from postprocess import instances

    processor = job.processor
    rng = np.random.default_rng(0)
    names = getattr(dataset, "img_name_list", None) or dataset.names
    labels = getattr(dataset, "label_list", None)
    h4, w4 = (HEIGHT + 3) // 4, (WIDTH + 3) // 4
    for k, name in enumerate(names):
        keys = np.flatnonzero(labels[k]) if labels is not None else np.zeros(0, np.int64)
        if isinstance(processor, map_stages.MapProcessor):
            save_cam(cam_path(processor.out_dir, name), keys, rng.random((len(keys), h4, w4), np.float32),
                     rng.random((len(keys), HEIGHT, WIDTH), np.float32), record=processor.digest)
        elif isinstance(processor, irn_inference.SemSegWriter):
            mask = np.where(rng.random((HEIGHT, WIDTH)) < 0.5, 0, np.pad(keys + 1, (1, 0))[
                rng.integers(0, len(keys) + 1, (HEIGHT, WIDTH))]).astype(np.uint8)
            save_png(png_path(processor.out_dir, name), mask, record=processor.digests[0])
            if processor.map_dir is not None:
                save_arrays(Path(processor.map_dir) / f"{name}.npz", record=processor.digests[1], keys=keys,
                            maps=rng.random((len(keys), h4, w4), np.float32), size=np.asarray((HEIGHT, WIDTH)))
        elif isinstance(processor, irn_inference.InstanceWriter):
            masks = np.zeros((len(keys), HEIGHT, WIDTH), bool)
            for j in range(len(keys)):
                y, x = rng.integers(0, HEIGHT - 12), rng.integers(0, WIDTH - 12)
                masks[j, y:y + 12, x:x + 12] = True
            instances.save_instances(cam_path(processor.out_dir, name),
                                     {"score": rng.random(len(keys)).astype(np.float32),
                                      "class": (keys + 1).astype(np.int64), "mask": masks}, processor.digests[0])
        elif isinstance(processor, seg_inference.LogitWriter):
            save_arrays(Path(processor.logit_dir) / f"{name}.npz", record=processor.digest,
                        logit=rng.normal(size=(81, HEIGHT // 8, WIDTH // 8)).astype(np.float16),
                        size=np.asarray((HEIGHT, WIDTH)))
        else:
            raise TypeError(f"no stand-in for {type(processor).__name__}")


# One step in its own process ----------------------------------------------------------------------------------------

def child(argv: list[str]) -> None:
    """Run one driver step (or a named task) and print its time and peak memory as JSON."""
    from engine import inference

    inference.run_inference = stand_in_inference
    task, rest = argv[0], argv[1:]
    watch = WorkerWatch()
    watch.start()
    start = time.perf_counter()
    if task == "coco14.prepare":
        from coco14 import prepare

        prepare.prepare(rest[0], rest[1], num_workers=2)
    elif task == "dataset.folder":
        from dataset import folder

        folder.main(rest)
    elif task == "run_log":
        _run_log(int(rest[0]), Path(rest[1]))
    else:
        import run_sample

        run_sample.main(rest)
    seconds = time.perf_counter() - start
    watch.stop = True
    print("SCALE " + json.dumps({"seconds": seconds, "rss_mb": _status_kb(os.getpid(), "VmHWM") / 1024,
                                 "worker_mb": watch.peak_kb / 1024}))


def _status_kb(pid: int, field: str) -> int:
    """A memory figure of /proc/<pid>/status in KB (0 when the process is gone). VmHWM is the process's own
    peak; ``getrusage``'s ru_maxrss is not, as Linux carries it over ``exec`` from the forking process."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class WorkerWatch(threading.Thread):
    """The largest peak resident size (VmHWM) of any child process (pool or loader worker), sampled every
    0.25 s (a sparse scan of /proc, so it costs the step under 1 % of a core)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak_kb, self.stop = 0, False

    def run(self) -> None:
        me = str(os.getpid())
        while not self.stop:
            for entry in os.scandir("/proc"):
                if entry.name.isdigit() and entry.name != me:
                    try:
                        stat = Path(f"/proc/{entry.name}/stat").read_text()
                    except OSError:
                        continue
                    if stat.rsplit(")", 1)[1].split()[1] == me:
                        self.peak_kb = max(self.peak_kb, _status_kb(int(entry.name), "VmHWM"))
            time.sleep(0.25)


def _run_log(n: int, folder: Path) -> None:
    """N redraws of one progress line under the run log, the terminal a null device."""
    from misc.experiment import RunLog

    with open(os.devnull, "w") as null:
        real = sys.stderr
        sys.stderr = null
        log = RunLog(folder / "run.log")
        try:
            for i in range(n):
                sys.stderr.write(f"\rstep: {i + 1}/{n} [{'#' * (30 * i // n):30s}]")
            sys.stderr.write("\n")
        finally:
            log.close()
            sys.stderr = real


def run_child(args: list[str], cwd: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    line = next((x for x in done.stdout.splitlines() if x.startswith("SCALE ")), None)
    if done.returncode or line is None:
        raise SystemExit(f"{args[:2]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(line[6:])


# The steps at one N ------------------------------------------------------------------------------------------------

def driver_flags(work: Path) -> list[str]:
    meta, out, sess = work / "meta", work / "result", work / "sess"
    return ["--dataset", "coco14", "--coco14_root", str(work / "coco"), "--train_list", str(meta / "train14.txt"),
            "--val_list", str(meta / "val14.txt"), "--infer_list", str(meta / "train14.txt"),
            "--cls_labels", str(meta / "cls_labels.npy"), "--device", "cpu", "--num_workers", "2",
            "--cam_weights_name", str(sess / "res50_cam.pth"), "--amn_weights_name", str(sess / "res50_amn.pth"),
            "--irn_weights_name", str(sess / "res50_irn.pth"), "--seg_weights_name", str(sess / "deeplab.pth"),
            "--seg_depth", "50", "--result_dir", str(out), "--cam_out_dir", str(out / "cam"),
            "--ir_label_out_dir", str(out / "ir_label"), "--amn_cam_out_dir", str(out / "amn_cam"),
            "--amn_ir_label_out_dir", str(out / "amn_ir_label"), "--sem_seg_out_dir", str(out / "sem_seg"),
            "--sem_seg_map_dir", str(out / "sem_seg_maps"), "--ins_seg_out_dir", str(out / "ins_seg"),
            "--seg_out_dir", str(out / "seg"), "--log_name", str(work / "log"), "--report_images", "8"]


# (label, driver step or task, which COCO split it scales with)
STEPS = [
    ("coco14.prepare", "coco14.prepare", "train"),
    ("dataset.folder (CSV)", "dataset.folder", "train"),
    ("run log (N redraws)", "run_log", "train"),
    ("make_cam files", "make_cam", "train"),
    ("eval_cam", "eval_cam", "train"),
    ("cam_to_ir_label (CRF)", "cam_to_ir_label", "train"),
    ("make_amn_cam files", "make_amn_cam", "train"),
    ("eval_amn_cam", "eval_amn_cam", "train"),
    ("amn_cam_to_ir_label (CRF)", "amn_cam_to_ir_label", "train"),
    ("make_sem_seg files", "make_sem_seg", "train"),
    ("eval_sem_seg", "eval_sem_seg", "train"),
    ("make_ins_seg files", "make_ins_seg", "train"),
    ("export_ins_coco", "export_ins_coco", "train"),
    ("eval_ins_seg", "eval_ins_seg", "train"),
    ("make_seg files + mask pool (CRF 81)", "make_seg", "val"),
    ("eval_seg", "eval_seg", "val"),
    ("make_report", "make_report", "train"),
    *[(f"{s} no-op rerun", s, "train" if s != "make_seg" else "val")
      for s in ("make_cam", "cam_to_ir_label", "make_amn_cam", "amn_cam_to_ir_label", "make_sem_seg",
                "make_ins_seg", "make_seg")],
    ("eval_cam rerun (current)", "eval_cam", "train"),
]


def run_size(n: int, folder: Path) -> dict[str, dict]:
    """Every step at ``n`` train images: {label: {seconds, rss_mb, worker_mb, images}}."""
    work = folder / f"n{n}"
    synthesize(work / "coco", n)
    sess = work / "sess"
    sess.mkdir(parents=True, exist_ok=True)
    for weights in ("res50_cam.pth", "res50_amn.pth", "res50_irn.pth", "deeplab.pth"):
        (sess / weights).write_bytes(weights.encode() * 100)  # stand-ins: their digests go into the records
    flags = driver_flags(work)
    results = {}
    for label, step, split in STEPS:
        images = n if split == "train" else max(n // 4, 8)
        if step == "coco14.prepare":
            args = [step, str(work / "coco"), str(work / "meta")]
        elif step == "dataset.folder":
            args = [step, *_folder_csv(work, n)]
        elif step == "run_log":
            args = [step, str(n), str(work)]
        else:
            args = ["run", *flags, f"--{step}_pass", "True"]
        results[label] = {**run_child(args, work), "images": images}
        print(f"  n={n:>6} {label:<38} {results[label]['seconds']:8.2f} s  {results[label]['rss_mb']:7.0f} MB",
              flush=True)
    return results


def _folder_csv(work: Path, n: int) -> list[str]:
    """An own folder of the train images with a label CSV (one row per image and class, as spreadsheets do)."""
    from coco14.dataloader import CAT_LIST
    from dataset.spec import load_cls_labels

    labels = load_cls_labels(work / "meta" / "cls_labels.npy")
    rows = ["image,label"]
    for name, vec in labels.items():
        path = work / "coco" / "train2014" / f"COCO_train2014_{name}.jpg"
        if path.is_file():
            rows += [f"COCO_train2014_{name}.jpg,{CAT_LIST[c]}" for c in np.flatnonzero(vec)]
    (work / "labels.csv").write_text("\n".join(rows) + "\n")
    return ["--images", str(work / "coco" / "train2014"), "--labels", str(work / "labels.csv"),
            "--out_dir", str(work / "folder"), "--workers", "2", "--classes", ",".join(CAT_LIST)]


def table(all_results: dict[int, dict]) -> str:
    sizes = sorted(all_results)
    lo, hi = sizes[0], sizes[-1]
    head = ("| step | " + " | ".join(f"s/1k at {n:,}" for n in sizes)
            + f" | ratio {hi:,}/{lo:,} | peak RSS MB ({lo:,} → {hi:,}) | pool worker MB | KB per extra image "
            "| COCO estimate |")
    lines = [head, "|" + "---|" * (len(sizes) + 6)]
    for label, _, split in STEPS:
        per = {n: all_results[n][label] for n in sizes}
        s1k = {n: 1000 * per[n]["seconds"] / per[n]["images"] for n in sizes}
        ratio = s1k[hi] / s1k[lo] if s1k[lo] > 0 else float("nan")
        extra = (per[hi]["rss_mb"] - per[lo]["rss_mb"]) * 1024 / max(per[hi]["images"] - per[lo]["images"], 1)
        coco = (COCO_TRAIN if split == "train" else COCO_VAL) * s1k[hi] / 1000
        lines.append(f"| {label} | " + " | ".join(f"{s1k[n]:.2f}" for n in sizes)
                     + f" | {ratio:.2f} | {per[lo]['rss_mb']:.0f} → {per[hi]['rss_mb']:.0f} | "
                     f"{per[hi]['worker_mb']:.0f} | {extra:.1f} | {_duration(coco)} |")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


# Per-image constants at about 512 px --------------------------------------------------------------------------------

def constants() -> None:
    """Per-image costs at 512 x 384 of what the steps do per image outside the networks."""
    import tempfile

    import torch

    from engine.seg_inference import crf_labels
    from misc import fileio
    from misc.imutils import crf_inference_label_pair
    from postprocess import instances, scoring

    rng = np.random.default_rng(0)
    h, w = 384, 512
    rows = []

    def timed(label, fn, repeat=5):
        fn()
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        rows.append((label, 1000 * (time.perf_counter() - start) / repeat))

    with tempfile.TemporaryDirectory() as tmp:
        png, cam = Path(tmp) / "a.png", Path(tmp) / "a.npz"
        fileio.save_png(png, rng.integers(0, 81, (h, w)), record="0123456789abcdef")
        keys = np.array([0, 17, 56])
        fileio.save_cam(cam, keys, rng.random((3, h // 4, w // 4), np.float32), rng.random((3, h, w), np.float32),
                        record="0123456789abcdef")

        def full_decode():
            from PIL import Image

            with Image.open(png) as img:
                return img.text

        timed("read_record, PNG header (now)", lambda: fileio.read_record(png), 50)
        timed("PNG text by full decode (before)", full_decode, 20)
        timed("load_cam keys+cam (IRN steps now)", lambda: fileio.load_cam(cam, ("keys", "cam")), 20)
        timed("load_cam every member (before)", lambda: fileio.load_cam(cam), 20)
        fg_max, fg_label = rng.random((h, w)).astype(np.float32), rng.choice([1, 18, 57], (h, w))
        gt = np.where(rng.random((h, w)) < 0.5, 0, rng.choice([1, 18, 57], (h, w))).astype(np.uint8)
        thresholds = np.round(np.arange(0, 0.61, 0.01), 2)
        high_res = rng.random((3, h, w), np.float32)

        def eval_cam_image():
            from postprocess.cam_maps import cam_prediction_inputs

            top, label = cam_prediction_inputs({"high_res": high_res, "keys": keys})
            return scoring.compact_threshold_confusions(top, label, gt, thresholds, 81)

        timed("eval_cam per image outside reading files (now)", eval_cam_image, 20)
        timed("threshold confusions, 81 classes, compact (now)",
              lambda: scoring.compact_threshold_confusions(fg_max, fg_label, gt, thresholds, 81))
        timed("threshold confusions, 81 classes, full table (before)",
              lambda: _full_confusions(fg_max, fg_label, gt, thresholds, 81))
        timed("threshold confusions, 21 classes, full table (before)",
              lambda: _full_confusions(fg_max, fg_label, gt, thresholds, 21))
        field = rng.normal(size=(2, h // 4, w // 4)).astype(np.float32)
        timed("centroid search (make_ins_seg, per image, in the pool now)",
              lambda: instances.instance_map_of(field), 2)
        img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        labels = rng.integers(0, 4, (h, w))
        timed("seed CRF pair (one *_to_ir_label image, 4 labels)",
              lambda: crf_inference_label_pair(img, labels, labels, n_labels=4), 2)
        # A trained network's look: each pixel's class (background, 18 or 57 in thirds of the image) 10 logits
        # above the rest, noise of 0.5 on every class, smooth over 8-pixel blocks.
        coarse = rng.normal(0, 0.5, size=(81, h // 8, w // 8)).astype(np.float32)
        logits = torch.from_numpy(np.kron(coarse, np.ones((8, 8), np.float32)))
        for third, cls in enumerate((0, 18, 57)):
            logits[cls, :, third * w // 3:(third + 1) * w // 3] += 10
        prob = torch.softmax(logits, 0).numpy()
        params = {"iter_max": 10, "pos_w": 3, "pos_xy_std": 1, "bi_w": 4, "bi_xy_std": 67, "bi_rgb_std": 3}
        timed("make_seg CRF, 81 labels (official)", lambda: crf_labels(img, prob, params), 1)
        timed("make_seg CRF, present labels", lambda: crf_labels(img, prob, {**params, "labels": "present"}), 1)
    print(f"per-image constants at {w} x {h} (ms):")
    for label, ms in rows:
        print(f"  {label:<58} {ms:10.2f}")
    storage()


def storage() -> None:
    """Bytes per image of every output folder at COCO's mean size (640 x 480, 3 classes, 10 instance fragments),
    written by the project's own writers, and the projected totals for COCO train (val for make_seg)."""
    import tempfile

    from misc import fileio
    from postprocess import instances

    rng = np.random.default_rng(0)
    h, w, k = 480, 640, 3
    blocky = np.kron(rng.integers(0, 4, (h // 16, w // 16)), np.ones((16, 16), np.int64)).astype(np.uint8)
    smooth = np.kron(rng.random((k, h // 32, w // 32)), np.ones((32, 32))).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        keys = np.arange(k)
        fileio.save_cam(t / "cam.npz", keys, smooth[:, ::4, ::4], smooth, record="0123456789abcdef")
        fileio.save_png(t / "seed.png", np.where(blocky == 3, 255, blocky), record="0123456789abcdef")
        fileio.save_png(t / "mask.png", blocky, record="0123456789abcdef")
        fileio.save_arrays(t / "maps.npz", record="0123456789abcdef", keys=keys, maps=smooth[:, ::4, ::4],
                           size=np.asarray((h, w)))
        masks = np.zeros((10, h, w), bool)
        for j in range(10):
            masks[j, 40 * j:40 * j + 60, 50 * j:50 * j + 80] = True
        instances.save_instances(t / "ins.npz", {"score": rng.random(10).astype(np.float32),
                                                 "class": np.ones(10, np.int64), "mask": masks}, "0123456789abcdef")
        fileio.save_arrays(t / "logit.npz", record="0123456789abcdef",
                           logit=rng.normal(size=(81, h // 8 + 1, w // 8 + 1)).astype(np.float16),
                           size=np.asarray((h, w)))
        folders = [("cam/ and amn_cam/ (each)", "cam.npz", COCO_TRAIN, 2),
                   ("ir_label/ and amn_ir_label/ (each)", "seed.png", COCO_TRAIN, 2),
                   ("sem_seg/", "mask.png", COCO_TRAIN, 1), ("sem_seg_maps/", "maps.npz", COCO_TRAIN, 1),
                   ("ins_seg/", "ins.npz", COCO_TRAIN, 1), ("seg/eval/logit/ (val)", "logit.npz", COCO_VAL, 1),
                   ("seg/eval/raw/ and crf/ (val, each)", "mask.png", COCO_VAL, 2)]
        print("storage per image at 640 x 480 and projected for COCO:")
        total = 0.0
        for label, file, count, copies in folders:
            size = (t / file).stat().st_size
            total += size * count * copies
            print(f"  {label:<40} {size / 1e3:9.1f} KB  x {count:,} = {fileio.human_bytes(size * count)}")
        print(f"  {'total of a COCO recipe':<40} {fileio.human_bytes(total)}")


def _full_confusions(fg_max, fg_label, gt, thresholds, n_class):
    """The former per-image sweep (postprocess.scoring.threshold_confusions before the compact tables), as it
    was: a (T+1) x n x n bincount over every class of the dataset, then the full table's sums."""
    valid = gt < n_class
    g, p, m = gt[valid].astype(np.int64), fg_label[valid].astype(np.int64), fg_max[valid]
    n_t = len(thresholds)
    n_fg_thresholds = np.searchsorted(thresholds, m, side="left")
    fg_counts = np.bincount((g * n_class + p) * (n_t + 1) + n_fg_thresholds,
                            minlength=n_class * n_class * (n_t + 1)).reshape(n_class, n_class, n_t + 1)
    fg_at = np.flip(np.cumsum(np.flip(fg_counts, -1), -1), -1)[..., 1:]
    conf = np.moveaxis(fg_at, -1, 0).copy()
    bg_at = np.bincount(g, minlength=n_class)[None, :] - conf.sum(-1)
    conf[:, :, 0] += bg_at
    return conf


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000], help="train image counts")
    p.add_argument("--constants", action="store_true", help="print the per-image constants at 512 px instead")
    p.add_argument("--keep", default=None, help="keep the synthetic sets and outputs in this folder")
    p.add_argument("--table", nargs="+", default=None, metavar="SCALE_JSON",
                   help="print the table of earlier runs' scale.json files (merged by image count) and exit")
    a = p.parse_args()
    if a.constants:
        constants()
        return
    if a.table:
        merged = {int(n): v for path in a.table for n, v in json.loads(Path(path).read_text()).items()}
        print(table(merged))
        return
    folder = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="scale-"))
    results = {}
    for n in a.sizes:
        results[n] = run_size(n, folder)
        (folder / "scale.json").write_text(json.dumps({str(k): v for k, v in results.items()}, indent=1))
    print(table(results))


if __name__ == "__main__":
    main()
