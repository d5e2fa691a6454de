"""Where an own folder's image-level labels come from, and the image ID of every labelled file.

Three label sources: a CSV (as spreadsheets save it: UTF-8 with or without a byte-order mark, LF or CRLF,
quoted names with commas; rows ``image,class;class``, a header row allowed, repeated rows of one image merged),
a JSON object ``{"image": ["class", ...]}`` (optionally ``{"classes": [...], "labels": {...}}``), or no file at
all: a tree of class folders ``root/<class>/.../<image>`` (torchvision's ``ImageFolder``: one class per image,
the first-level folder's name).

An image's ID is its path relative to ``--images`` without the extension (``cats/001``, ``café photo``), so
nested folders and repeated file names never collide. Two labelled files that still give one ID
(``a.jpg`` and ``a.png``) are a problem that names both; nothing is dropped without a word.
"""
from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from dataset.spec import list_line_id
from misc.errors import PipelineError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
HEADER_NAMES = ("image", "images", "file", "filename", "file_name", "name", "path")


@dataclass
class LabelledImages:
    """What the label source says: per ID its file (relative to ``--images``, POSIX) and class names, the
    declared classes (or None), and the problems found (``(file, reason)``) and files left out (``notes``)."""

    files: dict[str, str] = field(default_factory=dict)
    classes: dict[str, list[str]] = field(default_factory=dict)
    declared: list[str] | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTS)


def image_id(rel_path: str) -> str:
    """The ID of a file at ``rel_path`` (POSIX, relative to the image folder): the path without its extension."""
    p = PurePosixPath(rel_path)
    return str(p.with_suffix("")) if p.suffix else str(p)


def scan_images(root: Path) -> tuple[list[str], list[str]]:
    """(image files, other files) under ``root``, as sorted POSIX paths relative to it; hidden files and
    folders (``.DS_Store``, ``.ipynb_checkpoints``) are skipped."""
    images, others = [], []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = Path(folder).relative_to(root)
        for name in files:
            if name.startswith("."):
                continue
            (images if is_image_name(name) else others).append((rel / name).as_posix())
    return sorted(images), sorted(others)


def read_label_file(path: Path) -> tuple[dict[str, list[str]], list[str] | None]:
    """``({image: [class names]}, declared classes or None)`` from a CSV or JSON file."""
    if not path.is_file():
        raise PipelineError(f"label file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise PipelineError(f"label file {path} is not UTF-8 text ({err}); save it as UTF-8 (CSV UTF-8 in a "
                            "spreadsheet)") from err
    if path.suffix.lower() == ".json":
        return _read_json(path, text)
    return _read_csv(text), None


def _read_json(path: Path, text: str) -> tuple[dict[str, list[str]], list[str] | None]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise PipelineError(f"label file {path} is not valid JSON ({err})") from err
    declared = None
    if isinstance(data, dict) and "labels" in data:
        data, declared = data["labels"], data.get("classes")
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise PipelineError(f"label file {path} must map each image to a list of class names")
    return {str(k): [str(c) for c in v] for k, v in data.items()}, declared


def _read_csv(text: str) -> dict[str, list[str]]:
    """Rows ``image,class;class``; repeated rows of one image add their classes (one row per image and class
    is how many spreadsheets hold labels)."""
    labels: dict[str, list[str]] = {}
    for i, row in enumerate(csv.reader(io.StringIO(text, newline=""))):
        if not row or not row[0].strip():
            continue
        if i == 0 and row[0].strip().lower() in HEADER_NAMES:
            continue
        names = [n.strip() for cell in row[1:] for n in cell.split(";") if n.strip()]
        merged = labels.setdefault(row[0].strip(), [])
        merged += [n for n in names if n not in merged]
    return labels


def _match(key: str, by_path: set[str], by_id: dict[str, list[str]]) -> list[str]:
    """The files a label key names: the file itself when the key has its extension, else the files of that ID."""
    key = key.replace("\\", "/").removeprefix("./")
    if key in by_path:
        return [key]
    found = by_id.get(key, [])
    if not found and is_image_name(key):  # named x.jpg where the file is x.png
        found = by_id.get(image_id(key), [])
    return found


def from_label_file(images: Path, source: Path) -> LabelledImages:
    """The labelled images of a CSV or JSON file, each resolved to one file under ``images``."""
    per_key, declared = read_label_file(source)
    if not per_key:
        raise PipelineError(f"label file {source} lists no image")
    files, others = scan_images(images)
    by_id: dict[str, list[str]] = {}
    for f in files:
        by_id.setdefault(image_id(f), []).append(f)
    out = LabelledImages(declared=declared)
    by_path = set(files)  # once, not per row: the match is then constant time and the import linear
    for key, names in per_key.items():
        found = _match(key, by_path, by_id)
        if not found:
            out.problems.append((key, f"named in {source.name} but not in {images}"))
        elif len(found) > 1:
            out.problems.append((key, f"matches {' and '.join(found)}; name the file with its extension"))
        else:
            _add(out, found[0], names)
    labelled = set(out.files.values())
    unlabelled = [f for f in files if f not in labelled]
    if unlabelled:
        out.notes.append(f"{len(unlabelled)} images in {images} have no label in {source.name} and are not "
                         f"imported (first: {unlabelled[0]})")
    return out


def from_class_folders(images: Path) -> LabelledImages:
    """The labelled images of a tree of class folders: ``images/<class>/.../<image>``, one class per image."""
    files, others = scan_images(images)
    out = LabelledImages()
    for f in files:
        parts = PurePosixPath(f).parts
        if len(parts) == 1:
            out.problems.append((f, "lies outside any class folder (with no --labels, the first folder under "
                                    "--images is the image's class)"))
        else:
            _add(out, f, [parts[0]])
    if not out.files and not out.problems:
        raise PipelineError(f"{images} holds no image (extensions {', '.join(IMAGE_EXTS)}, any case)")
    if others:
        out.notes.append(f"{len(others)} files in {images} are not images by their extension and are not imported "
                         f"(first: {others[0]})")
    return out


def _add(out: LabelledImages, rel: str, names: list[str]) -> None:
    """Record ``rel`` under its ID, or a problem naming both files when another file already has that ID."""
    iid = image_id(rel)
    if iid in out.files and out.files[iid] != rel:
        out.problems.append((rel, f"gives the ID {iid!r}, as {out.files[iid]} does; rename one of them"))
        return
    if list_line_id(iid) != iid or "\n" in iid or "\r" in iid:
        out.problems.append((rel, f"its ID {iid!r} would not read back from a list file (it starts or ends with "
                                  "a space, or looks like a path line); rename the file"))
        return
    out.files[iid] = rel
    merged = out.classes.setdefault(iid, [])
    merged += [n for n in names if n not in merged]
