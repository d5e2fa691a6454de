"""The output planner: which outputs of a step to (re)do, from the record (settings and upstream digests) that
made each one, so a rerun redoes exactly the outputs that are missing, unreadable or stale."""
from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from engine import devices
from misc import distributed, provenance
from misc.errors import PipelineError
from misc.fileio import human_bytes, read_record, remove_stale_temporaries


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
    # Under torchrun a rank looks only at its own share (devices.rank_share: by place in the full list), so
    # the ranks together read each output once instead of each reading all of them.
    share = devices.rank_share(range(len(names)))
    whose = "" if len(share) == len(names) else f" (rank {distributed.rank()}'s share of {len(names)})"
    if overwrite:
        todo = share
        print(f"{step}: --overwrite True, redoing all {len(share)} outputs{whose}")
    else:
        result = provenance.survey([out_dir / f"{names[i]}{suffix}" for i in share], folder.digest, read_record)
        todo = [share[j] for j in result.todo]
        print(f"{step}: {folder.explain(result, len(share))}{whose}"
              + ("; nothing to do (--overwrite True redoes them)" if not todo else ""))
    if todo:
        folder.commit()
        SpaceWatch(step, out_dir, [out_dir / f"{names[i]}{suffix}" for i in todo[:SPACE_SAMPLE]], len(todo)).start()
    return folder, todo


SPACE_SAMPLE = 32  # outputs whose sizes estimate the rest
SPACE_POLL_S = 2.0
SPACE_WATCH_S = 3600.0  # a watch gives up after this long without its sample


class SpaceWatch(threading.Thread):
    """Says early, in one line, when a step's outputs will not fit: once half its first outputs exist (written
    by this process or by its workers), their mean size times the outputs to come is set against the free
    space of the folder's disk. A daemon thread that polls a few file sizes, so it costs nothing to the step."""

    def __init__(self, step: str, folder: Path, sample: list[Path], total: int):
        super().__init__(daemon=True, name=f"space-watch-{step}")
        self.step, self.folder, self.sample, self.total = step, folder, sample, total

    def run(self) -> None:
        need = max(1, len(self.sample) // 2)
        deadline = time.monotonic() + SPACE_WATCH_S
        while time.monotonic() < deadline:
            sizes = [p.stat().st_size for p in self.sample if p.is_file()]
            if len(sizes) >= need:
                self.report(sum(sizes) / len(sizes), len(sizes))
                return
            time.sleep(SPACE_POLL_S)

    def report(self, mean_size: float, written: int) -> None:
        """Warn when the outputs still to come need more than the disk has free."""
        needed = mean_size * (self.total - written)
        try:
            free = shutil.disk_usage(self.folder).free
        except OSError:
            return
        if needed > free:
            tqdm.write(f"warning: {self.step}: the {self.total - written} outputs still to come need about "
                       f"{human_bytes(needed)} in {self.folder} ({human_bytes(mean_size)} each), but its disk has "
                       f"{human_bytes(free)} free; free space or pass another output folder before it fills")
