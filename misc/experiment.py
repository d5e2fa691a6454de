"""A run's folder: its config file, its lock, its log of everything printed, and its metrics.

Leaf helpers (no dataset, network or driver): run_sample.py decides which folder a run owns (``--work_dir``,
else ``--result_dir``) and the training engine reports its metrics through :class:`Metrics`.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections import deque
from pathlib import Path

from misc.errors import PipelineError
from misc.fileio import pid_alive


def load_config(path: str | os.PathLike) -> dict:
    """A YAML config whose keys are flag names without dashes; an unreadable file is a one-line error."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"--config {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise PipelineError(f"--config {path} is not valid YAML ({str(err).splitlines()[0]})") from err
    if not isinstance(data, dict):
        raise PipelineError(f"--config {path} must map flag names to values, not hold a {type(data).__name__}")
    return {str(k).lstrip("-").replace("-", "_"): v for k, v in data.items()}


def dump_config(values: dict, origins: dict[str, str]) -> str:
    """YAML of the resolved settings, each with a comment saying where its value came from."""
    import yaml

    lines = []
    for key in sorted(values):
        text = yaml.safe_dump({key: _plain(values[key])}, default_flow_style=True, width=10_000).strip()
        lines.append(f"{text[1:-1] if text.startswith('{') else text}  # {origins.get(key, 'default')}")
    return "\n".join(lines) + "\n"


def _plain(value):
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return value


class RunLock:
    """An exclusive claim on a run folder: ``<folder>/.lock`` holds the owner's host and process id.

    A live owner makes a second run exit at once, naming the folder and the process; a lock whose process is
    gone (killed, rebooted) is taken over with a message.
    """

    def __init__(self, folder: str | os.PathLike):
        self.path = Path(folder) / ".lock"
        self.held = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                owner = self._owner()
                if owner and _alive(owner):
                    raise PipelineError(f"{self.path.parent} is in use by process {owner['pid']} on {owner['host']} "
                                        f"(started {owner.get('started', '?')}); wait for it, or use another "
                                        "--work_dir") from None
                print(f"taking over {self.path.parent}: its lock was left by process "
                      f"{owner.get('pid', '?') if owner else '?'}, which is gone")
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump({"pid": os.getpid(), "host": socket.gethostname(),
                           "started": time.strftime("%Y-%m-%d %H:%M:%S")}, f)
            self.held = True
            return
        raise PipelineError(f"could not lock {self.path.parent}; another run keeps taking it")

    def _owner(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _alive(owner: dict) -> bool:
    """Whether the lock's process still runs (a process on another host is assumed alive)."""
    if owner.get("host") != socket.gethostname():
        return True
    try:
        return pid_alive(int(owner["pid"]))
    except (KeyError, ValueError, TypeError):
        return True


def run_folder(work_dir: str | None, result_dir: str | None) -> Path:
    """The folder a run owns: ``work_dir``, else ``result_dir`` (the one place that rule is written)."""
    return Path(work_dir or result_dir)


class _Stream:
    """One of stdout/stderr, tee'd into the log; the log gets each line once, as it finally stood: a progress
    bar's carriage-return redraws collapse to their last state."""

    def __init__(self, terminal, log):
        self.terminal, self.log, self.pending = terminal, log, ""

    def write(self, message: str) -> int:
        self.terminal.write(message)
        *lines, last = message.split("\n")
        for line in lines:
            self.log.write(self._settle(line) + "\n")
            self.pending = ""
        self.pending = self._settle(last)
        return len(message)

    def _settle(self, text: str) -> str:
        """The current line after ``text``: only what follows its last carriage return (a redraw replaces the
        line), so ``pending`` never holds more than one line's final state and each write costs its own length."""
        if "\r" in text:
            return text.rsplit("\r", 1)[-1]
        return self.pending + text

    def flush(self) -> None:
        self.terminal.flush()
        self.log.flush()

    def isatty(self) -> bool:
        return self.terminal.isatty()

    def fileno(self) -> int:
        return self.terminal.fileno()

    def finish(self) -> None:
        if self.pending.strip():
            self.log.write(self.pending + "\n")
        self.pending = ""


class RunLog:
    """Everything the run prints (stdout and stderr) appended to ``path``, without progress-bar redraws."""

    def __init__(self, path: str | os.PathLike):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.file = open(path, "a", buffering=1)
        self.streams = (_Stream(sys.stdout, self.file), _Stream(sys.stderr, self.file))
        sys.stdout, sys.stderr = self.streams

    def close(self) -> None:
        for s in self.streams:
            s.finish()
        sys.stdout, sys.stderr = self.streams[0].terminal, self.streams[1].terminal
        self.file.close()


class Metrics:
    """Training metrics: one JSON object a line in ``metrics.jsonl``, a progress line every ``every``
    iterations (smoothed losses, learning rate, images/s, ETA, peak memory) and, optionally, TensorBoard."""

    def __init__(self, folder: str | os.PathLike | None, step: str, every: int = 50, tensorboard: bool = False,
                 enabled: bool = True):
        self.step, self.every, self.enabled = step, max(int(every), 1), enabled and folder is not None
        self.path = Path(folder) / "metrics.jsonl" if folder is not None else None
        self.window: deque = deque(maxlen=self.every)
        self.start = self.last_report = time.time()
        self.images_since = self.steps_since = 0
        self.writer = _tensorboard(Path(folder) / "tb" / step) if self.enabled and tensorboard else None
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def iteration(self, iteration: int, total: int, values: dict[str, float], images: int, epoch: int | None = None,
                  peak_mb: float | None = None) -> str | None:
        """Record one optimizer step; every ``every`` steps write the smoothed line and return its text."""
        if not self.enabled:
            return None
        self.window.append(values)
        self.images_since += images
        self.steps_since += 1
        if iteration % self.every and iteration != total:
            return None
        smoothed = {k: sum(v[k] for v in self.window) / len(self.window) for k in values}
        now = time.time()
        elapsed, self.last_report = now - self.last_report, now
        rate = self.images_since / elapsed if elapsed > 0 else None
        eta = elapsed / self.steps_since * (total - iteration)
        self.images_since = self.steps_since = 0
        record = {"step": self.step, "epoch": epoch, "iteration": iteration, "total": total, **smoothed,
                  "images_per_s": rate, "eta_s": eta, "peak_mb": peak_mb, "time": time.time() - self.start}
        self._write(record)
        if self.writer is not None:
            for k, v in smoothed.items():
                self.writer.add_scalar(f"{self.step}/{k}", v, iteration)
        shown = "  ".join(f"{k} {v:.4f}" for k, v in smoothed.items())
        return (f"[{self.step}] it {iteration}/{total}  {shown}  "
                + (f"{rate:.1f} img/s  " if rate else "") + f"eta {_duration(eta)}"
                + (f"  peak {peak_mb:.0f} MB" if peak_mb else ""))

    def validation(self, iteration: int, epoch: int | None, scores: dict[str, float]) -> None:
        if not self.enabled:
            return
        self._write({"step": self.step, "epoch": epoch, "iteration": iteration,
                     **{f"val_{k}": v for k, v in scores.items()}, "time": time.time() - self.start})
        if self.writer is not None:
            for k, v in scores.items():
                self.writer.add_scalar(f"{self.step}/val_{k}", v, iteration)

    def _write(self, record: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _tensorboard(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise PipelineError("--tensorboard True needs the tensorboard package: pip install tensorboard") from err
    return SummaryWriter(str(folder))


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}"
