"""Images per second of the heavy steps on this machine (CPU unless --device says otherwise).

Run: python bench/throughput.py [--device cpu] [--height 375 --width 500] [--images 2]
Random weights and images: throughput does not depend on them.
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


def timed(fn, n):
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(n):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="cpu")
    p.add_argument("--height", type=int, default=375)
    p.add_argument("--width", type=int, default=500)
    p.add_argument("--images", type=int, default=2)
    p.add_argument("--crop", type=int, default=512)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--amp", action="store_true")
    a = p.parse_args()
    dev = torch.device(a.device)
    h, w = a.height, a.width
    _, ms, label = pack(h, w, dev)
    args = argparse.Namespace(ir_label_out_dir=None)
    cam_net = resnet50_cam.CAM().to(dev).eval()
    amn_net = resnet50_amn.CAM().to(dev).eval()
    ac = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.amp)

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

    print(f"make_cam ({len(SCALES)} scales x flip, {h}x{w}): {timed(run_cam, a.images):.2f} img/s")
    print(f"make_amn_cam ({len(SCALES)} scales x flip, {h}x{w}): {timed(run_amn, a.images):.2f} img/s")

    train_net = resnet50_amn.Net().to(dev).train()
    opt = torch.optim.Adam(train_net.parameters(), lr=1e-4)
    x = torch.rand(a.batch, 3, a.crop, a.crop, device=dev)
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

    print(f"train_amn (crop {a.crop}, batch {a.batch}): {a.batch * timed(run_train, 2):.2f} img/s")

    irn = resnet50_irn.EdgeDisplacement().to(dev).eval()
    cams = np.random.rand(2, *imutils.get_strided_size((h, w), 4)).astype(np.float32)
    sem_args = argparse.Namespace(sem_seg_power=1.3, beta=10, exp_times=8, sem_seg_bg_thres=0.25)

    def run_sem():
        with torch.inference_mode():
            edge, _ = irn(ms[0])
            make_sem_seg_labels.cams_to_mask(cams, np.array([4, 14]), edge, (h, w), sem_args)

    print(f"make_sem_seg (edge net + random walk, {h}x{w}): {1 / timed(run_sem, a.images):.2f} s/img")


if __name__ == "__main__":
    main()
