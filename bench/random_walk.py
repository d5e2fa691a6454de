"""Sparse random walk vs the official dense one: time, peak memory, agreement.

Run: python bench/random_walk.py
The dense walk is run at sizes it can afford and extrapolated to 94x125 by N^3
(its 8 squarings of an N x N matrix dominate); each measurement runs in a fresh
subprocess so that peak RSS belongs to it alone.
"""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time, warnings
sys.path.insert(0, {repo!r}); sys.path.insert(0, {tests!r})
import torch
torch.set_num_threads(2)
from postprocess import random_walk
from test_random_walk import dense_propagate_to_edge
mode, h, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
g = torch.Generator().manual_seed(0)
edge = torch.rand(1, h, w, generator=g) ** 3
x = torch.rand(2, h, w, generator=g)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
fn = random_walk.propagate_to_edge if mode == "fast" else dense_propagate_to_edge
t = time.perf_counter(); out = fn(x, edge); dt = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
torch.save(out, sys.argv[4])
print(json.dumps({{"time": dt, "peak_mb": peak / 1024}}))
"""


def measure(mode: str, h: int, w: int, out: Path) -> dict:
    code = CHILD.format(repo=str(REPO), tests=str(REPO / "tests" / "postprocess"))
    res = subprocess.run([sys.executable, "-c", code, mode, str(h), str(w), str(out)], capture_output=True,
                         text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def labels(rw, bg=0.25):
    import torch
    rw = rw[:, 0] / rw.max()
    return torch.argmax(torch.cat([torch.full_like(rw[:1], bg), rw]), 0)


def main() -> None:
    import torch

    tmp = Path("/tmp/rw_bench")
    tmp.mkdir(exist_ok=True)
    dense_points = []
    for h, w in ((24, 32), (32, 43), (48, 64)):
        f, d = measure("fast", h, w, tmp / "f.pt"), measure("dense", h, w, tmp / "d.pt")
        a, b = torch.load(tmp / "f.pt"), torch.load(tmp / "d.pt")
        rel = float((a - b).abs().max() / b.abs().max())
        agree = float((labels(a) == labels(b)).float().mean())
        dense_points.append((h * w, d["time"]))
        print(f"{h}x{w} (N={h * w}): fast {f['time']:.3f}s / {f['peak_mb']:.0f} MB, dense {d['time']:.2f}s / "
              f"{d['peak_mb']:.0f} MB, max rel diff {rel:.1e}, equal labels {100 * agree:.2f}%")
    f = measure("fast", 94, 125, tmp / "f.pt")
    n = 94 * 125
    # Extrapolate from the largest dense run by N^3.
    n0, t0 = dense_points[-1]
    dense_est = t0 * (n / n0) ** 3
    dense_mem_gb = 3 * n * n * 4 / 1e9
    print(f"94x125 (N={n}): fast {f['time']:.3f}s, peak {f['peak_mb']:.0f} MB; dense (extrapolated by N^3 from "
          f"N={n0}) {dense_est:.0f}s and >= {dense_mem_gb:.1f} GB; speed-up ~{dense_est / f['time']:.0f}x")


if __name__ == "__main__":
    main()
