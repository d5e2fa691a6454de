"""Speed and peak memory of every network step at VOC size, in fp32, bf16 and bf16 + channels_last.

Run: python bench/throughput.py [--device cpu|cuda] [--settings fp32,bf16,bf16_cl] [--json OUT.json]
Random weights and images (speed does not depend on them). For each setting, in one process: images per
second of train_cam (crop 512, --cam_batch), train_amn (--batch), train_irn (--irn_batch) and train_seg
(DeepLab-v2 ResNet-101 MSC, crop 321, --seg_batch), and seconds per image of make_cam and make_amn_cam (4 scales
with flip), make_sem_seg (IRN + the 2^8-step walk) and make_seg (flip), then the dense CRF's seconds per image
(CPU); the peak memory of each step (torch's
peak allocation on CUDA, reset before each step; the process's peak resident size on the CPU); and the ratio
of each setting to fp32. fp32 means fp32: TF32 is off for the whole run.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cli.config import step_settings  # noqa: E402
from engine import losses, optim, precision, seg_inference  # noqa: E402
from misc import imutils, indexing  # noqa: E402
from net import deeplab_v2, resnet50_amn, resnet50_cam, resnet50_irn  # noqa: E402
from postprocess import cam_maps, random_walk  # noqa: E402
from step import make_cam, make_seg  # noqa: E402

SCALES = (1.0, 0.5, 1.5, 2.0)
SETTINGS = {"fp32": (False, False), "bf16": (True, False), "bf16_cl": (True, True)}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, n: int, device: torch.device) -> float:
    """Calls per second of ``fn`` over ``n`` calls after one warm-up call."""
    fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(n):
        fn()
    sync(device)
    return n / (time.perf_counter() - start)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Bench:
    """One setting's step timings: ``measure(name, fn, n, per_image)`` records rate and peak memory."""

    def __init__(self, a, amp: bool, channels_last: bool):
        self.a, self.device = a, torch.device(a.device)
        self.fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.amp = amp
        self.results: dict[str, dict[str, float]] = {}

    def autocast(self):
        return precision.autocast(self.device, self.amp)

    def tensor(self, *shape) -> torch.Tensor:
        x = torch.rand(*shape, device=self.device)
        return x.contiguous(memory_format=self.fmt) if x.dim() == 4 else x

    def net(self, module: torch.nn.Module) -> torch.nn.Module:
        return module.to(self.device, memory_format=self.fmt)

    def measure(self, name: str, fn, n: int, images_per_call: int, unit: str) -> None:
        reset_peak(self.device)
        rate = timed(fn, n, self.device) * images_per_call
        self.results[name] = {unit: rate if unit == "img/s" else 1 / rate, "peak_mb": peak_mb(self.device)}
        del fn
        print(f"  {name:<14s} {self.results[name][unit]:9.3f} {unit}  peak {self.results[name]['peak_mb']:8.0f} MB",
              flush=True)


def label_vector(classes=(4, 14)) -> torch.Tensor:
    label = torch.zeros(20)
    label[list(classes)] = 1
    return label


def bench_make_maps(b: Bench) -> None:
    h, w = b.a.height, b.a.width
    packs = [b.tensor(1, 3, int(round(h * s)), int(round(w * s))) for s in SCALES]
    packs = [torch.cat([x, x.flip(-1)]).contiguous(memory_format=b.fmt) for x in packs]
    label = label_vector()
    cam_net = b.net(resnet50_cam.CAM()).eval()
    amn_net = b.net(resnet50_amn.CAM()).eval()

    def run_cam():
        with torch.inference_mode(), b.autocast():
            make_cam._postprocess([cam_net(x) for x in packs], {"size": (h, w), "label": label})

    def run_amn():
        with torch.inference_mode(), b.autocast():
            outs = [amn_net(x, label.to(b.device)[None].expand(2, 20)) for x in packs]
            strided = cam_maps.resize_sum(outs, imutils.get_strided_size((h, w), 4)) / len(outs)
            cam_maps.amn_postprocess(strided, cam_maps.resize_sum(outs, (h, w)) / len(outs), label,
                                         np.zeros((h, w), np.uint8))

    b.measure("make_cam", run_cam, b.a.images, 1, "s/img")
    b.measure("make_amn_cam", run_amn, b.a.images, 1, "s/img")


def bench_make_sem_seg(b: Bench) -> None:
    h, w = b.a.height, b.a.width
    irn = b.net(resnet50_irn.EdgeDisplacement()).eval()
    x = b.tensor(1, 3, h, w)
    pair = torch.cat([x, x.flip(-1)]).contiguous(memory_format=b.fmt)
    cams = np.random.rand(2, *imutils.get_strided_size((h, w), 4)).astype(np.float32)

    def run():
        with torch.inference_mode():
            with b.autocast():
                edge, _ = irn(pair)
            random_walk.cams_to_mask(cams, np.array([4, 14]), edge, (h, w), random_walk.Walk(), 1.3, 0.25)

    b.measure("make_sem_seg", run, b.a.images, 1, "s/img")


def bench_train_classifiers(b: Bench) -> None:
    crop = b.a.crop
    cam_net = b.net(resnet50_cam.Net()).train()
    opt = torch.optim.SGD(cam_net.parameters(), lr=1e-3)
    xc, yc = b.tensor(b.a.cam_batch, 3, crop, crop), label_vector((3,)).to(b.device).expand(b.a.cam_batch, 20)

    def run_cam():
        with b.autocast():
            loss = F.multilabel_soft_margin_loss(cam_net(xc), yc)
        opt.zero_grad()
        loss.backward()
        opt.step()

    b.measure("train_cam", run_cam, b.a.iters, b.a.cam_batch, "img/s")
    cam_net = opt = xc = None  # free the CAM batch before AMN's (run_cam is not called again)
    amn = b.net(resnet50_amn.Net()).train()
    opt = torch.optim.Adam(amn.parameters(), lr=1e-4)
    x, y = b.tensor(b.a.batch, 3, crop, crop), label_vector((3,)).to(b.device).expand(b.a.batch, 20)
    seed = torch.randint(0, 2, (b.a.batch, crop // 16, crop // 16), device=b.device) * 4

    def run_amn():
        with b.autocast():
            logit = amn(x, y)
        loss = losses.balanced_soft_cross_entropy(logit, seed, losses.smoothed_target(seed, 21, 0.4))
        opt.zero_grad()
        loss.backward()
        opt.step()

    b.measure("train_amn", run_amn, b.a.iters, b.a.batch, "img/s")


def bench_train_irn(b: Bench) -> None:
    crop = b.a.crop
    path_index = indexing.PathIndex(radius=10, default_size=(crop // 4, crop // 4))
    irn = b.net(resnet50_irn.AffinityDisplacementLoss(path_index)).train()
    opt = torch.optim.SGD([p for p in irn.parameters() if p.requires_grad], lr=1e-3)
    x = b.tensor(b.a.irn_batch, 3, crop, crop)
    shape = (b.a.irn_batch, len(path_index.dst_indices), len(path_index.src_indices))
    pack = {k: (torch.rand(shape) < 0.3).to(torch.uint8) for k in ("aff_bg_pos_label", "aff_fg_pos_label",
                                                                   "aff_neg_label")}

    def run():
        with b.autocast():
            out = irn(x, True)
        loss, _ = losses.irn_losses(out, pack, b.device)
        opt.zero_grad()
        loss.backward()
        opt.step()

    b.measure("train_irn", run, b.a.iters, b.a.irn_batch, "img/s")


def bench_segmentation(b: Bench) -> None:
    model = b.net(deeplab_v2.deeplabv2_msc(21, depth=101))
    flags = step_settings("train_seg")
    opt = optim.seg_optimizer(model, flags.seg_lr, flags.seg_weight_decay, flags.seg_momentum)
    x = b.tensor(b.a.seg_batch, 3, b.a.seg_crop, b.a.seg_crop)
    y = torch.randint(0, 21, (b.a.seg_batch, b.a.seg_crop, b.a.seg_crop))

    def run_train():
        model.train()
        model.base.freeze_bn()
        with b.autocast():
            outs = model(x)
        loss = losses.msc_loss(outs, y, "balanced")
        opt.zero_grad()
        loss.backward()
        opt.step()

    b.measure("train_seg", run_train, b.a.iters, b.a.seg_batch, "img/s")
    img = b.tensor(1, 3, b.a.height, b.a.width)

    def run_infer():
        model.eval()
        with torch.inference_mode(), b.autocast():
            seg_inference.predict_logits(model, img, (1.0,), flip=True).cpu()

    b.measure("make_seg", run_infer, b.a.images, 1, "s/img")


def crf_seconds(a) -> float:
    """Seconds per image of make_seg's dense CRF (CPU; deeplab-pytorch's parameters, 21 classes)."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (a.height, a.width, 3), dtype=np.uint8)
    logit = rng.normal(size=(21, (a.height + 7) // 8, (a.width + 7) // 8)).astype(np.float32)
    params = make_seg.crf_params(step_settings("make_seg"))  # deeplab-pytorch's CRF, the defaults
    start = time.perf_counter()
    for _ in range(a.images):
        seg_inference.masks_from_logits(rgb, logit, params)
    return (time.perf_counter() - start) / a.images


def measure(a, name: str) -> dict[str, dict[str, float]]:
    amp, channels_last = SETTINGS[name]
    b = Bench(a, amp, channels_last)
    print(f"[{name}] {a.device}", flush=True)
    for part in (bench_make_maps, bench_make_sem_seg, bench_train_classifiers, bench_train_irn, bench_segmentation):
        part(b)
        if b.device.type == "cuda":
            torch.cuda.empty_cache()
    return b.results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--settings", default="fp32,bf16,bf16_cl", help=f"comma-separated, from {', '.join(SETTINGS)}")
    p.add_argument("--height", type=int, default=375)
    p.add_argument("--width", type=int, default=500)
    p.add_argument("--images", type=int, default=2, help="timed inference images per step")
    p.add_argument("--iters", type=int, default=2, help="timed training iterations per step")
    p.add_argument("--crop", type=int, default=512, help="training crop of CAM, AMN and IRN")
    p.add_argument("--cam_batch", type=int, default=2, help="train_cam batch (official: 16)")
    p.add_argument("--batch", type=int, default=2, help="train_amn batch (official: 16)")
    p.add_argument("--irn_batch", type=int, default=2, help="train_irn batch (official: 32)")
    p.add_argument("--seg_batch", type=int, default=2, help="train_seg batch (AdvCAM: 10)")
    p.add_argument("--seg_crop", type=int, default=321, help="train_seg crop")
    p.add_argument("--json", default=None, help="also write every figure to this JSON file")
    a = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    names = [s.strip() for s in a.settings.split(",")]
    results = {name: measure(a, name) for name in names}
    base = results.get("fp32")
    print("ratios to fp32 (speed; >1 is faster):")
    for name, res in results.items():
        if base is None or name == "fp32":
            continue
        ratios = {k: (v.get("img/s", 0) / base[k]["img/s"]) if "img/s" in v else base[k]["s/img"] / v["s/img"]
                  for k, v in res.items()}
        print(f"  {name:<8s} " + "  ".join(f"{k} {r:.2f}x" for k, r in ratios.items()))
    crf = crf_seconds(a)
    print(f"dense CRF (CPU, 21 classes, 10 iterations): {crf:.3f} s/img")
    if a.json:
        meta = {k: getattr(a, k) for k in ("device", "height", "width", "crop", "cam_batch", "batch", "irn_batch",
                                           "seg_batch", "seg_crop", "images", "iters")}
        if a.device.startswith("cuda"):
            meta["gpu"] = torch.cuda.get_device_name()
        Path(a.json).write_text(json.dumps({"settings": meta, "tf32": False, "results": results, "crf_s_per_img": crf},
                                           indent=1))


if __name__ == "__main__":
    main()
