"""Your own data: a folder of images and a CSV or JSON of image-level labels, on the dataset layer.

  python -m dataset.folder --images DIR --labels labels.csv [--masks DIR] [--classes a,b,c] --out_dir data/mine

The label file is either a CSV whose rows are ``image,class;class;...`` (a header row
``image,labels`` is allowed) or a JSON object ``{"image": ["class", ...]}``, optionally
wrapped as ``{"classes": [...], "labels": {...}}``. Images are named by file name or stem.
Class names come from ``--classes`` or the JSON's ``classes`` (then any other name is an
error), else from every name in the file, sorted. Optional ground-truth masks are PNGs
with the image's stem: 0 background, i the i-th class (1-based), 255 ignored.

It writes to --out_dir: ``train.txt``, ``val.txt`` (every ``1/val_fraction``-th image),
``cls_labels.npy`` and ``dataset.json``; run the pipeline with
``--dataset folder --folder_root <out_dir>``.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dataset.spec import DatasetSpec, save_cls_labels
from misc.errors import PipelineError
from misc.fileio import atomic_open

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".JPG", ".JPEG", ".PNG")
DESCRIPTION = "dataset.json"


@dataclass(frozen=True)
class FolderSpec(DatasetSpec):
    """A prepared folder: ``root`` holds dataset.json and the lists; images and masks may live elsewhere."""

    image_root: str = ""
    image_exts: tuple[str, ...] = IMAGE_EXTS
    instance_dir: str | None = None

    def image_path(self, root: str | os.PathLike, name: str) -> Path:
        base = Path(self.image_root)
        candidates = [base / f"{name}{ext}" for ext in self.image_exts]
        return next((c for c in candidates if c.is_file()), candidates[0])

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
    desc = json.loads(path.read_text())
    masks = desc.get("masks")
    return FolderSpec(name="folder", class_names=tuple(desc["classes"]), image_dir="", gt_dir="",
                      gt_root=masks, root_flag="--folder_root", image_root=desc["images"],
                      prepare_command="python -m dataset.folder --images DIR --labels FILE --out_dir DIR",
                      image_exts=tuple(desc.get("image_exts", IMAGE_EXTS)))


def read_label_file(path: Path) -> tuple[dict[str, list[str]], list[str] | None]:
    """``({image: [class names]}, declared classes or None)`` from a CSV or JSON file."""
    if not path.is_file():
        raise PipelineError(f"label file {path} does not exist")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise PipelineError(f"label file {path} is not valid JSON ({err})") from err
        if isinstance(data, dict) and "labels" in data:
            return {str(k): list(v) for k, v in data["labels"].items()}, data.get("classes")
        return {str(k): list(v) for k, v in data.items()}, None
    labels: dict[str, list[str]] = {}
    with open(path, newline="") as f:
        for i, row in enumerate(csv.reader(f)):
            if not row or (i == 0 and row[0].strip().lower() in ("image", "file", "filename", "name")):
                continue
            names = row[1].split(";") if len(row) > 1 else []
            labels[row[0].strip()] = [n.strip() for n in names if n.strip()]
    return labels, None


def resolve_images(images: Path, names: list[str], source: Path) -> dict[str, Path]:
    """Stem -> image file for every labelled name; a missing image is an error."""
    if not images.is_dir():
        raise PipelineError(f"image folder {images} does not exist")
    found = {}
    for name in names:
        direct = images / name
        cands = [direct] if direct.suffix else []
        cands += [images / f"{Path(name).stem}{ext}" for ext in IMAGE_EXTS]
        path = next((c for c in cands if c.is_file()), None)
        if path is None:
            raise PipelineError(f"label file {source} names image {name!r}, which is not in {images}")
        found[Path(name).stem] = path
    return found


def prepare(images: str, labels: str, out_dir: str, masks: str | None = None, classes: list[str] | None = None,
            val_fraction: float = 0.1) -> FolderSpec:
    """Write the lists, labels and description of a folder dataset; returns its spec."""
    source = Path(labels)
    per_image, declared = read_label_file(source)
    if not per_image:
        raise PipelineError(f"label file {source} lists no image")
    declared = classes or declared
    used = sorted({c for cs in per_image.values() for c in cs})
    class_names = list(declared) if declared else used
    unknown = [c for c in used if c not in class_names]
    if unknown:
        raise PipelineError(f"label file {source} names class {unknown[0]!r}, which is not among the classes "
                            f"({', '.join(class_names)})")
    files = resolve_images(Path(images), list(per_image), source)
    index = {c: i for i, c in enumerate(class_names)}
    vectors = {}
    for name, cs in per_image.items():
        v = np.zeros(len(class_names), np.float32)
        v[[index[c] for c in cs]] = 1.0
        vectors[Path(name).stem] = v
    stems = sorted(vectors)
    every = max(2, round(1 / val_fraction)) if val_fraction > 0 else 0
    val = [s for i, s in enumerate(stems) if every and i % every == every - 1]
    train = [s for s in stems if s not in set(val)]
    out = Path(out_dir)
    for split, names in (("train", train), ("val", val)):
        with atomic_open(out / f"{split}.txt", "w") as f:
            f.write("".join(n + "\n" for n in names))
    save_cls_labels(out / "cls_labels.npy", vectors)
    exts = sorted({p.suffix for p in files.values()}, key=lambda e: -sum(p.suffix == e for p in files.values()))
    desc = {"images": str(Path(images).resolve()), "masks": str(Path(masks).resolve()) if masks else None,
            "classes": class_names, "image_exts": exts + [e for e in IMAGE_EXTS if e not in exts]}
    with atomic_open(out / DESCRIPTION, "w") as f:
        json.dump(desc, f, indent=1)
    print(f"{out}: {len(train)} train, {len(val)} val images, {len(class_names)} classes "
          f"({', '.join(class_names)}); masks: {masks or 'none (evaluation is skipped)'}")
    return load_folder_spec(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, help="folder of images")
    p.add_argument("--labels", required=True, help="CSV (image,class;class) or JSON ({image: [classes]}) file")
    p.add_argument("--masks", default=None, help="optional folder of ground-truth PNGs with the images' stems")
    p.add_argument("--classes", default=None, help="comma-separated class list (default: the label file's)")
    p.add_argument("--val_fraction", type=float, default=0.1, help="share of images held out in val.txt")
    p.add_argument("--out_dir", required=True, help="where the lists, labels and dataset.json go")
    a = p.parse_args(argv)
    try:
        prepare(a.images, a.labels, a.out_dir, a.masks, a.classes.split(",") if a.classes else None, a.val_fraction)
    except PipelineError as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()
