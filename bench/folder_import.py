"""Cost of the checked own-folder import (python -m dataset.folder) per 1,000 VOC-sized JPEGs.

Run: python bench/folder_import.py [--images 1000] [--masks] [--workers N]

Makes ``--images`` 500x375 JPEGs (crops of matplotlib's bundled photograph, quality 90) in class folders, with
VOC-like masks when ``--masks``, then times the import twice in this process: decoding in one process (the
reference) and on ``--workers`` processes (default: every core). Prints seconds per 1,000 images, the speed-up,
and the peak resident memory of this process and of the largest worker.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dataset import folder, folder_check  # noqa: E402


def make_folder(root: Path, n: int, masks: bool) -> Path | None:
    import matplotlib.cbook as cbook

    photo = Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    rng = np.random.default_rng(0)
    mask_root = root / "masks" if masks else None
    for i in range(n):
        cls = ("cat", "dog", "person")[i % 3]
        x, y = rng.integers(0, photo.width - 300), rng.integers(0, photo.height - 225)
        img = photo.crop((x, y, x + 300, y + 225)).resize((500, 375), Image.BILINEAR)
        (root / "images" / cls).mkdir(parents=True, exist_ok=True)
        img.save(root / "images" / cls / f"{i:05d}.jpg", quality=90)
        if mask_root:
            (mask_root / cls).mkdir(parents=True, exist_ok=True)
            m = np.zeros((375, 500), np.uint8)
            m[100:300, 150:400] = 1 + i % 3
            m[98:100, 150:400] = 255
            Image.fromarray(m).save(mask_root / cls / f"{i:05d}.png")
    return mask_root


def timed_import(root: Path, masks: Path | None, workers: int, tag: str) -> float:
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        folder.prepare(str(root / "images"), None, str(root / f"out_{tag}"), masks=str(masks) if masks else None,
                       check=folder.ImportCheck(workers=workers))
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=1000, help="how many 500x375 JPEGs to import")
    p.add_argument("--masks", action="store_true", help="give every image a mask (checked too)")
    p.add_argument("--workers", type=int, default=folder_check.default_workers(), help="decoding processes")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        masks = make_folder(root, a.images, a.masks)
        per_k = 1000 / a.images
        one = timed_import(root, masks, 0, "one")
        self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        pool = timed_import(root, masks, a.workers, "pool")
        child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    what = "JPEGs and masks" if a.masks else "JPEGs"
    print(f"{a.images} images of 500x375 ({what})")
    print(f"one process (reference): {one * per_k:.1f} s per 1,000 images")
    print(f"{a.workers} processes:          {pool * per_k:.1f} s per 1,000 images ({one / pool:.2f}x the reference)")
    print(f"peak memory: this process {self_peak:.0f} MB, largest worker {child_peak:.0f} MB")


if __name__ == "__main__":
    main()
