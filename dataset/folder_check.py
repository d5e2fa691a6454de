"""The checked import of an own folder: every image and mask decoded once, on all cores, before anything is
written, so a bad file is found in minutes at import rather than hours into training."""
from __future__ import annotations

import os
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from dataset.spec import mask_problem


@dataclass(frozen=True)
class CheckJob:
    """One image to decode (and its mask, if any): what a pool worker receives."""

    image: str
    mask: str | None
    n_classes: int


def image_size(path: str) -> tuple[int, int]:
    """(height, width) of the image as displayed, after decoding every pixel (a truncated file fails here)."""
    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img)
        img.convert("RGB").load()
        return img.height, img.width


def check_one(job: CheckJob) -> str | None:
    """Why ``job``'s image or mask is unusable, or None."""
    try:
        size = image_size(job.image)
    except Exception as err:  # PIL raises OSError, ValueError, SyntaxError, DecompressionBombError...
        return f"cannot be decoded as an image ({type(err).__name__}: {err})"
    if job.mask is None:
        return None
    try:
        with Image.open(job.mask) as m:
            mask = np.asarray(m)
    except Exception as err:
        return f"its mask {job.mask} cannot be decoded ({type(err).__name__}: {err})"
    problem = mask_problem(mask, job.n_classes, size)
    return f"its mask {job.mask} {problem}" if problem else None


def check_all(jobs: Sequence[CheckJob], workers: int) -> list[str | None]:
    """The problem of every job, in order; ``workers`` processes (0: this one) with a progress bar."""
    bar = dict(total=len(jobs), desc="check images", unit="img", dynamic_ncols=True)
    if workers <= 0 or len(jobs) < 64:
        return [check_one(j) for j in tqdm(jobs, **bar)]
    # fork: the workers need nothing but this module; spawn would re-import numpy and PIL per worker.
    ctx = get_context("fork" if os.name == "posix" else "spawn")
    with ctx.Pool(workers) as pool:
        return list(tqdm(pool.imap(check_one, jobs, chunksize=16), **bar))


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def mask_file(masks: Path, image_id: str) -> Path:
    """Where the mask of ``image_id`` lies: ``masks/<id>.png`` (nested IDs in the same subfolders)."""
    return masks / f"{image_id}.png"
