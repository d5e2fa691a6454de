"""The output planner: which outputs of a step to (re)do, from the record (settings and upstream digests) that
made each one, so a rerun redoes exactly the outputs that are missing, unreadable or stale."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from misc import provenance
from misc.errors import PipelineError
from misc.fileio import read_record, remove_stale_temporaries


def upstream_digest(folder: str | os.PathLike, names: Sequence[str], suffix: str, producer: str) -> str:
    """The current record of an upstream folder, after checking it holds a current output for every name."""
    folder = Path(folder)
    digest = provenance.current_digest(folder)
    paths = [folder / f"{n}{suffix}" for n in names]
    result = provenance.survey(paths, digest, read_record, accept_unrecorded=digest == provenance.UNRECORDED)
    if result.todo:
        raise PipelineError(f"{folder}: {len(result.todo)} of {len(names)} inputs are not usable: "
                            f"{provenance.summarize_failures(names, result)}; run {producer} first")
    if digest == provenance.UNRECORDED:
        print(f"warning: {folder} has no provenance record (made by an older version or elsewhere); "
              "its files are used as they are")
    return digest


def plan_outputs(step: str, out_dir: str | os.PathLike, names: Sequence[str], suffix: str, record: dict,
                 overwrite: bool) -> tuple[provenance.FolderRecord, list[int]]:
    """Which outputs to (re)do; prints how many are kept and why the rest are redone, and commits the record."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    removed = remove_stale_temporaries(out_dir)
    if removed:
        print(f"{step}: removed {removed} temporary files left by a killed run in {out_dir}")
    folder = provenance.FolderRecord(out_dir, record)
    if overwrite:
        todo = list(range(len(names)))
        print(f"{step}: --overwrite True, redoing all {len(names)} outputs")
    else:
        result = provenance.survey([out_dir / f"{n}{suffix}" for n in names], folder.digest, read_record)
        todo = result.todo
        print(f"{step}: {folder.explain(result, len(names))}" + ("; nothing to do (--overwrite True redoes them)"
                                                                 if not todo else ""))
    if todo:
        folder.commit()
    return folder, todo
