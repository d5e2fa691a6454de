"""Crash-safe writers and readers for every file the pipeline produces.

Every output goes to a temporary name in the destination folder and is then
renamed over the final name, so a step killed mid-write never leaves a
truncated file that a later rerun would mistake for a finished one.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Iterator

import numpy as np
import torch
from PIL import Image

CAM_SUFFIX = ".npz"


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary sibling of ``path`` and rename it to ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_png(path: str | os.PathLike, label: np.ndarray, palette: np.ndarray | None = None) -> None:
    """Write a uint8 label map as PNG, optionally with a colour palette."""
    img = Image.fromarray(np.asarray(label, dtype=np.uint8), mode="L")
    if palette is not None:
        img = img.convert("P")
        img.putpalette(np.asarray(palette, dtype=np.uint8).reshape(-1).tolist())
    with atomic_open(path) as f:
        img.save(f, format="PNG")


def load_png(path: str | os.PathLike) -> np.ndarray:
    """Read a label PNG as its raw indices (palette PNGs keep their indices)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label file {path} does not exist; run the step that writes it first")
    try:
        with Image.open(path) as img:
            return np.asarray(img)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read label {path} ({err}); delete it and rerun the step that writes it") from err


def cam_path(out_dir: str | os.PathLike, name: str) -> Path:
    return Path(out_dir) / f"{name}{CAM_SUFFIX}"


def save_cam(path: str | os.PathLike, keys: np.ndarray, cam: np.ndarray, high_res: np.ndarray) -> None:
    """Store class keys (0-based foreground ids), strided and full-size maps, without pickle."""
    with atomic_open(path) as f:
        np.savez(f, keys=np.asarray(keys, dtype=np.int64),
                 cam=np.asarray(cam, dtype=np.float32),
                 high_res=np.asarray(high_res, dtype=np.float32))


def load_cam(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a CAM file written by :func:`save_cam`; pickled files are refused."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CAM file {path} does not exist; run the make step that writes it first")
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in ("keys", "cam", "high_res")}


def save_torch(path: str | os.PathLike, obj: object) -> None:
    """torch.save through a temporary file."""
    with atomic_open(path) as f:
        torch.save(obj, f)


def load_state_dict(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint safely (``weights_only=True``)."""
    return torch.load(path, map_location=map_location, weights_only=True)


def resolve_weights(name: str | os.PathLike) -> Path:
    """Find a checkpoint under our name or the official doubled-suffix name (``x.pth.pth``)."""
    candidates = [Path(name), Path(f"{name}.pth")]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(
        f"checkpoint not found: looked for {' and '.join(map(str, candidates))}. "
        "Train it with the matching --train_*_pass, or put the released file there.")
