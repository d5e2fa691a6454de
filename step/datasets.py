"""The dataset registry: ``--dataset voc12|coco14|folder`` -> its spec, root, lists and step defaults."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from coco14.dataloader import COCO14
from misc.errors import PipelineError
from voc12.dataloader import VOC12, DatasetSpec, load_img_name_list
from voc12.folder import load_folder_spec

NAMES = ("voc12", "coco14", "folder")

# Seed thresholds (fg, bg) of cam_to_ir_label and amn_cam_to_ir_label when --conf_*_thres is not given.
SEED_THRESHOLDS = {
    "voc12": {"cam": (0.30, 0.05), "amn": (0.45, 0.15)},
    "coco14": {"cam": (0.45, 0.15), "amn": (0.45, 0.15)},
    "folder": {"cam": (0.30, 0.05), "amn": (0.45, 0.15)},
}

_OUTPUT_FLAGS = ("cam_out_dir", "ir_label_out_dir", "amn_cam_out_dir", "amn_ir_label_out_dir", "sem_seg_out_dir",
                 "sem_seg_map_dir", "ins_seg_out_dir", "seg_out_dir")
_WEIGHT_FLAGS = ("cam_weights_name", "amn_weights_name", "irn_weights_name", "seg_weights_name")


def _suffixed(base: dict, suffix: str) -> dict:
    """Official COCO naming: sess/res50_cam_coco.pth, result/cam_coco, ..."""
    out = {k: f"{Path(v).with_suffix('')}{suffix}.pth" for k, v in base.items() if k in _WEIGHT_FLAGS}
    out.update({k: f"{v}{suffix}" for k, v in base.items() if k in _OUTPUT_FLAGS + ("log_name",)})
    return out


def step_defaults(name: str, parser_defaults: dict, root: str | None = None) -> dict:
    """Flag values that differ from the VOC driver's defaults for dataset ``name``."""
    if name == "voc12":
        return {}
    if name == "coco14":
        return {"train_list": "coco14/train14.txt", "val_list": "coco14/val14.txt",
                "infer_list": "coco14/train14.txt", "cls_labels": "coco14/cls_labels.npy", "sem_seg_bg_thres": 0.22,
                # The COCO DeepLab-v2 schedule that WSSS work uses (LPCAM's config): 100k steps at lr 2e-4.
                "seg_train_list": "coco14/train14.txt", "seg_eval_list": "coco14/val14.txt", "seg_iter_max": 100000,
                "seg_lr": 2e-4,
                **_suffixed(parser_defaults, "_coco")}
    if name == "folder":
        base = Path(root) if root else Path("data/folder")
        return {"train_list": str(base / "train.txt"), "val_list": str(base / "val.txt"),
                "infer_list": str(base / "train.txt"), "cls_labels": str(base / "cls_labels.npy"),
                "seg_train_list": str(base / "train.txt"), "seg_eval_list": str(base / "val.txt"),
                **_suffixed(parser_defaults, "_folder")}
    raise PipelineError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")


def follow_label_folder(args, given: set[str]) -> None:
    """COCO's lists sit beside its labels (prepare's --out_dir): the segmentation lists follow --cls_labels
    unless given, as the eval lists do."""
    if getattr(args, "dataset", "voc12") != "coco14":
        return
    base = Path(args.cls_labels).parent
    for flag, name in (("seg_train_list", "train14.txt"), ("seg_eval_list", "val14.txt")):
        if flag not in given:
            setattr(args, flag, str(base / name))


def dataset_root(args) -> str | None:
    """The value of the dataset's root flag (--voc12_root, --coco14_root or --folder_root)."""
    return getattr(args, f"{getattr(args, 'dataset', 'voc12')}_root", None)


def get_dataset(args) -> DatasetSpec:
    """The spec of ``args.dataset``, with ``--gt_dir`` applied."""
    name = getattr(args, "dataset", "voc12")
    if name == "voc12":
        spec = VOC12
    elif name == "coco14":
        spec = COCO14
    elif name == "folder":
        spec = load_folder_spec(dataset_root(args))
    else:
        raise PipelineError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")
    gt_dir = getattr(args, "gt_dir", None)
    return dataclasses.replace(spec, gt_root=gt_dir) if gt_dir else spec


def checked_root(args) -> Path:
    """The dataset root after the spec's checks."""
    return get_dataset(args).check_root(dataset_root(args))


def seed_thresholds(args, kind: str) -> tuple[float, float]:
    """(fg, bg) for ``kind`` 'cam' or 'amn': the flags if given, else the dataset's defaults."""
    fg, bg = SEED_THRESHOLDS[getattr(args, "dataset", "voc12")][kind]
    return (fg if args.conf_fg_thres is None else args.conf_fg_thres,
            bg if args.conf_bg_thres is None else args.conf_bg_thres)


def eval_list_path(args) -> Path:
    """The list the eval steps score: the dataset's ``--chainer_eval_set`` split.

    COCO's lists sit beside its labels (``coco14/<set>14.txt`` by default), as prepare writes them.
    """
    spec = get_dataset(args)
    if spec.name == "coco14":
        spec = dataclasses.replace(spec, list_dir=str(Path(args.cls_labels).parent))
    return spec.split_path(dataset_root(args) or ".", args.chainer_eval_set)


def eval_names(args) -> list[str]:
    return load_img_name_list(eval_list_path(args))
