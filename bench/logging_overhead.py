"""The training log's cost per iteration: a training-sized loop with and without the metrics writer.

Run: python bench/logging_overhead.py [--iters 2000] [--every 1 50]
Times --iters iterations of the engine's per-step bookkeeping (the progress bar's postfix, the metrics window, the
metrics.jsonl line and the printed line every --every iterations) against the same loop with the metrics writer
disabled, in one process, and prints milliseconds per iteration and the difference. The training step itself is
left out (on a GPU it takes 100-1000 ms per iteration), so the figures are the logging's own cost.
"""
import argparse
import io
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from misc.experiment import Metrics  # noqa: E402


def loop(iters: int, metrics: Metrics) -> float:
    """Milliseconds per iteration of the engine's bookkeeping with ``metrics``."""
    from tqdm import tqdm

    sink = io.StringIO()
    start = time.perf_counter()
    with redirect_stdout(sink):
        pbar = tqdm(range(iters), file=sink, dynamic_ncols=True)
        for i in pbar:
            shown = {"pos": 0.5, "neg": 0.25, "dp_fg": 0.125, "dp_bg": 0.0625, "lr": 0.1}
            pbar.set_postfix({k: f"{v:.4f}" for k, v in shown.items()})
            line = metrics.iteration(i + 1, iters, shown, images=32, epoch=1, peak_mb=1000.0)
            if line:
                pbar.write(line, file=sink)
    metrics.close()
    return 1000 * (time.perf_counter() - start) / iters


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--every", type=int, nargs="+", default=[1, 50])
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = loop(a.iters, Metrics(folder, "bench", enabled=False))
        print(f"progress bar only (metrics off): {base:.3f} ms/iteration")
        for every in a.every:
            ms = loop(a.iters, Metrics(Path(folder) / str(every), "bench", every=every))
            print(f"--log_every {every:<4d} {ms:.3f} ms/iteration  ({ms - base:+.3f} ms against the bar alone)")


if __name__ == "__main__":
    main()
