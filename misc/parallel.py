"""Process pools for per-image CPU work (evaluations, CRFs, instance search) whose workers die with the step.

Results come back in input order, so a pooled run sums, lists and writes exactly what one process would.
"""
from __future__ import annotations

import ctypes
import multiprocessing as mp
import signal
import sys
from typing import Callable, Iterator, Sequence

from tqdm import tqdm


def die_with_parent() -> None:
    """Have Linux kill this process when its parent dies, even by SIGKILL, so no worker outlives its step."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _quiet_worker() -> None:
    """A pool worker: one thread for NumPy and torch (the pool is the parallelism), and die with the step."""
    die_with_parent()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a requirement
        pass


def spawn_pool(processes: int, initializer: Callable = die_with_parent):
    """A pool of ``processes`` spawned workers that die with this process (the one way the project makes them)."""
    return mp.get_context("spawn").Pool(processes, initializer=initializer)


def imap_ordered(fn: Callable, items: Sequence, workers: int, desc: str | None = None,
                 chunksize: int = 8) -> Iterator:
    """``fn(item)`` for every item, in order, under a progress bar: inline for ``workers`` <= 1, else in a
    spawned pool of that many processes (``fn`` and the items must pickle: module-level functions and
    partials of them)."""
    bar = dict(total=len(items), desc=desc, dynamic_ncols=True, disable=desc is None)
    n_proc = max(1, min(int(workers or 1), len(items)))
    if n_proc == 1:
        yield from tqdm(map(fn, items), **bar)
        return
    with spawn_pool(n_proc, _quiet_worker) as pool:
        yield from tqdm(pool.imap(fn, items, chunksize=chunksize), **bar)

