"""How an eval step runs: its worker pool and whether it may reuse its last result.

An eval's result file keeps ``inputs_digest``, the digest of everything the numbers depend on (the evaluated
list, the producing steps' folder records, the settings and where the ground truth lies). A rerun whose digest
is the same prints that the result is current and returns it instead of reading every file again.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from misc import provenance
from misc.evaluation import write_json

INPUTS_KEY = "inputs_digest"


@dataclass(frozen=True)
class EvalConfig:
    """The run settings of an eval step, read from the flags of the same names: the processes that score the
    images (results equal to one process) and whether to recompute a current result."""

    num_workers: int
    overwrite: bool


def inputs_digest(names: Sequence[str], made_by: dict, settings: dict) -> str:
    """The digest of an eval's inputs: the evaluated IDs, the producers' records and the settings."""
    listed = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
    return provenance.record_digest({"names": listed, "made_by": made_by, **settings})


def write_result(path: str | Path, record: dict, digest: str) -> None:
    """Write an eval's result with the digest of its inputs (added to ``record``), which a rerun compares
    (:func:`current_result`)."""
    record[INPUTS_KEY] = digest
    write_json(path, record)


def current_result(path: str | Path, digest: str, config: EvalConfig, step: str) -> dict | None:
    """The result at ``path`` when it was made from the same inputs (and ``--overwrite`` is off), else None."""
    path = Path(path)
    if config.overwrite or not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get(INPUTS_KEY) != digest:
        return None
    print(f"{step}: {path} is current (same images, inputs and settings); not recomputed "
          "(--overwrite True recomputes it)")
    return record
