"""The dataset registry, one table: ``--dataset voc12|coco14|folder`` -> its spec, root flag, lists, seed
thresholds and the flag defaults that differ from VOC's. A new dataset is one more :data:`DATASETS` entry."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from coco14.dataloader import COCO14
from dataset.folder import load_folder_spec
from dataset.spec import DatasetSpec, load_img_name_list
from misc.errors import PipelineError
from voc12.dataloader import VOC12

# The flags the registry reads: the dataset, its root, labels, ground truth, eval split and seed thresholds.
SETTINGS = ("dataset", "voc12_root", "coco14_root", "folder_root", "gt_dir", "cls_labels", "chainer_eval_set",
            "conf_fg_thres", "conf_bg_thres")


@dataclass(frozen=True)
class DatasetEntry:
    """What ``--dataset NAME`` means: its spec (read from the root for an own folder), the flag values that
    differ from the VOC driver's defaults, and the seed thresholds (fg, bg) of the CAM and AMN seeds."""

    spec: Callable[[str | None], DatasetSpec]
    defaults: Callable[[dict, str | None], dict]
    seed_thresholds: dict[str, tuple[float, float]]


_OUTPUT_FLAGS = ("cam_out_dir", "ir_label_out_dir", "amn_cam_out_dir", "amn_ir_label_out_dir", "sem_seg_out_dir",
                 "sem_seg_map_dir", "ins_seg_out_dir", "seg_out_dir")
_WEIGHT_FLAGS = ("cam_weights_name", "amn_weights_name", "irn_weights_name", "seg_weights_name")


def _suffixed(base: dict, suffix: str) -> dict:
    """Official COCO naming: sess/res50_cam_coco.pth, result/cam_coco, ..."""
    out = {k: f"{Path(v).with_suffix('')}{suffix}.pth" for k, v in base.items() if k in _WEIGHT_FLAGS}
    out.update({k: f"{v}{suffix}" for k, v in base.items() if k in _OUTPUT_FLAGS + ("log_name",)})
    return out


def _coco_defaults(parser_defaults: dict, root: str | None) -> dict:
    return {"train_list": "coco14/train14.txt", "val_list": "coco14/val14.txt",
            "infer_list": "coco14/train14.txt", "cls_labels": "coco14/cls_labels.npy", "sem_seg_bg_thres": 0.22,
            # The COCO DeepLab-v2 schedule that WSSS work uses (LPCAM's config): 100k steps at lr 2e-4.
            "seg_train_list": "coco14/train14.txt", "seg_eval_list": "coco14/val14.txt", "seg_iter_max": 100000,
            "seg_lr": 2e-4, **_suffixed(parser_defaults, "_coco")}


def _folder_defaults(parser_defaults: dict, root: str | None) -> dict:
    base = Path(root) if root else Path("data/folder")
    return {"train_list": str(base / "train.txt"), "val_list": str(base / "val.txt"),
            "infer_list": str(base / "train.txt"), "cls_labels": str(base / "cls_labels.npy"),
            "seg_train_list": str(base / "train.txt"), "seg_eval_list": str(base / "val.txt"),
            **_suffixed(parser_defaults, "_folder")}


DATASETS = {
    "voc12": DatasetEntry(lambda root: VOC12, lambda defaults, root: {},
                          {"cam": (0.30, 0.05), "amn": (0.45, 0.15)}),
    "coco14": DatasetEntry(lambda root: COCO14, _coco_defaults, {"cam": (0.45, 0.15), "amn": (0.45, 0.15)}),
    "folder": DatasetEntry(load_folder_spec, _folder_defaults, {"cam": (0.30, 0.05), "amn": (0.45, 0.15)}),
}
NAMES = tuple(DATASETS)


def entry(name: str) -> DatasetEntry:
    """The registry entry of ``--dataset name``; an unknown name is an error listing the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise PipelineError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}") from None


def step_defaults(name: str, parser_defaults: dict, root: str | None = None) -> dict:
    """Flag values that differ from the VOC driver's defaults for dataset ``name``."""
    return entry(name).defaults(parser_defaults, root)


def follow_label_folder(args, given: set[str]) -> None:
    """COCO's lists sit beside its labels (prepare's --out_dir): the segmentation lists follow --cls_labels
    unless given, as the eval lists do."""
    if args.dataset != "coco14":
        return
    base = Path(args.cls_labels).parent
    for flag, name in (("seg_train_list", "train14.txt"), ("seg_eval_list", "val14.txt")):
        if flag not in given:
            setattr(args, flag, str(base / name))


def dataset_root(args) -> str | None:
    """The value of the dataset's root flag (--voc12_root, --coco14_root or --folder_root)."""
    return vars(args).get(f"{args.dataset}_root")


def get_dataset(args) -> DatasetSpec:
    """The spec of ``args.dataset``, with ``--gt_dir`` applied."""
    spec = entry(args.dataset).spec(dataset_root(args))
    gt_dir = args.gt_dir
    return dataclasses.replace(spec, gt_root=gt_dir) if gt_dir else spec


def checked_root(args) -> Path:
    """The dataset root after the spec's checks."""
    return get_dataset(args).check_root(dataset_root(args))


def seed_thresholds(args, kind: str) -> tuple[float, float]:
    """(fg, bg) for ``kind`` 'cam' or 'amn': the flags if given, else the dataset's defaults."""
    fg, bg = entry(args.dataset).seed_thresholds[kind]
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
