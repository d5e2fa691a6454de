"""CRF step per image (500x375): one shared pairwise lattice vs two separate CRFs.

Run: python bench/crf_shared_lattice.py [--repeats 5]
Uses matplotlib's bundled photograph (grace_hopper.jpg) and CAM-like seeds.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from misc import imutils  # noqa: E402


def inputs(n_classes: int):
    import matplotlib.cbook as cbook

    img = np.array(Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
                   .resize((500, 375), Image.BICUBIC))
    yy, xx = np.mgrid[0:375, 0:500]
    blobs = [np.exp(-(((yy - 200) / 90.0) ** 2 + ((xx - 250) / 70.0) ** 2)),
             0.7 * np.exp(-(((yy - 120) / 60.0) ** 2 + ((xx - 420) / 50.0) ** 2))]
    cams = np.stack(blobs[:n_classes])
    pad = lambda t: np.argmax(np.pad(cams, ((1, 0), (0, 0), (0, 0)), constant_values=t), 0)  # noqa: E731
    return img, pad(0.30), pad(0.05)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    for n_classes in (1, 2):
        img, fg, bg = inputs(n_classes)
        n = n_classes + 1
        sep, shared = [], []
        for _ in range(a.repeats):
            t = time.perf_counter()
            ref = (imutils.crf_inference_label(img, fg, n_labels=n), imutils.crf_inference_label(img, bg, n_labels=n))
            sep.append(time.perf_counter() - t)
            t = time.perf_counter()
            out = imutils.crf_inference_label_pair(img, fg, bg, n_labels=n)
            shared.append(time.perf_counter() - t)
        same = all(np.array_equal(r, o) for r, o in zip(ref, out))
        ms, mh = statistics.median(sep), statistics.median(shared)
        print(f"{n} labels: two CRFs {ms * 1000:.0f} ms/image, shared lattice {mh * 1000:.0f} ms/image, "
              f"speed-up {ms / mh:.2f}x, identical labels: {same}")


if __name__ == "__main__":
    main()
