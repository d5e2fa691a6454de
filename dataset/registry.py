"""The dataset registry: ``--dataset NAME`` -> its spec, flag defaults and seed thresholds. Each dataset
registers itself where it is defined (``voc12/dataloader.py``, ``coco14/dataloader.py``, ``dataset/folder.py``)
with :func:`register_dataset`; the registry holds no branch on a dataset's name.

Steps hand the registry and the checks a :class:`DataConfig`, the dataset flags read once at the edge
(``step/_config.py:data_config``), never the flags namespace.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dataset.spec import DatasetSpec, load_img_name_list
from misc.errors import PipelineError


@dataclass(frozen=True)
class DatasetEntry:
    """What ``--dataset NAME`` means: its spec (read from the root for an own folder), the flag values that
    differ from the VOC driver's defaults, the seed thresholds (fg, bg) of the CAM and AMN seeds, and, for a
    dataset whose lists sit beside its label file (COCO: prepare's --out_dir holds both) rather than in the
    spec's list folder, the file each segmentation list flag names there."""

    spec: Callable[[str | None], DatasetSpec]
    defaults: Callable[[dict, str | None], dict]
    seed_thresholds: dict[str, tuple[float, float]]
    lists_beside_labels: dict[str, str] = dataclasses.field(default_factory=dict)


DATASETS: dict[str, DatasetEntry] = {}


def _same_entry(a: DatasetEntry, b: DatasetEntry) -> bool:
    """The same registration made twice: a module run as a script (``python -m dataset.folder``) is also
    imported under its own name, and both copies register their (equal, not identical) functions."""
    def key(e: DatasetEntry):
        return (e.spec.__qualname__, e.defaults.__qualname__, e.seed_thresholds, e.lists_beside_labels)

    return key(a) == key(b)


def register_dataset(name: str, entry: DatasetEntry) -> DatasetEntry:
    """Make ``--dataset name`` mean ``entry`` (called beside the dataset's definition); the first registration
    of a name stays, and another entry under it is refused."""
    if name in DATASETS:
        if not _same_entry(DATASETS[name], entry):
            raise PipelineError(f"dataset {name!r} is registered twice")
        return DATASETS[name]
    DATASETS[name] = entry
    return entry


@dataclass(frozen=True)
class DataConfig:
    """The dataset flags a step reads, once: --dataset, its root (``--<dataset>_root``), --gt_dir,
    --cls_labels, --chainer_eval_set and the seed thresholds (None: the dataset's own)."""

    dataset: str
    root: str | None
    cls_labels: str
    gt_dir: str | None = None
    chainer_eval_set: str = "train"
    conf_fg_thres: float | None = None
    conf_bg_thres: float | None = None

    def spec(self) -> DatasetSpec:
        """The dataset's spec, with ``--gt_dir`` applied."""
        spec = entry(self.dataset).spec(self.root)
        return dataclasses.replace(spec, gt_root=self.gt_dir) if self.gt_dir else spec

    def checked_root(self) -> Path:
        """The dataset root after the spec's checks."""
        return self.spec().check_root(self.root)

    def seed_thresholds(self, kind: str) -> tuple[float, float]:
        """(fg, bg) for ``kind`` 'cam' or 'amn': the flags if given, else the dataset's defaults."""
        fg, bg = entry(self.dataset).seed_thresholds[kind]
        return (fg if self.conf_fg_thres is None else self.conf_fg_thres,
                bg if self.conf_bg_thres is None else self.conf_bg_thres)

    def eval_list_path(self) -> Path:
        """The list the eval steps score: the dataset's ``--chainer_eval_set`` split (beside the labels where the
        dataset keeps its lists there, as COCO's prepare writes them)."""
        spec = self.spec()
        if entry(self.dataset).lists_beside_labels:
            spec = dataclasses.replace(spec, list_dir=str(Path(self.cls_labels).parent))
        return spec.split_path(self.root or ".", self.chainer_eval_set)

    def eval_names(self) -> list[str]:
        return load_img_name_list(self.eval_list_path())


def names() -> tuple[str, ...]:
    """The registered datasets, sorted."""
    return tuple(sorted(DATASETS))


def entry(name: str) -> DatasetEntry:
    """The registry entry of ``--dataset name``; an unknown name is an error listing the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise PipelineError(f"unknown dataset {name!r}; choose one of {', '.join(names())}") from None


def step_defaults(name: str, parser_defaults: dict, root: str | None = None) -> dict:
    """Flag values that differ from the VOC driver's defaults for dataset ``name``."""
    return entry(name).defaults(parser_defaults, root)


def lists_beside_labels(name: str, cls_labels: str, given: set[str]) -> dict:
    """Where a dataset keeps its lists beside its labels, the segmentation lists not ``given`` follow
    --cls_labels, as the eval lists do."""
    base = Path(cls_labels).parent
    return {flag: str(base / file) for flag, file in entry(name).lists_beside_labels.items() if flag not in given}


_OUTPUT_FLAGS = ("cam_out_dir", "ir_label_out_dir", "amn_cam_out_dir", "amn_ir_label_out_dir", "sem_seg_out_dir",
                 "sem_seg_map_dir", "ins_seg_out_dir", "seg_out_dir")
_WEIGHT_FLAGS = ("cam_weights_name", "amn_weights_name", "irn_weights_name", "seg_weights_name")


def suffixed_outputs(base: dict, suffix: str) -> dict:
    """Official COCO naming, for a dataset's defaults: sess/res50_cam_coco.pth, result/cam_coco, ..."""
    out = {k: f"{Path(v).with_suffix('')}{suffix}.pth" for k, v in base.items() if k in _WEIGHT_FLAGS}
    out.update({k: f"{v}{suffix}" for k, v in base.items() if k in _OUTPUT_FLAGS + ("log_name",)})
    return out


# The datasets register themselves on import; importing them here makes the table complete for any caller.
from coco14 import dataloader as _coco14  # noqa: E402,F401
from dataset import folder as _folder  # noqa: E402,F401
from voc12 import dataloader as _voc12  # noqa: E402,F401
