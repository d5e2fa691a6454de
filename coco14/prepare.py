"""Derive what the pipeline needs from an MS COCO 2014 download, with pycocotools.

Reads --coco14_root/annotations/instances_{train,val}2014.json and writes
  <out_dir>/train14.txt, <out_dir>/val14.txt   every image ID of the split, as 12-digit strings
  <out_dir>/cls_labels.npy                     80-class image-level labels (categories in increasing id order)
  <coco14_root>/SegmentationClass/{train2014,val2014}/<id>.png
                                               0 background, 1..80 the categories, 255 every crowd pixel
A later annotation overwrites an earlier one; crowd regions are 255 whatever else covers them.

Usage: python -m coco14.prepare --coco14_root DIR [--out_dir coco14] [--splits train2014 val2014]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from coco14.dataloader import CATEGORIES, COCO14, N_CAT, SPLITS
from misc import coco_format
from misc.errors import PipelineError, close_progress_bars
from misc.fileio import atomic_open, read_record, save_png
from misc.provenance import file_digest, record_digest
from voc12.dataloader import save_cls_labels

FULL_SIZES = {"train2014": 82783, "val2014": 40504}
LIST_NAMES = {"train2014": "train14.txt", "val2014": "val14.txt"}
MASK_RULES = "coco14-masks-v1: json order, later wins; crowd 255 last"


def load_instances(path: Path) -> dict:
    """The instances JSON; a missing or malformed file is an error that names it."""
    if not path.is_file():
        raise PipelineError(f"annotation file {path} does not exist; download annotations_trainval2014.zip and "
                            "unpack it into --coco14_root (it holds annotations/instances_*2014.json)")
    try:
        with open(path) as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PipelineError(f"annotation file {path} is not valid JSON ({err}); download it again") from err
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise PipelineError(f"annotation file {path} has no '{key}'; is it an instances_*.json file?")
    return data


def category_index(categories: list[dict], source: Path) -> dict[int, int]:
    """COCO category id -> 0-based label index, which must be the 80 official categories."""
    ids = sorted(int(c["id"]) for c in categories)
    official = [cid for cid, _ in CATEGORIES]
    if ids != official:
        raise PipelineError(f"{source} has {len(ids)} categories that are not COCO's 80 (ids {ids[:5]}...); "
                            "use the official instances JSON")
    return {cid: i for i, cid in enumerate(official)}


def annotation_mask(segmentation, height: int, width: int) -> np.ndarray:
    """A boolean mask from polygons, an uncompressed RLE or a compressed RLE."""
    return coco_format.decode_segmentation(segmentation, height, width)


def gt_mask(anns: list[dict], height: int, width: int, index: dict[int, int]) -> np.ndarray:
    """Painter's order over the non-crowd annotations, then 255 over every crowd pixel."""
    mask = np.zeros((height, width), np.uint8)
    for ann in anns:
        if not ann.get("iscrowd", 0):
            mask[annotation_mask(ann["segmentation"], height, width)] = index[ann["category_id"]] + 1
    for ann in anns:
        if ann.get("iscrowd", 0):
            mask[annotation_mask(ann["segmentation"], height, width)] = 255
    return mask


def image_label(anns: list[dict], index: dict[int, int]) -> np.ndarray:
    """Multi-hot label of every category annotated in the image (crowd annotations included)."""
    label = np.zeros(N_CAT, np.float32)
    for ann in anns:
        label[index[ann["category_id"]]] = 1.0
    return label


def group_annotations(data: dict, index: dict[int, int], source: Path) -> dict[int, list[dict]]:
    """Annotations per image id, in file order; unknown category or image ids are errors."""
    image_ids = {int(im["id"]) for im in data["images"]}
    per_image: dict[int, list[dict]] = defaultdict(list)
    for ann in data["annotations"]:
        if ann["category_id"] not in index:
            raise PipelineError(f"{source}: annotation {ann.get('id')} has category_id {ann['category_id']}, which "
                                "is not among the file's categories; the file is damaged")
        if int(ann["image_id"]) not in image_ids:
            raise PipelineError(f"{source}: annotation {ann.get('id')} refers to image {ann['image_id']}, which is "
                                "not among the file's images")
        per_image[int(ann["image_id"])].append(ann)
    return per_image


def check_images(root: Path, split: str, images: list[dict]) -> None:
    """Every image the JSON lists exists, with the size the JSON says (header only, no decoding)."""
    paths = [COCO14.image_path(root, f"{int(im['id']):012d}") for im in images]
    missing = [im for im, path in zip(images, paths) if not path.is_file()]
    if missing:
        raise PipelineError(f"{len(missing)} images of instances_{split}.json are missing under {root} (first: "
                            f"{split}/{missing[0]['file_name']}); unpack {split}.zip into --coco14_root")
    for im, path in tqdm(zip(images, paths), total=len(images), desc=f"check {split} images", dynamic_ncols=True,
                         mininterval=2):
        try:
            with Image.open(path) as img:
                size = img.size
        except OSError as err:
            raise PipelineError(f"image {path} cannot be read ({err}); download it again") from err
        if size != (im["width"], im["height"]):
            raise PipelineError(f"image {path} is {size[0]}x{size[1]} but the JSON says {im['width']}x{im['height']}")


def _write_mask(job) -> None:
    path, anns, height, width, index, record = job
    save_png(path, gt_mask(anns, height, width, index), COCO14.palette(), record=record)


def _mask_is_current(path: Path, record: str) -> bool:
    try:
        return path.is_file() and read_record(path) == record
    except ValueError:
        return False


def write_masks(root: Path, split: str, images, per_image, index, record: str, num_workers: int) -> int:
    """Ground-truth PNGs of one split; current ones are kept, so a killed run resumes."""
    out = root / "SegmentationClass" / split
    jobs = [(out / f"{int(im['id']):012d}.png", per_image.get(int(im["id"]), []), im["height"], im["width"],
             index, record) for im in images]
    jobs = [j for j in jobs if not _mask_is_current(j[0], record)]
    if not jobs:
        print(f"{split}: every ground-truth mask is up to date in {out}")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    if num_workers <= 1:
        for job in tqdm(jobs, desc=f"{split} masks", dynamic_ncols=True):
            _write_mask(job)
    else:
        with mp.get_context("spawn").Pool(num_workers) as pool:
            for _ in tqdm(pool.imap_unordered(_write_mask, jobs, chunksize=16), total=len(jobs),
                          desc=f"{split} masks", dynamic_ncols=True):
                pass
    return len(jobs)


def prepare_split(root: Path, split: str, out_dir: Path, masks: bool, num_workers: int) -> dict[str, np.ndarray]:
    """The list, labels and (optionally) masks of one split; returns its labels."""
    source = root / "annotations" / f"instances_{split}.json"
    data = load_instances(source)
    index = category_index(data["categories"], source)
    per_image = group_annotations(data, index, source)
    del data["annotations"]
    images = sorted(data["images"], key=lambda im: int(im["id"]))
    check_images(root, split, images)
    names = [f"{int(im['id']):012d}" for im in images]
    if len(names) != FULL_SIZES[split]:
        print(f"{split}: {len(names)} images (the full split has {FULL_SIZES[split]:,}); a subset or another "
              "release")
    else:
        print(f"{split}: {len(names):,} images, as in the full release")
    with atomic_open(out_dir / LIST_NAMES[split], "w") as f:
        f.write("".join(n + "\n" for n in names))
    if masks:
        record = record_digest({"rules": MASK_RULES, "annotations": file_digest(source)})
        write_masks(root, split, images, per_image, index, record, num_workers)
    return {n: image_label(per_image.get(int(im["id"]), []), index) for n, im in zip(names, images)}


def prepare(coco14_root: str, out_dir: str = "coco14", splits=SPLITS, masks: bool = True,
            num_workers: int = 1) -> dict[str, np.ndarray]:
    """Lists, image-level labels and ground-truth masks for ``splits``; returns the labels."""
    root = COCO14.check_root(coco14_root)
    out = Path(out_dir)
    labels: dict[str, np.ndarray] = {}
    for split in splits:
        labels.update(prepare_split(root, split, out, masks, num_workers))
    save_cls_labels(out / "cls_labels.npy", labels)
    print(f"wrote {out}/cls_labels.npy ({len(labels)} images, {N_CAT} classes)")
    return labels


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--coco14_root", required=True, help="COCO 2014 folder with train2014/, val2014/, annotations/")
    p.add_argument("--out_dir", default="coco14", help="where the lists and cls_labels.npy go")
    p.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS, help="splits to prepare")
    p.add_argument("--no_masks", action="store_true",
                   help="skip the ground-truth PNGs (evaluate against masks made elsewhere with --gt_dir)")
    p.add_argument("--num_workers", type=int, default=1, help="processes that write masks")
    a = p.parse_args(argv)
    try:
        prepare(a.coco14_root, a.out_dir, tuple(a.splits), not a.no_masks, a.num_workers)
    except PipelineError as err:
        close_progress_bars()
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()
