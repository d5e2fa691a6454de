"""Small helpers shared by the driver and the steps: logging, timing, meters."""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict


def str2bool(v: str | bool) -> bool:
    """argparse type for the official ``--x_pass True`` flags."""
    if isinstance(v, bool):
        return v
    if v.lower() in ("yes", "true", "t", "y", "1"):
        return True
    if v.lower() in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"boolean value expected, got {v!r}")


def str2bool_or_auto(v: str | bool | None) -> bool | None:
    """argparse type of a boolean that may be left to the library (``auto`` -> None)."""
    if v is None or (isinstance(v, str) and v.lower() in ("auto", "none")):
        return None
    return str2bool(v)


class AverageMeter:
    """Running means of named scalars; ``pop`` returns a mean and resets it."""

    def __init__(self):
        self._sum: dict[str, float] = defaultdict(float)
        self._count: dict[str, int] = defaultdict(int)

    def add(self, values: dict[str, float]) -> None:
        for k, v in values.items():
            self._sum[k] += float(v)
            self._count[k] += 1

    def get(self, key: str) -> float:
        return self._sum[key] / max(self._count[key], 1)

    def pop(self, key: str) -> float:
        value = self.get(key)
        self._sum[key], self._count[key] = 0.0, 0
        return value


class Timer:
    """Context manager that prints how long a step took."""

    def __init__(self, label: str):
        self.label = label
        self.elapsed = 0.0

    def __enter__(self) -> "Timer":
        self.start = time.time()
        return self

    def __exit__(self, *exc) -> None:
        self.elapsed = time.time() - self.start
        print(f"{self.label} {self.elapsed:.1f}s", flush=True)


class Logger:
    """The official tee: everything printed goes to the terminal and to ``outfile`` (it replaces sys.stdout)."""

    def __init__(self, outfile: str):
        self.terminal = sys.stdout
        self.log = open(outfile, "w")  # kept open for the life of the process, as the official one
        sys.stdout = self

    def write(self, message: str) -> None:
        self.terminal.write(message)
        self.log.write(message)

    def flush(self) -> None:
        self.terminal.flush()
        self.log.flush()


def to_one_hot(sparse_integers, maximum_val: int | None = None, dtype=bool):
    """Integer labels (any shape) -> one-hot of shape (maximum_val, *shape)."""
    import numpy as np

    labels = np.asarray(sparse_integers)
    n = int(np.max(labels)) + 1 if maximum_val is None else maximum_val
    flat = labels.reshape(-1)
    one_hot = np.zeros((n, flat.size), dtype)
    one_hot[flat, np.arange(flat.size)] = 1
    return one_hot.reshape((n,) + labels.shape)
