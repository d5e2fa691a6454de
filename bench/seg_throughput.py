"""Speed and peak memory of the segmentation network's steps on this machine (CPU unless --device says so).

Run: python bench/seg_throughput.py [--device cpu|cuda] [--depth 101] [--amp] [--channels_last]
Random weights and images (speed does not depend on them). Prints train_seg images per second (crop --crop,
batch --batch, the four MSC outputs and the balanced loss), make_seg seconds per image (a --height x --width
image with flip) and the dense CRF's seconds per image (deeplab-pytorch's parameters, 21 classes); with --amp or
--channels_last the same process also times the fp32 baseline and prints the ratio. Peak memory is the process's
maximum resident size (CPU) or torch's peak allocation (CUDA).
"""
import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from net import deeplab_v2  # noqa: E402
from step import make_seg, train_seg  # noqa: E402


def timed(fn, n: int, device: torch.device) -> float:
    """Calls per second of ``fn`` over ``n`` calls after one warm-up call."""
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(a, amp: bool, channels_last: bool) -> dict[str, float]:
    dev = torch.device(a.device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    ac = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp)
    model = deeplab_v2.deeplabv2_msc(21, depth=a.depth).to(dev, memory_format=fmt)
    args = argparse.Namespace(seg_lr=2.5e-4, seg_weight_decay=5e-4, seg_momentum=0.9)
    opt = train_seg.seg_optimizer(model, args)
    x = torch.randn(a.batch, 3, a.crop, a.crop, device=dev).contiguous(memory_format=fmt)
    y = torch.randint(0, 21, (a.batch, a.crop, a.crop))

    def run_train():
        model.train()
        model.base.freeze_bn()
        with ac:
            outs = model(x)
        loss = train_seg.msc_loss([o.float() for o in outs], y, "balanced")
        opt.zero_grad()
        loss.backward()
        opt.step()

    out = {"train_seg img/s": a.batch * timed(run_train, a.iters, dev)}
    img = torch.randn(1, 3, a.height, a.width, device=dev).contiguous(memory_format=fmt)

    def run_infer():
        model.eval()
        with torch.inference_mode(), ac:
            make_seg.predict_logits(model, img, (1.0,), flip=True).float().cpu()

    out["make_seg s/img"] = 1 / timed(run_infer, a.images, dev)
    out["peak MB"] = peak_memory_mb(dev)
    return out


def crf_seconds(a) -> float:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (a.height, a.width, 3), dtype=np.uint8)
    logit = torch.from_numpy(rng.normal(size=(21, (a.height + 7) // 8, (a.width + 7) // 8)).astype(np.float32))
    start = time.perf_counter()
    for _ in range(a.images):
        make_seg.masks_from_logits(rgb, logit.numpy(), make_seg.crf_params(argparse.Namespace(
            seg_crf_iter_max=10, seg_crf_pos_w=3, seg_crf_pos_xy_std=1, seg_crf_bi_w=4, seg_crf_bi_xy_std=67,
            seg_crf_bi_rgb_std=3)))
    return (time.perf_counter() - start) / a.images


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--depth", type=int, default=101, choices=(50, 101))
    p.add_argument("--height", type=int, default=375)
    p.add_argument("--width", type=int, default=500)
    p.add_argument("--crop", type=int, default=321)
    p.add_argument("--batch", type=int, default=2, help="train_seg batch (AdvCAM: 10)")
    p.add_argument("--iters", type=int, default=2, help="timed training iterations")
    p.add_argument("--images", type=int, default=2, help="timed inference images")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast")
    p.add_argument("--channels_last", action="store_true")
    a = p.parse_args()
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    settings = [("fp32", False, False)]
    if a.amp or a.channels_last:
        settings.append(("bf16" * a.amp + "+channels_last" * a.channels_last, a.amp, a.channels_last))
    results = {name: measure(a, amp, cl) for name, amp, cl in settings}
    base = results["fp32"]
    for name, res in results.items():
        print(f"[{name}] {a.device}, DeepLab-v2 ResNet-{a.depth} MSC, crop {a.crop} x batch {a.batch}, "
              f"inference {a.height}x{a.width} with flip")
        for k, v in res.items():
            ratio = "" if name == "fp32" or k == "peak MB" else f"  ({v / base[k]:.2f}x fp32)"
            print(f"  {k:<18s} {v:9.3f}{ratio}")
    print(f"  dense CRF s/img    {crf_seconds(a):9.3f}  (CPU, 21 classes, 10 iterations)")


if __name__ == "__main__":
    main()
