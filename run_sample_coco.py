"""The official COCO driver name: ``run_sample.py --dataset coco14`` with the official COCO defaults.

  python run_sample_coco.py --coco14_root COCO2014 --train_cam_pass True ...

Weights go to sess/res50_{cam,amn,irn}_coco.pth and outputs to result/*_coco; lists and labels come from
coco14/ (python -m coco14.prepare); both seed steps use 0.45/0.15 and make_sem_seg 0.22. Every flag of
run_sample.py works here too (python run_sample.py --help).
"""
from __future__ import annotations

import sys

import run_sample


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not any(a == "--dataset" or a.startswith("--dataset=") for a in argv):
        argv = ["--dataset", "coco14", *argv]
    run_sample.main(argv)


if __name__ == "__main__":
    main()
