"""Hash every output of the toy pipelines (VOC and COCO layouts, every step, tiny CPU settings), so a change
that must not move any result is checked by comparing two manifests:

    python bench/toy_outputs.py /tmp/before > before.txt   # at the old commit (a git worktree)
    python bench/toy_outputs.py /tmp/after > after.txt
    diff before.txt after.txt

Each line is ``sha256  path`` relative to the run folder; logs (they hold times) are left out.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

SKIPPED = ("log", ".lock", "metrics.jsonl")


def run_voc(out: Path) -> None:
    import run_sample
    from helpers import pipeline_argv
    from voc12 import prepare, toy

    root = toy.generate(out / "data" / "VOC2012", seed=1, num_train=16, num_val=4, size=64)
    meta = out / "data" / "meta"
    prepare.prepare(str(root), None, str(meta))
    ns = type("Toy", (), {"root": root, "meta": meta})
    run_sample.main(pipeline_argv(ns, out / "run") + _all_steps())


def run_coco(out: Path) -> None:
    import run_sample
    from coco14 import prepare, toy
    from helpers import tiny_settings

    root = toy.generate(out / "data", num_train=12, num_val=4, size=64)
    meta = out / "meta"
    prepare.prepare(str(root), str(meta))
    run_sample.main(["--dataset", "coco14", "--coco14_root", str(root), "--train_list", str(meta / "train14.txt"),
                     "--val_list", str(meta / "val14.txt"), "--infer_list", str(meta / "train14.txt"),
                     "--cls_labels", str(meta / "cls_labels.npy"), *tiny_settings(out / "run"), *_all_steps()])


def _all_steps() -> list[str]:
    import run_sample

    return [x for flag, _ in run_sample.STEPS for x in (f"--{flag}", "True")]


def manifest(folder: Path) -> list[str]:
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder)
        if any(part.startswith(SKIPPED) for part in rel.parts):
            continue
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}  {rel}")
    return lines


def main() -> None:
    out = Path(sys.argv[1])
    with open(out.with_suffix(".stdout"), "w") as sink:
        real, sys.stdout = sys.stdout, sink
        try:
            run_voc(out / "voc")
            run_coco(out / "coco")
        finally:
            sys.stdout = real
    print("\n".join(manifest(out / "voc" / "run") + manifest(out / "coco" / "run")))


if __name__ == "__main__":
    main()
