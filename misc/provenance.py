"""What made each output: records, their digests, and which existing outputs are still current.

A *record* is a JSON-able dict: the step, the content hash of its checkpoint,
every parameter that changes the output, and the digests of the upstream
folders it read. Each output file carries the digest of the record that made
it (a PNG text chunk or an npz member), and each output folder keeps the full
records in ``_record.json`` so that a rerun can say *why* a file is stale.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

RECORD_FILE = "_record.json"
UNRECORDED = "unrecorded"
_DIGESTS: dict[tuple, str] = {}


def canonical(value):
    """Tuples as lists and floats rounded, so equal settings give equal JSON."""
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, float):
        return round(value, 10)
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    return str(value)


def record_digest(record: dict) -> str:
    """A short stable hash of a record."""
    text = json.dumps(canonical(record), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (cached per path, inode, size, modification and change time: the change time
    moves on every write and on every touch that sets the modification time back, so a same-size file copied
    with its old time is read again)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _DIGESTS[key] = h.hexdigest()[:16]
    return _DIGESTS[key]


def describe_difference(old: dict | None, new: dict) -> str:
    """``key: old -> new`` for every setting that differs (the first few)."""
    if old is None:
        return "settings not recorded"
    old, new = canonical(old), canonical(new)
    diffs = [f"{k}: {old.get(k, '(unset)')} -> {new.get(k, '(unset)')}"
             for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return "; ".join(diffs[:4]) + (f"; and {len(diffs) - 4} more" if len(diffs) > 4 else "")


def load_folder_records(folder: str | os.PathLike) -> dict:
    """``{"current": digest, "records": {digest: record}}`` of a folder, empty if none was written."""
    path = Path(folder) / RECORD_FILE
    if not path.is_file():
        return {"current": None, "records": {}}
    try:
        data = json.loads(path.read_text())
        return {"current": data.get("current"), "records": dict(data.get("records", {}))}
    except (json.JSONDecodeError, OSError, AttributeError):
        return {"current": None, "records": {}}


def current_digest(folder: str | os.PathLike) -> str:
    """The digest of the record that last wrote to ``folder`` (``unrecorded`` if none)."""
    return load_folder_records(folder)["current"] or UNRECORDED


@dataclass
class Survey:
    """The state of a folder's outputs for a list of images, against a record digest."""

    ok: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    unreadable: list[int] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)
    stale_digests: Counter = field(default_factory=Counter)

    @property
    def todo(self) -> list[int]:
        return sorted(self.missing + self.unreadable + self.stale)


def survey(paths: Sequence[Path], digest: str, read_record: Callable[[Path], str | None],
           accept_unrecorded: bool = False) -> Survey:
    """Classify each output as ok, missing, unreadable or made by another record."""
    out = Survey()
    for i, path in enumerate(paths):
        if not path.is_file():
            out.missing.append(i)
            continue
        try:
            found = read_record(path)
        except ValueError:
            out.unreadable.append(i)
            continue
        if found == digest or (found is None and accept_unrecorded):
            out.ok.append(i)
        else:
            out.stale.append(i)
            out.stale_digests[found or UNRECORDED] += 1
    return out


class FolderRecord:
    """The record of one step writing into one folder."""

    def __init__(self, folder: str | os.PathLike, record: dict):
        self.folder = Path(folder)
        self.record = canonical(record)
        self.digest = record_digest(self.record)

    def commit(self) -> None:
        """Make this record the folder's current one (keeping older ones to explain staleness)."""
        from misc.fileio import atomic_open

        data = load_folder_records(self.folder)
        data["records"][self.digest] = self.record
        data["current"] = self.digest
        with atomic_open(self.folder / RECORD_FILE, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)

    def explain(self, result: Survey, total: int) -> str:
        """One line: how many outputs are kept, and how many are redone for which reason."""
        if not result.todo:
            return f"all {total} outputs are up to date"
        parts = []
        if result.missing:
            parts.append(f"{len(result.missing)} missing")
        if result.unreadable:
            parts.append(f"{len(result.unreadable)} unreadable")
        old = load_folder_records(self.folder)["records"]
        for digest, n in result.stale_digests.most_common(3):
            parts.append(f"{n} made with other settings ({describe_difference(old.get(digest), self.record)})")
        return f"{len(result.ok)} of {total} outputs are up to date; redoing {len(result.todo)}: " + ", ".join(parts)


def summarize_failures(names: Iterable[str], result: Survey) -> str:
    """``N missing, M stale ... (first: name)`` for an upstream check."""
    names = list(names)
    parts = [f"{len(v)} {k}" for k, v in (("missing", result.missing), ("unreadable", result.unreadable),
                                           ("made by other settings than the folder's current ones", result.stale))
             if v]
    first = names[result.todo[0]] if result.todo else ""
    return ", ".join(parts) + (f" (first: {first})" if first else "")
