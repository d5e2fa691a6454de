"""The quality run: a small toy set and settings on which every stage learns within about 90 s on 2 cores.

``tests/test_quality.py`` asserts floors on one seed of it; ``python tests/quality.py --seeds 0 1 2`` measures the
figures the floors came from (written beside the floors in that test).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

TOY = dict(num_train=80, num_val=8, size=96)


def make_toy(root: Path, seed: int = 0):
    """Generate and prepare the quality toy under ``root``; returns (voc_root, meta)."""
    from voc12 import prepare, toy

    voc = root / "VOC2012"
    toy.generate(voc, seed=seed, **TOY)
    meta = root / "meta"
    prepare.prepare(str(voc), None, str(meta))
    return voc, meta


def quality_argv(voc: Path, meta: Path, work: Path, seed: int = 0) -> list[str]:
    """Every step up to the instance masks and the final masks, from scratch, on the CPU."""
    sess = work  # --work_dir keeps the weights at its top level
    return [
        "--voc12_root", str(voc), "--train_list", str(meta / "train.txt"), "--val_list", str(meta / "val.txt"),
        "--infer_list", str(meta / "train.txt"), "--cls_labels", str(meta / "cls_labels.npy"),
        "--chainer_eval_set", "train", "--seed", str(seed), "--device", "cpu", "--num_workers", "0",
        "--work_dir", str(work), "--backbone_weights", "none",
        "--cam_crop_size", "96", "--cam_resize_long", "84", "112", "--cam_batch_size", "16", "--cam_num_epoches", "6",
        "--cam_scales", "1.5",
        "--amn_crop_size", "96", "--amn_batch_size", "16", "--amn_num_epoches", "5", "--amn_new_lr", "4e-3",
        "--amn_backbone_lr", "4e-4", "--amn_eval_every_epoch", "False",
        "--amn_backbone_weights", str(sess / "res50_cam.pth"), "--irn_backbone_weights", str(sess / "res50_amn.pth"),
        "--irn_crop_size", "96", "--irn_batch_size", "16", "--irn_num_epoches", "4", "--exp_times", "4",
        "--steps", "cam,amn,irn,masks,instances",
    ]


def stage_figures(work: Path) -> dict:
    """mIoU, per-class IoU and instance AP of a finished quality run."""
    res = work / "result" if (work / "result").is_dir() else work
    out = {}
    for stage in ("cam", "amn_cam", "sem_seg"):
        rec = json.loads(next(res.rglob(f"{stage}.json")).read_text())
        out[stage] = {"miou": rec["miou"], "per_class_iou": rec["per_class_iou"]}
    ins = json.loads(next(res.rglob("ins_seg.json")).read_text())
    out["ins_seg"] = {"map": ins["map"], "coco_ap": ins["coco"]["ap"]}
    return out


def main() -> None:
    import sys
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import run_sample

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        voc, meta = make_toy(Path(tmp))
        for seed in args.seeds:
            work = Path(tmp) / f"seed_{seed}"
            t0 = time.time()
            run_sample.main(quality_argv(voc, meta, work, seed))
            fig = stage_figures(work)
            print(json.dumps({"seed": seed, "seconds": round(time.time() - t0), **fig}), flush=True)


if __name__ == "__main__":
    main()
