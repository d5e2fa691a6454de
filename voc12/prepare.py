"""Derive what the pipeline needs from a VOC 2012 download (and SBD, if present).

Writes to --out_dir (default voc12/):
  cls_labels.npy   image-level labels of every listed image, from Annotations/*.xml
  train.txt        VOC ImageSets/Segmentation/train.txt
  val.txt          VOC ImageSets/Segmentation/val.txt
  train_aug.txt    (with SBD) VOC train + SBD train + SBD val - VOC val: 10,582 IDs on the full data
  test.txt         (when VOC2012test is extracted into the same folder) the 1,456 test IDs, for make_seg
and, with SBD, <voc12_root>/SegmentationClassAug/*.png converted from SBD's cls/*.mat.

Usage: python -m voc12.prepare --voc12_root VOCdevkit/VOC2012 [--sbd_root benchmark_RELEASE]
"""
from __future__ import annotations

import argparse
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
from tqdm import tqdm

from misc.fileio import atomic_open, load_png, save_png
from voc12.dataloader import CAT_NAME_TO_NUM, N_CAT, VOC12, check_root, load_img_name_list, save_cls_labels, voc_palette

FULL_TRAIN_AUG = 10582


def image_label_from_xml(path: Path) -> np.ndarray:
    """20-dim multi-hot label from the object names of one annotation file."""
    if not path.is_file():
        raise FileNotFoundError(f"annotation {path} is missing; every listed image needs its Annotations/*.xml")
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as err:
        raise ValueError(f"annotation {path} is not valid XML ({err})") from err
    label = np.zeros(N_CAT, np.float32)
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if name in CAT_NAME_TO_NUM:
            label[CAT_NAME_TO_NUM[name]] = 1.0
    return label


def sbd_dataset_dir(sbd_root: Path) -> Path:
    """SBD's ``dataset/`` folder, given either benchmark_RELEASE/ or benchmark_RELEASE/dataset/."""
    for cand in (sbd_root / "dataset", sbd_root):
        if (cand / "cls").is_dir():
            return cand
    raise FileNotFoundError(f"{sbd_root} has no cls/ folder; pass --sbd_root pointing at benchmark_RELEASE")


def read_sbd_mat(path: Path) -> np.ndarray:
    """The class mask of an SBD ``cls/*.mat`` file (struct GTcls, field Segmentation)."""
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path), squeeze_me=True, struct_as_record=False)
        return np.asarray(mat["GTcls"].Segmentation, dtype=np.uint8)
    except (KeyError, AttributeError, ValueError, OSError) as err:
        raise ValueError(f"{path} is not an SBD class annotation (GTcls.Segmentation): {err}") from err


def train_aug_ids(voc_train: list[str], voc_val: list[str], sbd_train: list[str], sbd_val: list[str]) -> list[str]:
    """(VOC train | SBD train | SBD val) - VOC val, sorted."""
    return sorted((set(voc_train) | set(sbd_train) | set(sbd_val)) - set(voc_val))


def write_list(path: Path, names: list[str]) -> None:
    with atomic_open(path, "w") as f:
        f.write("".join(n + "\n" for n in names))


def convert_sbd(voc_root: Path, sbd_dir: Path, names: list[str]) -> int:
    """Write SegmentationClassAug/*.png; VOC's own masks (with their void borders) take precedence."""
    out_dir = voc_root / "SegmentationClassAug"
    palette = voc_palette()
    written = 0
    for name in tqdm(names, desc="SegmentationClassAug", dynamic_ncols=True):
        voc_png = VOC12.gt_path(voc_root, name)
        mat = sbd_dir / "cls" / f"{name}.mat"
        if voc_png.is_file():
            mask = load_png(voc_png)
        elif mat.is_file():
            mask = read_sbd_mat(mat)
        else:
            raise FileNotFoundError(f"no mask for {name}: neither {voc_png} nor {mat} exists")
        save_png(out_dir / f"{name}.png", mask, palette)
        written += 1
    return written


def prepare(voc12_root: str, sbd_root: str | None = None, out_dir: str = "voc12") -> dict[str, list[str]]:
    root = check_root(voc12_root)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lists = {s: load_img_name_list(VOC12.split_path(root, s)) for s in ("train", "val")}
    if sbd_root is not None:
        sbd_dir = sbd_dataset_dir(Path(sbd_root))
        sbd = {s: load_img_name_list(sbd_dir / f"{s}.txt") for s in ("train", "val")}
        lists["train_aug"] = train_aug_ids(lists["train"], lists["val"], sbd["train"], sbd["val"])
        n = len(lists["train_aug"])
        if n == FULL_TRAIN_AUG:
            print(f"train_aug.txt: {n} IDs, as expected for the full VOC 2012 + SBD")
        else:
            print(f"WARNING: train_aug.txt has {n} IDs, not the {FULL_TRAIN_AUG} of the full VOC 2012 + SBD; "
                  "check that both downloads are complete if this is the real dataset")
        convert_sbd(root, sbd_dir, sorted(set(lists["train_aug"]) | set(lists["val"])))
    for split, names in lists.items():
        write_list(out / f"{split}.txt", names)
    if VOC12.split_path(root, "test").is_file():  # no labels: only the segmentation network reads it
        write_list(out / "test.txt", load_img_name_list(VOC12.split_path(root, "test")))
        print(f"test.txt: {len(load_img_name_list(out / 'test.txt'))} IDs from VOC2012test")
    every = sorted(set().union(*lists.values()))
    labels = {n: image_label_from_xml(root / "Annotations" / f"{n}.xml")
              for n in tqdm(every, desc="cls_labels", dynamic_ncols=True)}
    save_cls_labels(out / "cls_labels.npy", labels)
    print(f"wrote {', '.join(f'{s}.txt ({len(v)})' for s, v in lists.items())} and cls_labels.npy "
          f"({len(labels)} images) to {out}")
    return lists


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--voc12_root", required=True, help="VOCdevkit/VOC2012 (holds JPEGImages/, Annotations/, ...)")
    p.add_argument("--sbd_root", default=None, help="SBD's benchmark_RELEASE folder (optional)")
    p.add_argument("--out_dir", default="voc12", help="where the lists and cls_labels.npy go")
    a = p.parse_args(argv)
    prepare(a.voc12_root, a.sbd_root, a.out_dir)


if __name__ == "__main__":
    main()
