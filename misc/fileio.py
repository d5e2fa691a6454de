"""Crash-safe writers and readers for every file the pipeline produces.

Every output goes to a temporary name in the destination folder and is then
renamed over the final name, so a step killed mid-write never leaves a
truncated file that a later rerun would mistake for a finished one.
"""
from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import socket
import time
import zipfile
import zlib
from pathlib import Path
from typing import IO, Iterator

import numpy as np
import torch
from PIL import Image, PngImagePlugin

from misc.errors import PipelineError

CAM_SUFFIX = ".npz"
TMP_MARK = ".tmp-"
RECORD_KEY = "record"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _tmp_name(path: Path) -> Path:
    return path.with_name(f"{path.name}{TMP_MARK}{socket.gethostname()}-{os.getpid()}")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **open_kwargs) -> Iterator[IO]:
    """Open a temporary sibling of ``path`` and rename it to ``path`` on success (``open_kwargs``: encoding,
    newline for text modes)."""
    path = Path(path)
    tmp = _tmp_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise PipelineError(f"no space left on device while writing {path} ({free_space(path.parent)} free); "
                                "free some space and rerun (finished outputs are kept)") from err
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host still runs (one we may not signal counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike, max_age_s: float = 86400.0) -> int:
    """Delete temporary files that killed runs left in ``folder`` and its subfolders; returns how many.

    A file is stale when the process that wrote it (same host) is gone, or, for
    files of other hosts sharing the folder, when it is older than ``max_age_s``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    host, removed = socket.gethostname(), 0
    # rglob: images with nested IDs (cats/001) write their outputs into subfolders.
    for tmp in folder.rglob(f"*{TMP_MARK}*"):
        owner = tmp.name.rsplit(TMP_MARK, 1)[1]
        owner_host, _, pid = owner.rpartition("-")
        if owner_host == host and pid.isdigit():
            stale = not pid_alive(int(pid))
        else:
            stale = time.time() - tmp.stat().st_mtime > max_age_s
        if stale:
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def save_png(path: str | os.PathLike, label: np.ndarray, palette: np.ndarray | None = None,
             record: str | None = None) -> None:
    """Write a uint8 label map as PNG, optionally with a colour palette and the digest of what made it."""
    img = Image.fromarray(np.asarray(label, dtype=np.uint8), mode="L")
    if palette is not None:
        img = img.convert("P")
        img.putpalette(np.asarray(palette, dtype=np.uint8).reshape(-1).tolist())
    info = None
    if record is not None:
        info = PngImagePlugin.PngInfo()
        info.add_text(RECORD_KEY, record)
    with atomic_open(path) as f:
        img.save(f, format="PNG", pnginfo=info)


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


def png_path(out_dir: str | os.PathLike, name: str) -> Path:
    return Path(out_dir) / f"{name}.png"


def save_cam(path: str | os.PathLike, keys: np.ndarray, cam: np.ndarray, high_res: np.ndarray,
             record: str | None = None) -> None:
    """Store class keys (0-based foreground ids), strided and full-size maps, without pickle."""
    extra = {} if record is None else {RECORD_KEY: np.asarray(record)}
    with atomic_open(path) as f:
        np.savez(f, keys=np.asarray(keys, dtype=np.int64),
                 cam=np.asarray(cam, dtype=np.float32),
                 high_res=np.asarray(high_res, dtype=np.float32), **extra)


CAM_MEMBERS = ("keys", "cam", "high_res")


def load_cam(path: str | os.PathLike, members: tuple[str, ...] = CAM_MEMBERS) -> dict[str, np.ndarray]:
    """Read a CAM file written by :func:`save_cam`; pickled, corrupt or truncated files are refused by name.

    ``members`` picks what to read: an npz member is decompressed only when asked for, so the IRN steps, which
    use the stride-4 ``cam`` alone, skip the full-size ``high_res`` (16 times its bytes)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CAM file {path} does not exist; run the make step that writes it first")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in members}
    except (zipfile.BadZipFile, ValueError, OSError, KeyError, EOFError) as err:
        raise PipelineError(f"CAM file {path} is corrupt or truncated ({type(err).__name__}: {err}); rerun the "
                            "make step that writes it, which redoes unreadable files") from err


def save_arrays(path: str | os.PathLike, record: str | None = None, **arrays: np.ndarray) -> None:
    """Named arrays in an npz (no pickle), with the digest of what made them."""
    extra = {} if record is None else {RECORD_KEY: np.asarray(record)}
    with atomic_open(path) as f:
        np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()}, **extra)


def load_arrays(path: str | os.PathLike, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named arrays of an npz written by :func:`save_arrays`; corrupt files are refused by name."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; run the make step that writes it first")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in keys}
    except (zipfile.BadZipFile, ValueError, OSError, KeyError, EOFError) as err:
        raise PipelineError(f"{path} is corrupt or truncated ({type(err).__name__}: {err}); rerun the make step "
                            "that writes it, which redoes unreadable files") from err


def read_record(path: str | os.PathLike) -> str | None:
    """The provenance digest stored in an output file (None if it has none).

    Cheap: it reads a PNG's chunk headers and text chunks (seeking over the
    pixel data, never decoding it) and its last bytes, or an npz's zip
    directory and one small member. An unreadable or truncated file raises
    ``ValueError``.
    """
    path = Path(path)
    try:
        if path.suffix == ".png":
            with open(path, "rb") as f:
                f.seek(-len(_PNG_END), os.SEEK_END)
                if f.read() != _PNG_END:
                    raise ValueError("truncated PNG (no IEND chunk)")
            return png_text(path).get(RECORD_KEY)
        with np.load(path, allow_pickle=False) as data:
            return str(data[RECORD_KEY]) if RECORD_KEY in data.files else None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError, SyntaxError, zlib.error) as err:
        raise ValueError(f"{type(err).__name__}: {err}") from err


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_text(path: str | os.PathLike) -> dict[str, str]:
    """A PNG's text chunks (tEXt, zTXt, iTXt) as PIL's ``Image.text`` gives them, read from the chunk headers
    alone: the pixel data is skipped by seeking, so this costs a few small reads whatever the image size."""
    text: dict[str, str] = {}
    with open(path, "rb") as f:
        if f.read(8) != _PNG_SIGNATURE:
            raise SyntaxError("not a PNG file")
        while True:
            head = f.read(8)
            if len(head) < 8:
                raise SyntaxError("truncated PNG chunk")
            length, kind = int.from_bytes(head[:4], "big"), head[4:]
            if kind == b"IEND":
                return text
            if kind in (b"tEXt", b"zTXt", b"iTXt"):
                data = f.read(length)
                if len(data) < length:
                    raise SyntaxError("truncated PNG text chunk")
                key, value = _text_chunk(kind, data)
                text.setdefault(key, value)
                f.seek(4, os.SEEK_CUR)  # CRC
            else:
                f.seek(length + 4, os.SEEK_CUR)


def _text_chunk(kind: bytes, data: bytes) -> tuple[str, str]:
    """(keyword, text) of one PNG text chunk's data."""
    key, _, rest = data.partition(b"\x00")
    if kind == b"tEXt":
        return key.decode("latin-1"), rest.decode("latin-1")
    if kind == b"zTXt":
        return key.decode("latin-1"), zlib.decompress(rest[1:]).decode("latin-1")
    compressed, rest = rest[0], rest[2:]
    _lang, _, rest = rest.partition(b"\x00")
    _translated, _, value = rest.partition(b"\x00")
    return key.decode("latin-1"), (zlib.decompress(value) if compressed else value).decode("utf-8")


def save_torch(path: str | os.PathLike, obj: object) -> None:
    """torch.save through a temporary file. The checkpoint is serialised in memory first, so a full disk is
    the file system's ENOSPC (one line, from :func:`atomic_open`), not the zip writer's ``unexpected pos``."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_open(path) as f:
        f.write(buffer.getbuffer())


def free_space(folder: str | os.PathLike) -> str:
    """The free space of the file system holding ``folder`` (or its nearest existing parent), for messages."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return human_bytes(shutil.disk_usage(folder).free)
    except OSError:
        return "unknown"


def human_bytes(n: float) -> str:
    """``1.5 GB``-style sizes (powers of 1000, as disks are sold)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def load_state_dict(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint safely (``weights_only=True``); an unreadable file is an error that names it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, OSError, EOFError, zipfile.BadZipFile, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PipelineError(f"checkpoint {path} cannot be read ({first}); it is truncated or not a PyTorch "
                            "weights file: train it again or copy it again") from err


def resolve_weights(name: str | os.PathLike) -> Path:
    """Find a checkpoint under our name or the official doubled-suffix name (``x.pth.pth``)."""
    candidates = [Path(name), Path(f"{name}.pth")]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(
        f"checkpoint not found: looked for {' and '.join(map(str, candidates))}. "
        "Train it with the matching --train_*_pass, or put the released file there.")
