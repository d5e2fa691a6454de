"""``run_sample.py --demo``: the whole pipeline on the toy dataset with a 2-core CPU preset."""
from __future__ import annotations

import json
from pathlib import Path

from step import STEPS

DATA_ROOT = Path("data/toy_voc")
META = DATA_ROOT / "meta"
TOY = dict(seed=0, num_train=240, num_val=40, size=128)

# Small crops and few epochs: what 2 cores learn from scratch in a few minutes.
PRESET = dict(
    device="cpu", backbone_weights="none", num_workers=2,
    cam_crop_size=128, cam_resize_long=(112, 160), cam_batch_size=16, cam_num_epoches=8,
    cam_scales=(1.0, 0.5),
    amn_crop_size=128, amn_batch_size=16, amn_num_epoches=3, amn_new_lr=1e-3, amn_backbone_lr=1e-4,
    amn_eval_every_epoch=False,
    irn_crop_size=128, irn_batch_size=16, irn_num_epoches=3,
    cam_weights_name="sess/demo/res50_cam.pth", amn_weights_name="sess/demo/res50_amn.pth",
    irn_weights_name="sess/demo/res50_irn.pth",
    result_dir="result/demo", cam_out_dir="result/demo/cam", ir_label_out_dir="result/demo/ir_label",
    amn_cam_out_dir="result/demo/amn_cam", amn_ir_label_out_dir="result/demo/amn_ir_label",
    sem_seg_out_dir="result/demo/sem_seg", log_name="result/demo/demo",
    report_images=6,
)


def ensure_toy_dataset(root: Path = DATA_ROOT, meta: Path = META) -> None:
    """Generate and prepare the toy set once; later demos reuse it."""
    from voc12 import prepare, toy

    if not (root / "ImageSets/Segmentation/val.txt").is_file():
        print(f"generating the toy dataset in {root} ...")
        toy.generate(root, **TOY)
    if not (meta / "cls_labels.npy").is_file():
        prepare.prepare(str(root), None, str(meta))


def configure(args) -> None:
    """Point every path at the toy data and apply the preset; with no --*_pass given, run every step."""
    ensure_toy_dataset()
    for k, v in PRESET.items():
        setattr(args, k, v)
    args.voc12_root = str(DATA_ROOT)
    args.train_list = args.infer_list = str(META / "train.txt")
    args.val_list = str(META / "val.txt")
    args.cls_labels = str(META / "cls_labels.npy")
    args.chainer_eval_set = "train"
    # AMN and IRN start from the CAM network's backbone, the demo's stand-in for ImageNet weights.
    args.amn_backbone_weights = args.irn_backbone_weights = args.cam_weights_name
    if not any(getattr(args, flag) for flag, _ in STEPS):
        for flag, _ in STEPS:
            setattr(args, flag, True)


def _load(result_dir: str, stage: str) -> dict | None:
    path = Path(result_dir) / f"{stage}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def print_summary(args, timings: dict[str, float]) -> None:
    print("\n=== demo summary (toy data, mIoU %) ===")
    print(f"{'stage':<10s} {'at default thr':>16s} {'best over sweep':>18s} {'robust width':>13s}")
    for stage in ("cam", "amn_cam", "sem_seg"):
        rec = _load(args.result_dir, stage)
        if rec is None:
            continue
        at = f"{100 * rec['miou']:.1f} @ {rec.get('threshold', args.sem_seg_bg_thres):.2f}"
        sw = rec.get("sweep")
        best = f"{100 * sw['best_miou']:.1f} @ {sw['best_threshold']:.2f}" if sw else "-"
        width = f"{sw['width']:.2f}" if sw else "-"
        print(f"{stage:<10s} {at:>16s} {best:>18s} {width:>13s}")
    print(f"total time {sum(timings.values()):.0f}s: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()))
    report = Path(args.result_dir) / "report" / "summary.md"
    if report.is_file():
        print(f"report: {report.parent}")
