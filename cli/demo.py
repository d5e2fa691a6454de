"""``run_sample.py --demo``: the whole pipeline on a toy dataset with a 2-core CPU preset.

``--demo`` uses the toy VOC; ``--demo --dataset coco14`` the toy COCO. Flags the user
gives override the preset; flags that would point away from the toy data are refused.
"""
from __future__ import annotations

import json
from pathlib import Path

from misc.errors import PipelineError
from step import STEPS

DATA_ROOT = Path("data/toy_voc")
META = DATA_ROOT / "meta"
TOY = dict(seed=0, num_train=240, num_val=40, size=128)
COCO_ROOT = Path("data/toy_coco")
COCO_TOY = dict(seed=0, num_train=160, num_val=20, size=128)
# Flags the demo sets itself and that a user may not change: they point at the toy data.
DATA_FLAGS = ("voc12_root", "coco14_root", "folder_root", "train_list", "val_list", "infer_list", "cls_labels",
              "chainer_eval_set", "gt_dir", "seg_train_list", "seg_eval_list", "seg_test_list")

# Small crops and few epochs: what 2 cores learn from scratch in a few minutes.
PRESET = dict(
    device="cpu", backbone_weights="none", num_workers=2,
    cam_crop_size=128, cam_resize_long=(112, 160), cam_batch_size=16, cam_num_epoches=6,
    cam_scales=(1.5,),
    amn_crop_size=128, amn_batch_size=16, amn_num_epoches=5, amn_new_lr=4e-3, amn_backbone_lr=4e-4,
    amn_eval_every_epoch=False,
    irn_crop_size=128, irn_batch_size=16, irn_num_epoches=4,
    # The official 2^8 walk steps are sized for VOC's ~500x375 images (stride-4 maps ~125x94); a walk spreads
    # as the square root of its steps, so the toy's 32x32 maps need about 16x fewer for the same reach.
    # With 2^8 the walk leaks through IRN's boundaries and the masks fall below the AMN maps.
    exp_times=4,
    seg_depth=50, seg_crop_size=96, seg_batch_size=4, seg_iter_max=30, seg_lr=2e-4, seg_scales=(0.75, 1.0, 1.25),
    seg_flip=False, seg_weights_name="deeplabv2_resnet50_msc.pth",
    # Everything the demo writes (weights, maps, masks, evals, report, run.log) goes under one folder.
    work_dir="result/demo",
    report_images=6,
)


def ensure_toy_dataset(root: Path = DATA_ROOT, meta: Path = META) -> None:
    """Generate and prepare the toy set once; later demos reuse it unless the generator has changed."""
    import shutil

    from voc12 import prepare, toy

    stamp = root / "toy.json"
    wanted = json.dumps({**TOY, "version": toy.VERSION}, sort_keys=True)
    if root.exists() and (not stamp.is_file() or stamp.read_text() != wanted):
        print(f"the toy generator changed since {root} was made; generating it again")
        shutil.rmtree(root)
    if not (root / "ImageSets/Segmentation/val.txt").is_file():
        print(f"generating the toy dataset in {root} ...")
        toy.generate(root, **TOY)
        stamp.write_text(wanted)
    if not (meta / "cls_labels.npy").is_file():
        prepare.prepare(str(root), None, str(meta))


def ensure_toy_coco(root: Path = COCO_ROOT) -> None:
    """Generate and prepare the toy COCO once."""
    from coco14 import prepare, toy

    if not (root / "annotations/instances_val2014.json").is_file():
        print(f"generating the toy COCO in {root} ...")
        toy.generate(root, **COCO_TOY)
    if not (root / "meta/cls_labels.npy").is_file():
        prepare.prepare(str(root), str(root / "meta"))


def _data_paths(dataset: str, generate: bool = True) -> dict:
    if dataset == "voc12":
        if generate:
            ensure_toy_dataset()
        return dict(voc12_root=str(DATA_ROOT), train_list=str(META / "train.txt"), infer_list=str(META / "train.txt"),
                    val_list=str(META / "val.txt"), cls_labels=str(META / "cls_labels.npy"), chainer_eval_set="train",
                    seg_train_list=str(META / "train.txt"), seg_eval_list=str(META / "val.txt"))
    if dataset == "coco14":
        if generate:
            ensure_toy_coco()
        meta = COCO_ROOT / "meta"
        return dict(coco14_root=str(COCO_ROOT), train_list=str(meta / "train14.txt"),
                    infer_list=str(meta / "train14.txt"), val_list=str(meta / "val14.txt"),
                    cls_labels=str(meta / "cls_labels.npy"), chainer_eval_set="train", sem_seg_bg_thres=0.22,
                    seg_train_list=str(meta / "train14.txt"), seg_eval_list=str(meta / "val14.txt"))
    raise PipelineError(f"--demo runs on the toy voc12 or coco14 data, not on --dataset {dataset}")


def configure(args, given: set[str] = frozenset(), generate: bool = True) -> None:
    """Point every path at the toy data (generating it unless ``generate`` is False) and apply the preset to the
    flags the user left alone; with no step chosen, run every step."""
    refused = sorted(f for f in DATA_FLAGS if f in given)
    if refused:
        raise SystemExit(f"error: --demo uses its own toy data; drop --{', --'.join(refused)} (or run without "
                         "--demo on your data)")
    preset = dict(PRESET)
    if args.dataset != "voc12":
        preset["work_dir"] = f"{PRESET['work_dir']}_{'coco' if args.dataset == 'coco14' else args.dataset}"
    preset.update(_data_paths(args.dataset, generate))
    for k, v in preset.items():
        if k not in given:
            setattr(args, k, v)
    chosen = args.steps or args.start or args.stop or any(getattr(args, flag) for flag, _ in STEPS)
    if not chosen:
        for flag, _ in STEPS:
            setattr(args, flag, True)


def link_backbones(args, given: set[str] = frozenset()) -> None:
    """AMN and the segmentation network start from the CAM network's backbone, the demo's stand-in for ImageNet
    weights; IRN's frozen backbone is AMN's, whose per-pixel training gives boundaries that CAM's features do
    not (masks 48.8 -> 54.7 on seed 0 of an earlier preset, the rest unchanged). Called once the weight paths
    are final (after --work_dir)."""
    for flag, source in (("amn_backbone_weights", args.cam_weights_name),
                         ("irn_backbone_weights", args.amn_weights_name),
                         ("seg_init_weights", args.cam_weights_name)):
        if flag not in given:
            setattr(args, flag, source)


def _load(result_dir: str, stage: str) -> dict | None:
    path = Path(result_dir) / f"{stage}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def print_summary(args, timings: dict[str, float]) -> None:
    print("\n=== demo summary (toy data, mIoU %) ===")
    print(f"{'stage':<10s} {'at default thr':>16s} {'best over sweep':>18s} {'robust width':>13s}")
    seg = _load(args.result_dir, "seg")
    rows = [(s, _load(args.result_dir, s)) for s in ("cam", "amn_cam", "sem_seg")]
    if seg is not None:
        rows += [("seg (val)", seg)] + ([("seg+CRF", seg["crf"])] if seg.get("crf") else [])
    for stage, rec in rows:
        if rec is None:
            continue
        thr = rec.get("threshold")
        at = f"{100 * rec['miou']:.1f}" + (f" @ {thr:.2f}" if thr is not None else "")
        sw = rec.get("sweep")
        best = f"{100 * sw['best_miou']:.1f} @ {sw['best_threshold']:.2f}" if sw else "-"
        width = f"{sw['width']:.2f}" if sw else "-"
        print(f"{stage:<10s} {at:>16s} {best:>18s} {width:>13s}")
    if seg is not None:
        print(f"note: the segmentation network trained {args.seg_iter_max} iterations of batch {args.seg_batch_size} "
              "here, to show that the stage runs; the recipe trains 30,000 (VOC) or 100,000 (COCO) on a GPU, so "
              "its toy score says nothing of what it reaches on real data")
    print(f"total time {sum(timings.values()):.0f}s: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()))
    report = Path(args.result_dir) / "report" / "summary.md"
    if report.is_file():
        print(f"report: {report.parent}")
