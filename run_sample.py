"""AMN pipeline driver: turn on steps with --<step>_pass True, as in the official run_sample.py.

  python run_sample.py --voc12_root VOCdevkit/VOC2012 --train_cam_pass True --make_cam_pass True ...
  python run_sample.py --dataset coco14 --coco14_root COCO2014 ...     (or run_sample_coco.py)
  python run_sample.py --dataset folder --folder_root data/mine ...    (after python -m dataset.folder)
  python run_sample.py --demo          # toy dataset, every step, CPU preset, a few minutes

  python run_sample.py --config configs/voc12.yaml --work_dir work/exp1 --steps cam,amn
  python run_sample.py --config configs/voc12.yaml --print_config     (resolved settings and their origin)
  python run_sample.py --demo --seeds 0,1,2                             (once per seed; mean +- std in seeds.md)

Steps run in pipeline order: CAM -> seeds -> AMN -> AMN seeds -> IRN -> masks -> segmentation network -> report.
Choose them with --<step>_pass True, --steps (stages cam, amn, irn, instances, masks, seg, report, or step names)
or --start/--stop. Every boolean flag also takes the bare form (--amp) and --no_<flag>. A --config YAML file sets
flags by name (without dashes); the command line overrides it. With --work_dir DIR every output (weights,
maps, seeds, masks, evals, report, run.log, config.yaml, metrics.jsonl) goes under DIR, and DIR is locked while the
run lasts. Each flag's help says which steps read it. Errors print one line; --debug shows the traceback.
"""
from __future__ import annotations

import importlib
import os
import signal
import sys
import time

from cli import config as _config
from cli import demo
from cli.flags import build_parser as _build_parser
from misc.errors import PipelineError, close_progress_bars
from misc.settings import StepSettings
from step import STEPS

# Steps that only rank 0 runs under torchrun (the others wait for it).
RANK0_ONLY = ("eval_cam_pass", "eval_amn_cam_pass", "export_ins_coco_pass", "eval_ins_seg_pass", "eval_sem_seg_pass",
              "eval_seg_pass", "make_report_pass")


def build_parser():
    """The driver's parser (``cli.flags``) with this help text."""
    return _build_parser(__doc__)


def resolve(argv: list[str]):
    """Parsed settings and where each value came from (``cli.config.resolve``)."""
    return _config.resolve(argv, __doc__)


def run_steps(args) -> dict[str, float]:
    """Run the enabled steps in order; returns seconds per step.

    Under torchrun every rank runs the training and make steps (each its share), all wait for each other after
    every step, and rank 0 alone runs the evals and the report.
    """
    from misc import distributed

    if distributed.launched_by_torchrun():
        from engine.devices import process_device
        distributed.init_distributed(process_device(args.device), args.dist_timeout_min)
    timings = {}
    for flag, module in STEPS:
        if getattr(args, flag):
            name = module.split(".")[-1]
            start = time.time()
            if distributed.is_main() or flag not in RANK0_ONLY:
                print(f"=== {name}", flush=True)
                # Each step starts from --seed, so a step run on its own (--train_irn_pass True) initialises
                # and draws exactly as it does inside the whole pipeline.
                from engine.seeding import seed_rngs
                seed_rngs(args.seed)
                step = importlib.import_module(module)
                step.run(StepSettings(name, step.SETTINGS, vars(args)))
            distributed.barrier()
            timings[name] = time.time() - start
            print(f"step.{name}: {timings[name]:.1f}s", flush=True)
    return timings


def run_seeds(argv: list[str], args) -> None:
    """--seeds: every seed's run (this driver, in turn) and the spread over them (``cli.seeds``)."""
    from cli.seeds import run_seeds as _run_seeds

    try:
        summary = _run_seeds(argv, args.work_dir, args.seeds, args.make_report_pass, main)
    except PipelineError as err:
        raise SystemExit(f"error: {err}") from None
    if summary["n_failed"]:
        raise SystemExit(f"error: {summary['n_failed']} of {len(summary['runs'])} seeds failed; the spread is over "
                         f"the rest ({args.work_dir}/seeds.md)")


def _terminate(signum, frame):
    """SIGTERM unwinds like Ctrl-C, so loaders and pools shut their workers down."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args, origins = resolve(argv)
    except PipelineError as err:
        raise SystemExit(f"error: {err}") from None
    if args.print_config:
        from misc.experiment import dump_config
        print(dump_config(vars(args), origins), end="")
        return
    if args.seeds:
        run_seeds(argv, args)
        return
    signal.signal(signal.SIGTERM, _terminate)
    from engine.precision import configure_kernels
    configure_kernels(args.deterministic, args.tf32)
    from misc import distributed
    from misc.experiment import RunLock, RunLog, dump_config

    rank = distributed.rank()
    lock = RunLock(_config.run_folder(args))
    try:
        if rank == 0:
            lock.acquire()
    except PipelineError as err:
        raise SystemExit(f"error: {err}") from None
    os.makedirs(os.path.dirname(args.log_name) or ".", exist_ok=True)
    log = RunLog(args.log_name + (".log" if rank == 0 else f".rank{rank}.log"))
    try:
        print(" ".join(sys.argv))
        if rank == 0:
            (_config.run_folder(args) / "config.yaml").write_text(dump_config(vars(args), origins))
        timings = run_steps(args)
        if args.demo:
            demo.print_summary(args, timings)
    except Exception as err:  # one line for the user; --debug shows where
        if args.debug:
            raise
        close_progress_bars()
        print(f"error: {err}" if isinstance(err, (PipelineError, FileNotFoundError)) else
              f"error: {type(err).__name__}: {err} (rerun with --debug for the traceback)", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        log.close()
        lock.release()


if __name__ == "__main__":
    main()
