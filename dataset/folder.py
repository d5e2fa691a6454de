"""Your own data: a folder of images with image-level labels, on the dataset layer.

  python -m dataset.folder --images DIR [--labels labels.csv|labels.json] [--masks DIR] [--classes a,b,c] \
      --out_dir data/mine [--skip_invalid]

Labels come from a CSV (``image,class;class``, as a spreadsheet saves it), a JSON object
``{"image": ["class", ...]}`` (optionally ``{"classes": [...], "labels": {...}}``), or, without ``--labels``,
from a tree of class folders ``DIR/<class>/<image>`` (one class per image). Label files name images by their
path under ``--images``, with or without the extension. An image's ID is that path without the extension
(``cats/001``); IDs may hold spaces and any Unicode, and outputs are written under the same relative path.
Class names come from ``--classes`` or the JSON's ``classes`` (then any other name is an error), else from
every name used, sorted. Optional ground-truth masks are PNGs ``--masks/<id>.png``: 0 background, i the i-th
class (1-based), 255 ignored, drawn on the image as displayed (phone photos are turned by their EXIF
orientation, here and in every step).

The import decodes every image and mask once, on all cores, and refuses the folder (writing nothing) when an
image cannot be decoded, a mask's size differs from its image's, a mask holds a value other than 0..C and 255,
or a labelled image has no mask while others have one. ``--skip_invalid`` imports the rest instead and lists
the rejected files and why in ``<out_dir>/rejected.txt``.

It writes to --out_dir: ``train.txt``, ``val.txt`` (every ``1/val_fraction``-th image), ``cls_labels.npy`` and
``dataset.json``; run the pipeline with ``--dataset folder --folder_root <out_dir>``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from dataset import folder_check, folder_labels
from dataset.registry import DatasetEntry, register_dataset, suffixed_outputs
from dataset.spec import DatasetSpec, save_cls_labels
from misc.errors import PipelineError, close_progress_bars
from misc.filecache import load_once
from misc.fileio import atomic_open

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".JPG", ".JPEG", ".PNG")
DESCRIPTION = "dataset.json"
REJECTED = "rejected.txt"
# How many problems a refusal lists one per line before it gives the count of the rest.
SHOWN_PROBLEMS = 8


@dataclass(frozen=True)
class FolderSpec(DatasetSpec):
    """A prepared folder: ``root`` holds dataset.json and the lists; images and masks may live elsewhere.

    ``files`` maps each ID to its image's path relative to ``image_root`` (written by the import, so ``a``
    never finds ``a.png`` where ``a.jpg`` was imported); folders imported before it existed search
    ``image_exts`` in turn.
    """

    image_root: str = ""
    image_exts: tuple[str, ...] = IMAGE_EXTS
    instance_dir: str | None = None
    exif_transpose: bool = True
    files: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def image_path(self, root: str | os.PathLike, name: str) -> Path:
        base = Path(self.image_root)
        if name in self.files:
            return base / self.files[name]
        candidates = [base / f"{name}{ext}" for ext in self.image_exts]
        return next((c for c in candidates if c.is_file()), candidates[0])

    def image_file_name(self, root: str | os.PathLike, name: str) -> str:
        """The image's path relative to ``image_root`` (the images stay where they were imported from)."""
        return self.image_path(root, name).relative_to(self.image_root).as_posix()

    def split_path(self, root: str | os.PathLike, split: str) -> Path:
        return Path(root) / f"{split}.txt"

    def has_ground_truth(self, root: str | os.PathLike) -> bool:
        return bool(self.gt_root) and Path(self.gt_root).is_dir()

    def check_root(self, root: str | os.PathLike | None) -> Path:
        if root is None:
            raise PipelineError("--dataset folder needs --folder_root DIR (the --out_dir of python -m dataset.folder)")
        if not Path(self.image_root).is_dir():
            raise PipelineError(f"image folder {self.image_root} (from {Path(root) / DESCRIPTION}) does not exist")
        return Path(root)


def load_folder_spec(root: str | os.PathLike | None) -> FolderSpec:
    """The spec that ``python -m dataset.folder`` wrote into ``root``."""
    if root is None:
        raise PipelineError("--dataset folder needs --folder_root DIR (the --out_dir of python -m dataset.folder)")
    path = Path(root) / DESCRIPTION
    if not path.is_file():
        raise PipelineError(f"{path} does not exist; prepare the folder first with python -m dataset.folder "
                            f"--images DIR --labels FILE --out_dir {root}")
    desc = load_once(path, lambda p: json.loads(p.read_text(encoding="utf-8")), "folder description")
    masks = desc.get("masks")
    return FolderSpec(name="folder", class_names=tuple(desc["classes"]), image_dir="", gt_dir="",
                      gt_root=masks, root_flag="--folder_root", image_root=desc["images"],
                      prepare_command="python -m dataset.folder --images DIR --labels FILE --out_dir DIR",
                      image_exts=tuple(desc.get("image_exts", IMAGE_EXTS)), files=desc.get("files", {}))


def _folder_defaults(parser_defaults: dict, root: str | None) -> dict:
    """The lists and labels of a prepared folder, and outputs named ``*_folder``."""
    base = Path(root) if root else Path("data/folder")
    return {"train_list": str(base / "train.txt"), "val_list": str(base / "val.txt"),
            "infer_list": str(base / "train.txt"), "cls_labels": str(base / "cls_labels.npy"),
            "seg_train_list": str(base / "train.txt"), "seg_eval_list": str(base / "val.txt"),
            **suffixed_outputs(parser_defaults, "_folder")}


register_dataset("folder", DatasetEntry(spec=load_folder_spec, defaults=_folder_defaults,
                                        seed_thresholds={"cam": (0.30, 0.05), "amn": (0.45, 0.15)}))


def class_names_of(found: folder_labels.LabelledImages, classes: list[str] | None, source: str) -> list[str]:
    """The class list: ``--classes``, else the JSON's declared list, else every name used, sorted."""
    declared = classes or found.declared
    used = sorted({c for cs in found.classes.values() for c in cs})
    names = list(declared) if declared else used
    unknown = [c for c in used if c not in names]
    if unknown:
        raise PipelineError(f"{source} names class {unknown[0]!r}, which is not among the classes "
                            f"({', '.join(names)})")
    return names


def mask_jobs(found: folder_labels.LabelledImages, images: Path, masks: Path | None,
              n_classes: int) -> tuple[list[folder_check.CheckJob], list[tuple[str, str]]]:
    """A decode job per image (with its mask where masks are given), and the images that lack a mask while
    others have one."""
    ids = sorted(found.files)
    mask_of = {i: folder_check.mask_file(masks, i) for i in ids} if masks else {}
    have = {i for i, m in mask_of.items() if m.is_file()}
    if masks and not have:
        raise PipelineError(f"--masks {masks} holds no mask of any image (looked for <id>.png, e.g. "
                            f"{mask_of[ids[0]]})")
    missing = [(found.files[i], f"has no mask {mask_of[i]}, while {len(have)} other images have one")
               for i in ids if masks and i not in have]
    jobs = [folder_check.CheckJob(str(images / found.files[i]), str(mask_of[i]) if i in have else None, n_classes)
            for i in ids]
    return jobs, missing


def refusal(problems: list[tuple[str, str]]) -> str:
    """The refusal message: one line per problem for the first few, then the count of the rest."""
    lines = [f"  {name}: {reason}" for name, reason in problems[:SHOWN_PROBLEMS]]
    if len(problems) > SHOWN_PROBLEMS:
        lines.append(f"  ... and {len(problems) - SHOWN_PROBLEMS} more")
    count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
    return (f"{count} in the folder; nothing was imported (fix them, or pass --skip_invalid to "
            "import the rest and list these in rejected.txt):\n" + "\n".join(lines))


def split_ids(ids: list[str], val_fraction: float) -> tuple[list[str], list[str]]:
    """(train, val): every ``1/val_fraction``-th of the sorted IDs is held out."""
    every = max(2, round(1 / val_fraction)) if val_fraction > 0 else 0
    val = [s for i, s in enumerate(ids) if every and i % every == every - 1]
    held = set(val)
    return [s for s in ids if s not in held], val


def write_folder(out: Path, found: folder_labels.LabelledImages, class_names: list[str], images: Path,
                 masks: Path | None, val_fraction: float) -> tuple[int, int]:
    """The lists, labels and description of the checked images; dataset.json last, as it marks a finished
    import. Returns (train, val) counts."""
    index = {c: i for i, c in enumerate(class_names)}
    vectors = {}
    for iid, cs in found.classes.items():
        v = np.zeros(len(class_names), np.float32)
        v[[index[c] for c in cs]] = 1.0
        vectors[iid] = v
    train, val = split_ids(sorted(vectors), val_fraction)
    for split, names in (("train", train), ("val", val)):
        with atomic_open(out / f"{split}.txt", "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(n + "\n" for n in names))
    save_cls_labels(out / "cls_labels.npy", vectors)
    exts = sorted({Path(f).suffix for f in found.files.values()})
    desc = {"images": str(images.resolve()), "masks": str(masks.resolve()) if masks else None,
            "classes": class_names, "image_exts": exts + [e for e in IMAGE_EXTS if e not in exts],
            "files": dict(sorted(found.files.items()))}
    with atomic_open(out / DESCRIPTION, "w", encoding="utf-8") as f:
        json.dump(desc, f, indent=1, ensure_ascii=False)
    return len(train), len(val)


def write_rejected(out: Path, rejected: list[tuple[str, str]]) -> None:
    """``rejected.txt``: one ``file<TAB>reason`` line per rejected file (removed when nothing is rejected)."""
    path = out / REJECTED
    if not rejected:
        path.unlink(missing_ok=True)
        return
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(f"{name}\t{reason}\n" for name, reason in rejected))


@dataclass(frozen=True)
class ImportCheck:
    """How the import checks the files: ``skip_invalid`` imports the usable ones (else bad files refuse the
    folder); ``workers`` decoding processes (None: every core, 0: this process)."""

    skip_invalid: bool = False
    workers: int | None = None


def prepare(images: str, labels: str | None, out_dir: str, masks: str | None = None,
            classes: list[str] | None = None, val_fraction: float = 0.1,
            check: ImportCheck = ImportCheck()) -> FolderSpec:
    """Check every image (and mask) of a folder and write its lists, labels and description; returns its spec.
    ``labels`` None reads the classes from the folder tree."""
    image_dir, mask_dir = Path(images), Path(masks) if masks else None
    if not image_dir.is_dir():
        raise PipelineError(f"image folder {image_dir} does not exist")
    if mask_dir and not mask_dir.is_dir():
        raise PipelineError(f"mask folder {mask_dir} does not exist")
    found = (folder_labels.from_label_file(image_dir, Path(labels)) if labels
             else folder_labels.from_class_folders(image_dir))
    for note in found.notes:
        print(f"note: {note}")
    class_names = class_names_of(found, classes, f"label file {labels}" if labels else f"class folders of {images}")
    jobs, problems = mask_jobs(found, image_dir, mask_dir, len(class_names)) if found.files else ([], [])
    problems = found.problems + problems
    workers = folder_check.default_workers() if check.workers is None else check.workers
    decoded = folder_check.check_all(jobs, workers)
    rel = {str(image_dir / f): f for f in found.files.values()}
    problems += [(rel[j.image], why) for j, why in zip(jobs, decoded) if why]
    if problems and not check.skip_invalid:
        raise PipelineError(refusal(problems))
    bad = {name for name, _ in problems}
    for iid in [i for i, f in found.files.items() if f in bad]:
        del found.files[iid], found.classes[iid]
    if not found.files:
        raise PipelineError(f"no usable image left in {image_dir} ({len(problems)} rejected)")
    out = Path(out_dir)
    n_train, n_val = write_folder(out, found, class_names, image_dir, mask_dir, val_fraction)
    write_rejected(out, problems)
    print(f"{out}: {n_train} train, {n_val} val images, {len(class_names)} classes ({', '.join(class_names)}); "
          f"masks: {masks or 'none (evaluation is skipped)'}"
          + (f"; {len(problems)} files rejected, listed in {out / REJECTED}" if problems else ""))
    return load_folder_spec(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, help="folder of images (with no --labels: a folder of class folders)")
    p.add_argument("--labels", default=None,
                   help="CSV (image,class;class) or JSON ({image: [classes]}) file; leave out for class folders")
    p.add_argument("--masks", default=None, help="optional folder of ground-truth PNGs <id>.png")
    p.add_argument("--classes", default=None, help="comma-separated class list (default: the label file's)")
    p.add_argument("--val_fraction", type=float, default=0.1, help="share of images held out in val.txt")
    p.add_argument("--out_dir", required=True, help="where the lists, labels and dataset.json go")
    p.add_argument("--skip_invalid", action="store_true",
                   help="import the usable images and list the rest, with reasons, in <out_dir>/rejected.txt "
                        "(default: refuse the folder)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes that decode the images (default: every core; 0: this process)")
    a = p.parse_args(argv)
    try:
        prepare(a.images, a.labels, a.out_dir, a.masks, a.classes.split(",") if a.classes else None,
                a.val_fraction, ImportCheck(a.skip_invalid, a.workers))
    except PipelineError as err:
        close_progress_bars()
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()
