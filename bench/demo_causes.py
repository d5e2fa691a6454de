"""Why do the demo's final masks score below its AMN maps? Each suspected cause measured on its own.

Run after the demo: python bench/demo_causes.py [--result_dir result/demo --sess result/demo]
It reuses the demo's AMN maps and IRN weights, computes the IRN boundary map of every image once, and
scores the final masks (mIoU on the toy train list) under variants that each remove one suspect:
  official        the demo's masks as make_sem_seg makes them (the preset's walk of 2^exp_times steps)
  walk 2^8        the same with the official 2^8 steps, sized for VOC's 4x larger images (is the walk too long?)
  oracle edges    boundaries from the ground truth instead of IRN's (are IRN's boundaries the problem?)
  no (1 - edge)   the walk without the official product of the maps with (1 - boundary) before it starts: a
                  cell on a boundary starts at 0 and, cut off from its neighbours, stays 0 (what does that cost?)
  no walk         the AMN maps upsampled, without the random walk (does the walk lose what AMN found?)
  no walk, ^1.3   the same after the walk's power 1.3 and division by the maximum: against the background's
                  0.25 this thresholds the AMN maps at 0.25^(1/1.3) = 0.34 (how much is the walk, how much the power?)
  no walk, stride 4  the same from the stride-4 maps the walk starts from, upsampled x4 as the walk's output is
                  (what does working at stride 4 cost?)
  learnt classes  official masks scored only on images whose classes all have CAM IoU above 20
  flood           the share of images where one class covers more than 3x its ground-truth area and half the image
  boundary map    IRN's mean boundary probability on stride-4 cells near a ground-truth boundary, deep inside
                  objects and deep in the background (are IRN's boundaries learnt at all?)
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cli import demo  # noqa: E402
from dataset.datasets import ClassificationDatasetMSF  # noqa: E402
from dataset.spec import load_img_name_list  # noqa: E402
from engine import irn_inference  # noqa: E402
from misc import evaluation, imutils  # noqa: E402
from misc.fileio import cam_path, load_cam, load_png  # noqa: E402
from postprocess import random_walk  # noqa: E402
from postprocess.random_walk import Walk  # noqa: E402
from voc12 import dataloader as vocdata  # noqa: E402
from voc12.dataloader import VOC12  # noqa: E402

# The demo's walk (its preset's --exp_times) and the official --sem_seg_power / --sem_seg_bg_thres.
DEMO_WALK = Walk(beta=10, exp_times=demo.PRESET["exp_times"])
POWER, BG_THRES = 1.3, 0.25


def oracle_edge(gt: np.ndarray, size) -> torch.Tensor:
    """1 on ground-truth boundaries (and the void band), 0 elsewhere, at stride 4."""
    border = np.zeros(gt.shape, bool)
    for c in np.unique(gt):
        region = gt == c
        border |= region & ~ndimage.binary_erosion(region, iterations=2)
    small = imutils.pil_rescale(border.astype(np.float32), 0.25, 1)[:size[0], :size[1]]
    return torch.from_numpy(np.clip(small * 2, 0, 1))[None].float()


def walk_without_edge_product(cam: dict, edge: torch.Tensor, size, walk: Walk) -> np.ndarray:
    """make_sem_seg's class indices with the walk started from the maps themselves, not from maps x (1 - edge)."""
    if len(cam["cam"]) == 0:
        return np.zeros(tuple(size), np.int64)
    x = torch.from_numpy(np.power(cam["cam"], POWER))
    rw = random_walk.random_walk(x, edge, beta=walk.beta, exp_times=walk.exp_times, radius=walk.radius)
    return random_walk.walked_to_labels(rw, size, BG_THRES)


def stride4_mask(cams: np.ndarray, size) -> np.ndarray:
    """Class indices of the stride-4 maps, powered, upsampled x4 and thresholded as after the walk, but unwalked."""
    if len(cams) == 0:
        return np.zeros(tuple(size), np.int64)
    x = torch.from_numpy(np.power(cams, POWER))[:, None]
    return random_walk.walked_to_labels(x, size, BG_THRES)


def boundary_profile(edge: np.ndarray, gt: np.ndarray, far: float = 8.0) -> np.ndarray:
    """Sums and counts (2, 3) of ``edge`` (h, w at stride 4) over the cells whose centre lies within 2 px of a
    ground-truth boundary, at least ``far`` px inside an object, and at least ``far`` px into the background."""
    labels = np.where(gt == 255, 0, gt)
    border = np.zeros(labels.shape, bool)
    border[:-1] |= labels[:-1] != labels[1:]
    border[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    dist = ndimage.distance_transform_edt(~border)[2::4, 2::4][:edge.shape[0], :edge.shape[1]]
    inside = labels[2::4, 2::4][:edge.shape[0], :edge.shape[1]] > 0
    edge = edge[:dist.shape[0], :dist.shape[1]]
    groups = (dist <= 2, inside & (dist >= far), ~inside & (dist >= far))
    return np.array([[edge[g].sum() for g in groups], [g.sum() for g in groups]], np.float64)


def miou(confusion: np.ndarray) -> float:
    return 100 * evaluation.mean_iou(evaluation.iou_from_confusion(confusion))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--result_dir", default="result/demo")
    p.add_argument("--sess", default="result/demo", help="the folder of the demo weights (its --work_dir)")
    p.add_argument("--root", default=str(demo.DATA_ROOT))
    a = p.parse_args()
    root, res = Path(a.root), Path(a.result_dir)
    names = load_img_name_list(root / "meta" / "train.txt")
    cam_iou = json.loads((res / "cam.json").read_text())["per_class_iou"]
    learnt = {i + 1 for i, c in enumerate(vocdata.CAT_LIST) if (cam_iou.get(c) or 0) > 0.20}
    model = irn_inference.build_model(demo.PRESET["irn_crop_size"], f"{a.sess}/res50_irn.pth")
    dataset = ClassificationDatasetMSF(names, root, scales=(1.0,), spec=VOC12,
                                       cls_labels=root / "meta" / "cls_labels.npy")
    n = 21
    conf = {k: np.zeros((n, n), np.int64)
            for k in ("official", "walk 2^8", "oracle edges", "no (1 - edge)", "no walk", "no walk, ^1.3",
                      "no walk, stride 4",
                      "learnt classes")}
    long_walk = dataclasses.replace(DEMO_WALK, exp_times=8)
    floods = 0
    profile = np.zeros((2, 3))
    with torch.inference_mode():
        for pack in dataset:
            name, size = pack["name"], pack["size"]
            gt = load_png(root / "SegmentationClass" / f"{name}.png")
            cam = load_cam(cam_path(res / "amn_cam", name))
            edge, _ = model(torch.from_numpy(pack["img"][0]))
            profile += boundary_profile(edge[0].numpy(), gt)
            official = random_walk.cams_to_mask(cam["cam"], cam["keys"], edge, size, DEMO_WALK, POWER, BG_THRES)
            oracle = random_walk.cams_to_mask(cam["cam"], cam["keys"], oracle_edge(gt, edge.shape[1:]), size,
                                              DEMO_WALK, POWER, BG_THRES)
            conf["official"] += evaluation.confusion_matrix(official, gt, n)
            conf["oracle edges"] += evaluation.confusion_matrix(oracle, gt, n)
            keys = np.pad(cam["keys"] + 1, (1, 0))
            no_product = keys[walk_without_edge_product(cam, edge, size, DEMO_WALK)]
            conf["no (1 - edge)"] += evaluation.confusion_matrix(no_product, gt, n)
            long = random_walk.cams_to_mask(cam["cam"], cam["keys"], edge, size, long_walk, POWER, BG_THRES)
            conf["walk 2^8"] += evaluation.confusion_matrix(long, gt, n)
            hr = np.pad(cam["high_res"], ((1, 0), (0, 0), (0, 0)), constant_values=BG_THRES)
            conf["no walk"] += evaluation.confusion_matrix(keys[hr.argmax(0)], gt, n)
            powered = np.power(cam["high_res"], POWER)
            powered = np.pad(powered / max(powered.max(initial=0.0), 1e-5), ((1, 0), (0, 0), (0, 0)),
                             constant_values=BG_THRES)
            conf["no walk, ^1.3"] += evaluation.confusion_matrix(keys[powered.argmax(0)], gt, n)
            conf["no walk, stride 4"] += evaluation.confusion_matrix(keys[stride4_mask(cam["cam"], size)], gt, n)
            present = {int(c) for c in np.unique(gt) if 0 < c < 255}
            if present <= learnt:
                conf["learnt classes"] += evaluation.confusion_matrix(official, gt, n)
            for c in np.unique(official):
                if c and (official == c).mean() > 0.5 and (official == c).sum() > 3 * max((gt == c).sum(), 1):
                    floods += 1
                    break
    amn = json.loads((res / "amn_cam.json").read_text())["miou"] * 100
    print(f"AMN maps at their default threshold: {amn:.1f} mIoU; classes with CAM IoU > 20: "
          f"{', '.join(vocdata.CAT_LIST[c - 1] for c in sorted(learnt))}")
    for k, v in conf.items():
        print(f"  {k:<16s} {miou(v):5.1f} mIoU")
    print(f"  flood            {floods} of {len(names)} images ({100 * floods / len(names):.0f} %)")
    near, inside, background = profile[0] / np.maximum(profile[1], 1)
    print(f"  boundary map     mean {near:.2f} within 2 px of a boundary, {inside:.2f} inside objects, "
          f"{background:.2f} on the background (8 px or more from one)")


if __name__ == "__main__":
    main()
