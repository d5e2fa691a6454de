"""Images per second of the heavy steps on this machine (CPU unless --device says otherwise).

Run: python bench/throughput.py [--device cpu|cuda] [--amp] [--channels_last] [--height 375 --width 500]
Random weights and images: throughput does not depend on them. Prints images per second of make_cam,
make_amn_cam, train_cam (crop 512, --cam_batch), train_amn (crop 512, --batch) and seconds per image of
make_sem_seg; the same process also times the fp32 baseline when --amp or --channels_last is given, and
prints the ratio.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from misc import imutils  # noqa: E402
from net import resnet50_amn, resnet50_cam, resnet50_irn  # noqa: E402
from step import make_amn_cam, make_cam, make_sem_seg_labels, train_amn  # noqa: E402

SCALES = (1.0, 0.5, 1.5, 2.0)


def pack(h, w, device):
    img = np.random.rand(h, w, 3).astype(np.float32)
    ms = []
    for s in SCALES:
        sh, sw = int(round(h * s)), int(round(w * s))
        x = torch.rand(1, 3, sh, sw)
        ms.append(torch.cat([x, x.flip(-1)]).to(device))
    label = torch.zeros(20)
    label[[4, 14]] = 1
    return img, ms, label


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, n):
    fn()  # warm-up
    _sync()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    _sync()
    return n / (time.perf_counter() - t)


def measure(a, amp: bool, channels_last: bool) -> dict[str, float]:
    """Throughput of each step under one setting."""
    dev = torch.device(a.device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    h, w = a.height, a.width
    _, ms, label = pack(h, w, dev)
    ms = [x.contiguous(memory_format=fmt) for x in ms]
    args = argparse.Namespace(ir_label_out_dir=None)
    cam_net = resnet50_cam.CAM().to(dev, memory_format=fmt).eval()
    amn_net = resnet50_amn.CAM().to(dev, memory_format=fmt).eval()
    ac = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp)
    out = {}

    def run_cam():
        with torch.inference_mode(), ac:
            outs = [cam_net(x).float() for x in ms]
            make_cam._postprocess(outs, {"size": (h, w), "label": label}, args)

    def run_amn():
        with torch.inference_mode(), ac:
            outs = [amn_net(x, label.to(dev)[None].expand(2, 20)).float() for x in ms]
            s = imutils.get_strided_size((h, w), 4)
            make_amn_cam.amn_postprocess(
                make_amn_cam.stage.resize_sum(outs, s) / 4, make_amn_cam.stage.resize_sum(outs, (h, w)) / 4,
                label, np.zeros((h, w), np.uint8))

    out["make_cam img/s"] = timed(run_cam, a.images)
    out["make_amn_cam img/s"] = timed(run_amn, a.images)

    cls_net = resnet50_cam.Net().to(dev, memory_format=fmt).train()
    cls_opt = torch.optim.SGD(cls_net.parameters(), lr=1e-3)
    xc = torch.rand(a.cam_batch, 3, a.crop, a.crop, device=dev).contiguous(memory_format=fmt)
    yc = torch.zeros(a.cam_batch, 20, device=dev)
    yc[:, 3] = 1

    def run_train_cam():
        with ac:
            loss = torch.nn.functional.multilabel_soft_margin_loss(cls_net(xc).float(), yc)
        cls_opt.zero_grad()
        loss.backward()
        cls_opt.step()

    out["train_cam img/s"] = a.cam_batch * timed(run_train_cam, 2)

    train_net = resnet50_amn.Net().to(dev, memory_format=fmt).train()
    opt = torch.optim.Adam(train_net.parameters(), lr=1e-4)
    x = torch.rand(a.batch, 3, a.crop, a.crop, device=dev).contiguous(memory_format=fmt)
    y = torch.zeros(a.batch, 20, device=dev)
    y[:, 3] = 1
    seed = torch.randint(0, 2, (a.batch, a.crop // 16, a.crop // 16), device=dev) * 4

    def run_train():
        with ac:
            logit = train_net(x, y)
        loss = train_amn.balanced_cross_entropy(logit.float(), seed, train_amn.smoothed_target(seed, 21, 0.4))
        opt.zero_grad()
        loss.backward()
        opt.step()

    out["train_amn img/s"] = a.batch * timed(run_train, 2)

    irn = resnet50_irn.EdgeDisplacement().to(dev).eval()
    cams = np.random.rand(2, *imutils.get_strided_size((h, w), 4)).astype(np.float32)
    sem_args = argparse.Namespace(sem_seg_power=1.3, beta=10, exp_times=8, sem_seg_bg_thres=0.25)

    def run_sem():
        with torch.inference_mode():
            with ac:
                edge, _ = irn(ms[0])
            make_sem_seg_labels.cams_to_mask(cams, np.array([4, 14]), edge.float(), (h, w), sem_args)

    out["make_sem_seg s/img"] = 1 / timed(run_sem, a.images)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--height", type=int, default=375)
    p.add_argument("--width", type=int, default=500)
    p.add_argument("--images", type=int, default=2)
    p.add_argument("--crop", type=int, default=512)
    p.add_argument("--batch", type=int, default=2, help="train_amn batch")
    p.add_argument("--cam_batch", type=int, default=2, help="train_cam batch")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast")
    p.add_argument("--channels_last", action="store_true")
    a = p.parse_args()
    settings = [("fp32", False, False)]
    if a.amp or a.channels_last:
        settings.append(("bf16" * a.amp + "+channels_last" * a.channels_last, a.amp, a.channels_last))
    results = {name: measure(a, amp, cl) for name, amp, cl in settings}
    base = results["fp32"]
    for name, res in results.items():
        print(f"[{name}] {a.device}, {a.height}x{a.width}, crop {a.crop}")
        for k, v in res.items():
            ratio = "" if name == "fp32" else f"  ({v / base[k]:.2f}x fp32)"
            print(f"  {k:<20s} {v:8.3f}{ratio}")


if __name__ == "__main__":
    main()
