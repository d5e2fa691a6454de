"""What moves the demo's figures between machines: CPU kernels, thread count, or data-loader order?

Run after a demo: python bench/demo_variance.py [--from result/demo/seed_0] [--stages seg,cam]

Each variant copies the finished demo folder and reruns one stage there (``--steps seg``: train_seg, make_seg and
eval_seg on the demo's final masks; ``--steps cam``: train_cam, make_cam and eval_cam) in a fresh process:
  reference       as the demo runs it (this machine's best kernels, every core, 2 loader workers)
  reference again the same once more (is the run deterministic on one machine?)
  avx2 kernels    ATEN_CPU_CAPABILITY=avx2 and ONEDNN_MAX_CPU_ISA=AVX2: the kernels a CPU without AVX-512 gets
  1 thread        OMP_NUM_THREADS=1: another split of every parallel reduction
  0 workers       --num_workers 0: batches built in the main process (is the data order the workers'?)
It prints each variant's mIoU, its difference from the reference, and the wall time, beside the reference run
made in the same invocation.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {"reference": ({}, []), "reference again": ({}, []),
            "avx2 kernels": ({"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}, []),
            "1 thread": ({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}, []),
            "0 workers": ({}, ["--num_workers", "0"])}
RECORDS = {"seg": ("seg.json", lambda r: (r["miou"], (r.get("crf") or {}).get("miou"))),
           "cam": ("cam.json", lambda r: (r["miou"], r["sweep"]["best_miou"]))}


def run_variant(source: Path, stage: str, env: dict, extra: list[str], seed: int) -> tuple[tuple, float]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "run"
        shutil.copytree(source, work, ignore=shutil.ignore_patterns("report", ".lock"))
        start = time.perf_counter()
        subprocess.run([sys.executable, "run_sample.py", "--demo", "--work_dir", str(work), "--steps", stage,
                        "--seed", str(seed), "--overwrite", "True", *extra], cwd=REPO, check=True,
                       env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        name, pick = RECORDS[stage]
        return pick(json.loads((work / name).read_text())), seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--from", dest="source", default="result/demo/seed_0", help="a finished demo folder")
    p.add_argument("--seed", type=int, default=0, help="the seed that folder was run with")
    p.add_argument("--stages", default="seg,cam", help="comma-separated: seg, cam")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of the variants")
    a = p.parse_args()
    source = (REPO / a.source) if not Path(a.source).is_absolute() else Path(a.source)
    for stage in a.stages.split(","):
        print(f"--steps {stage} from {source} (mIoU %: {'raw, after CRF' if stage == 'seg' else 'default, best'})")
        ref = None
        for name in a.variants.split(","):
            env, extra = VARIANTS[name]
            figures, seconds = run_variant(source, stage, env, extra, a.seed)
            ref = ref or figures
            diff = ", ".join(f"{100 * (f - r):+.2f}" for f, r in zip(figures, ref) if f is not None)
            shown = ", ".join(f"{100 * f:.2f}" for f in figures if f is not None)
            print(f"  {name:16s} {shown:14s} (vs reference {diff}; {seconds:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
