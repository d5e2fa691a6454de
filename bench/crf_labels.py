"""make_seg's CRF over every class (the official one) against ``--seg_crf_labels present``: time, pixels that
differ and the mIoU change.

    python bench/crf_labels.py                       # the COCO toy (81 labels), synthetic network outputs
    python bench/crf_labels.py --logits RESULT/seg/eval/logit --dataset coco14 --root COCO_ROOT

Without ``--logits`` the probabilities are made from the toy's ground truth as a trained network's look: the
true class of each pixel (blurred over 5 pixels, so boundaries are uncertain) gets a logit margin of ``--margin``
over the rest, plus Gaussian noise of ``--noise`` on every class, smooth over 8-pixel blocks. With ``--logits``
it reads make_seg's own logit files (a finished run) and the images of their dataset.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def synthetic(n_images: int, margin: float, noise: float, seed: int = 0):
    """(image, probabilities (81, H, W), ground truth) of the COCO toy's images."""
    import torch
    from scipy import ndimage

    from coco14 import prepare, toy
    from coco14.dataloader import COCO14

    tmp = Path(tempfile.mkdtemp(prefix="crf-labels-"))
    root = toy.generate(tmp / "coco", seed=seed, num_train=n_images, num_val=4, size=96)
    prepare.prepare(str(root), str(tmp / "meta"))
    rng = np.random.default_rng(seed)
    for name in (tmp / "meta" / "train14.txt").read_text().split():
        img = COCO14.load_image(root, name)
        gt = COCO14.load_gt(root, name)
        target = np.where(gt == 255, 0, gt)
        onehot = (np.arange(81)[:, None, None] == target[None]).astype(np.float32)
        soft = np.stack([ndimage.uniform_filter(p, 5) for p in onehot])
        coarse = rng.normal(0, noise, (81, -(-gt.shape[0] // 8), -(-gt.shape[1] // 8))).astype(np.float32)
        smooth = np.kron(coarse, np.ones((8, 8), np.float32))[:, :gt.shape[0], :gt.shape[1]]
        logits = margin * soft + smooth  # a network's errors are smooth in space, not per pixel
        yield img, torch.softmax(torch.from_numpy(logits), 0).numpy(), gt


def from_run(logit_dir: Path, dataset: str, root: str):
    """(image, probabilities, ground truth) of a finished make_seg's logit files."""
    import torch
    import torch.nn.functional as F

    from dataset.registry import entry
    from misc.fileio import load_arrays

    spec = entry(dataset).spec(root)
    for path in sorted(logit_dir.glob("*.npz")):
        img = spec.load_image(root, path.stem)
        logit = torch.from_numpy(load_arrays(path, ("logit",))["logit"].astype(np.float32))[None]
        up = F.interpolate(logit, size=img.shape[:2], mode="bilinear", align_corners=False)
        gt = spec.load_gt(root, path.stem, img.shape[:2]) if spec.has_ground_truth(root) else None
        yield img, torch.softmax(up, 1)[0].numpy(), gt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=40, help="toy images (synthetic mode)")
    p.add_argument("--margin", type=float, default=8.0, help="logit margin of the true class (synthetic mode)")
    p.add_argument("--noise", type=float, default=0.5, help="logit noise on every class (synthetic mode)")
    p.add_argument("--logits", default=None, help="a make_seg logit folder (result/seg/eval/logit)")
    p.add_argument("--dataset", default="coco14")
    p.add_argument("--root", default=None, help="the dataset root of --logits")
    a = p.parse_args()

    from engine.seg_inference import PRESENT_EPS, crf_labels
    from misc import evaluation

    params = {"iter_max": 10, "pos_w": 3, "pos_xy_std": 1, "bi_w": 4, "bi_xy_std": 67, "bi_rgb_std": 3}
    source = (from_run(Path(a.logits), a.dataset, a.root) if a.logits
              else synthetic(a.images, a.margin, a.noise))
    seconds = {"all": 0.0, "present": 0.0}
    differ = pixels = 0
    kept = []
    confusion = {"all": 0, "present": 0}
    for img, prob, gt in source:
        out = {}
        for mode in ("all", "present"):
            start = time.perf_counter()
            out[mode] = crf_labels(img, prob, params if mode == "all" else {**params, "labels": "present"})
            seconds[mode] += time.perf_counter() - start
            if gt is not None:
                confusion[mode] = confusion[mode] + evaluation.confusion_matrix(out[mode], gt, len(prob))
        differ += int((out["all"] != out["present"]).sum())
        pixels += out["all"].size
        kept.append(len(np.union1d([0], np.flatnonzero(prob.reshape(len(prob), -1).max(1) > PRESENT_EPS))))
    n = len(kept)
    print(f"{n} images, {len(prob)} labels; classes kept by 'present': mean {np.mean(kept):.1f}")
    print(f"CRF time per image: all {1000 * seconds['all'] / n:.0f} ms, present {1000 * seconds['present'] / n:.0f} ms "
          f"({seconds['all'] / max(seconds['present'], 1e-9):.1f}x)")
    print(f"pixels that differ: {differ} of {pixels} ({100 * differ / pixels:.4f} %)")
    if not isinstance(confusion["all"], int):
        m = {k: evaluation.mean_iou(evaluation.iou_from_confusion(c)) for k, c in confusion.items()}
        print(f"mIoU against the ground truth: all {100 * m['all']:.3f}, present {100 * m['present']:.3f} "
              f"(change {100 * (m['present'] - m['all']):+.3f} points)")


if __name__ == "__main__":
    main()
