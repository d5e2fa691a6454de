"""``run_sample.py ... --seeds 0,1,2 --work_dir W``: the chosen steps once per seed into W/seed_<k>/, then the
spread of every evaluated stage in W/seeds.json and W/seeds.md (``report.seeds``)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from misc.errors import PipelineError
from report import seeds as seeds_report
from step import STEPS

# Flags that choose steps: the report over the seeds runs make_report alone on the parent folder.
STEP_CHOICE = {"--steps", "--start", "--stop", *(f"--{flag}" for flag, _ in STEPS)}


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> [0, 1, 2]; anything else is an error that says what to give."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        seeds = []
    if not seeds or len(set(seeds)) != len(seeds):
        raise PipelineError(f"--seeds {text!r}: give distinct integers separated by commas, such as 0,1,2")
    return seeds


def without_flags(argv: Sequence[str], flags: set[str]) -> list[str]:
    """``argv`` without the given flags and their values (``--flag value`` and ``--flag=value``; bare boolean
    flags such as ``--train_cam_pass`` with no value too)."""
    out, skip = [], False
    for i, token in enumerate(argv):
        if skip:
            skip = False
            continue
        name = token.split("=", 1)[0]
        if name in flags or (name.startswith("--no_") and f"--{name[5:]}" in flags):
            has_value = "=" not in token and i + 1 < len(argv) and not argv[i + 1].startswith("--")
            skip = has_value
            continue
        out.append(token)
    return out


def seed_folder(work_dir: str | Path, seed: int) -> Path:
    return Path(work_dir) / f"seed_{seed}"


def run_seeds(argv: Sequence[str], work_dir: str | None, seeds_text: str, report: bool,
              run_one: Callable[[list[str]], None]) -> dict:
    """Run ``argv`` once per seed (``run_one`` is the driver's main), summarise, and, with ``report``, run
    make_report on the parent folder. Returns the summary; a failed seed is reported, not averaged."""
    if not work_dir:
        raise PipelineError("--seeds needs --work_dir DIR: each seed runs into DIR/seed_<k>/ and the spread goes to "
                            "DIR/seeds.json")
    seeds = parse_seeds(seeds_text)
    base = without_flags(argv, {"--seeds", "--seed", "--work_dir"})
    runs = []
    for k in seeds:
        folder = seed_folder(work_dir, k)
        print(f"\n##### seed {k} ({seeds.index(k) + 1} of {len(seeds)}): {folder}", flush=True)
        failure = None
        try:
            run_one([*base, "--work_dir", str(folder), "--seed", str(k)])
        except SystemExit as exit_:
            if exit_.code not in (0, None):
                failure = seeds_report.last_error(folder) or f"exit status {exit_.code}"
        runs.append((f"seed {k}", folder, failure))
    summary = seeds_report.summarize(runs)
    seeds_report.write(summary, Path(work_dir))
    print(f"\n##### spread over seeds {seeds_text} ({Path(work_dir) / seeds_report.SEEDS_MD})")
    print(seeds_report.markdown(summary), end="")
    if report and summary["n_ok"]:
        run_one([*without_flags(base, STEP_CHOICE), "--work_dir", str(work_dir), "--steps", "report"])
    return summary
