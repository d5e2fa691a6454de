"""Cost of coco14.prepare per 1,000 images, extrapolated to COCO train2014 (82,783 images).

Run: python bench/coco_prepare.py [--images 1000]
Writes a synthetic download (640x480 JPEGs, 7.3 polygon annotations per image as in COCO
train2014, one crowd RLE in ten images), then times in one process:
  ours       coco14.prepare.prepare_split (JSON, image checks, masks, list, labels)
  reference  pycocotools.coco.COCO + annToMask per annotation + PNG, the usual recipe
Each run is a fresh process; peak memory is its VmHWM (which, unlike ru_maxrss, does not inherit the parent's).
--json_images 82783 also loads and groups an instances JSON of train2014's size, for the memory figure.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coco14 import toy  # noqa: E402
from coco14.dataloader import CATEGORIES  # noqa: E402
from misc.fileio import save_png  # noqa: E402

FULL_TRAIN = 82783
W, H = 640, 480


def synthetic_download(root: Path, n: int, seed: int = 0, write_images: bool = True) -> None:
    rng = np.random.default_rng(seed)
    (root / "train2014").mkdir(parents=True)
    (root / "annotations").mkdir()
    jpeg = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    images, anns = [], []
    for i in range(1, n + 1):
        name = f"COCO_train2014_{i:012d}.jpg"
        if write_images:
            Image.fromarray(jpeg).save(root / "train2014" / name, quality=80)
        images.append({"id": i, "file_name": name, "width": W, "height": H})
        for _ in range(rng.poisson(7.3)):
            cy, cx, h, w = rng.uniform(50, 430), rng.uniform(50, 590), rng.uniform(20, 200), rng.uniform(20, 200)
            poly = toy.polygon("ellipse", cy, cx, h, w)
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(CATEGORIES[rng.integers(80)][0]),
                         "segmentation": [poly], "iscrowd": 0})
        if i % 10 == 0:
            m = np.zeros((H, W), bool)
            m[100:200, 100:300] = True
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 1,
                         "segmentation": toy.uncompressed_rle(m), "iscrowd": 1})
    with open(root / "annotations" / "instances_train2014.json", "w") as f:
        json.dump({"images": images, "annotations": anns,
                   "categories": [{"id": c, "name": n} for c, n in CATEGORIES]}, f)


def reference(root: Path, out: Path) -> None:
    from pycocotools.coco import COCO

    coco = COCO(str(root / "annotations" / "instances_train2014.json"))
    index = {cid: i for i, (cid, _) in enumerate(CATEGORIES)}
    for img_id in coco.getImgIds():
        info = coco.loadImgs(img_id)[0]
        mask = np.zeros((info["height"], info["width"]), np.uint8)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
        for ann in anns:
            if not ann["iscrowd"]:
                mask[coco.annToMask(ann) > 0] = index[ann["category_id"]] + 1
        for ann in anns:
            if ann["iscrowd"]:
                mask[coco.annToMask(ann) > 0] = 255
        save_png(out / f"{img_id:012d}.png", mask)


CHILD = r"""
import sys, time
from pathlib import Path
sys.path.insert(0, {repo!r}); sys.path.insert(0, {bench!r})
mode, root, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
import coco_prepare
from coco14 import prepare
t = time.perf_counter()
if mode == "ours":
    prepare.prepare_split(root, "train2014", out, True, 1)
elif mode == "reference":
    coco_prepare.reference(root, out)
else:
    data = prepare.load_instances(root / "annotations" / "instances_train2014.json")
    prepare.group_annotations(data, prepare.category_index(data["categories"], root), root)
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]
print(time.perf_counter() - t, int(hwm) / 1024)
"""


def measure(mode: str, root: Path, out: Path) -> tuple[float, float]:
    """Seconds and peak RSS (VmHWM, MB) of one run in a fresh process."""
    import subprocess

    here = Path(__file__).resolve().parent
    code = CHILD.format(repo=str(here.parent), bench=str(here))
    res = subprocess.run([sys.executable, "-c", code, mode, str(root), str(out)], capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(res.stderr)
    seconds, mb = res.stdout.strip().splitlines()[-1].split()
    return float(seconds), float(mb)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=1000, help="images of the timed synthetic download")
    p.add_argument("--json_images", type=int, default=0,
                   help="also measure loading a JSON of this many images (82783: the size of train2014)")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if a.json_images:
            big = Path(tmp) / "big"
            synthetic_download(big, a.json_images, write_images=False)
            size = (big / "annotations" / "instances_train2014.json").stat().st_size / 2 ** 20
            t, mb = measure("json", big, Path(tmp))
            print(f"instances JSON of {a.json_images:,} images ({size:.0f} MB): load and group {t:.1f} s, "
                  f"peak RSS {mb:.0f} MB")
        root = Path(tmp) / "coco"
        synthetic_download(root, a.images)
        size_mb = (root / "annotations" / "instances_train2014.json").stat().st_size / 2 ** 20
        ours_t, ours_m = measure("ours", root, Path(tmp) / "lists")
        ref_t, ref_m = measure("reference", root, Path(tmp) / "ref")
    k = a.images / 1000
    print(f"synthetic train2014: {a.images} images {W}x{H}, JSON {size_mb:.1f} MB")
    print(f"ours:      {ours_t:.1f} s ({ours_t / k:.1f} s per 1,000 images), peak RSS {ours_m:.0f} MB")
    print(f"reference: {ref_t:.1f} s ({ref_t / k:.1f} s per 1,000 images), peak RSS {ref_m:.0f} MB")
    print(f"ratio ours/reference: time {ours_t / ref_t:.2f}, peak memory {ours_m / ref_m:.2f}")
    print(f"extrapolated to {FULL_TRAIN:,} images: {ours_t / a.images * FULL_TRAIN / 60:.0f} min in one process")


if __name__ == "__main__":
    main()
