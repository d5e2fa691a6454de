"""Files read once per process: a loader's result kept while the file's size, times and inode stay the same,
so a step that asks several times for COCO's 71 MB class labels or an own folder's description reads it once,
and a rewritten file is read again."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")
_CACHE: dict[tuple[str, str], tuple[tuple, object]] = {}


def _stamp(path: Path) -> tuple:
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def load_once(path: str | os.PathLike, loader: Callable[[Path], T], kind: str) -> T:
    """``loader(path)``, or what it returned for this file before when the file has not changed since
    (``kind`` keeps different loaders of one file apart). The result is shared: callers must not change it."""
    path = Path(path)
    key = (kind, str(path.resolve()))
    try:
        stamp = _stamp(path)
    except OSError:
        return loader(path)  # the loader says what is wrong with a missing file
    hit = _CACHE.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    value = loader(path)
    _CACHE[key] = (stamp, value)
    return value
