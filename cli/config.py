"""From a command line to settings: the --config file, the demo preset or the dataset's defaults, --work_dir,
the step choice, and where each value came from (--print_config)."""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from cli import demo
from cli.flags import build_parser
from dataset import registry
from engine import devices
from misc import experiment
from misc.errors import PipelineError
from misc.settings import StepSettings
from step import STAGES, STEPS


def explicit_flags(argv: list[str]) -> set[str]:
    """The destinations the user gave on the command line (whatever their values)."""
    parser = build_parser()
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv)))


def apply_dataset_defaults(args, given: set[str]) -> None:
    """The dataset's own defaults, for every flag the user left alone."""
    parser_defaults = {a.dest: a.default for a in build_parser()._actions}
    for key, value in registry.step_defaults(args.dataset, parser_defaults, args.folder_root).items():
        if key not in given:
            setattr(args, key, value)
    for key, value in registry.lists_beside_labels(args.dataset, args.cls_labels, given).items():
        setattr(args, key, value)


# Output flags that --work_dir moves into its folder (each keeps its file or folder name there).
WORK_DIR_FLAGS = ("cam_weights_name", "amn_weights_name", "irn_weights_name", "seg_weights_name", "cam_out_dir",
                  "ir_label_out_dir", "amn_cam_out_dir", "amn_ir_label_out_dir", "sem_seg_out_dir", "sem_seg_map_dir",
                  "ins_seg_out_dir", "seg_out_dir")


def read_config(parser: argparse.ArgumentParser, path: str) -> dict:
    """The --config file's values, converted by each flag's type; an unknown key is an error naming it."""
    from misc.experiment import load_config

    actions = {a.dest: a for a in parser._actions}
    values = load_config(path)
    unknown = sorted(k for k in values if k not in actions or k in ("config", "help"))
    if unknown:
        raise PipelineError(f"--config {path}: unknown flag {', '.join(unknown)} (see python run_sample.py --help)")
    for key, value in values.items():
        convert = actions[key].type
        if convert is not None and isinstance(value, str):
            values[key] = convert(value)
        elif isinstance(value, list) and convert is not None:
            values[key] = [convert(v) if isinstance(v, str) else v for v in value]
    return values


def _record_changes(args, before: dict, origins: dict, origin: str) -> None:
    for key, value in vars(args).items():
        if key not in origins and before.get(key) != value:
            origins[key] = origin


def apply_work_dir(args, given: set[str]) -> None:
    """Every output path the user did not name goes under --work_dir (its file or folder name kept)."""
    if not args.work_dir:
        return
    work = Path(args.work_dir)
    for flag in WORK_DIR_FLAGS:
        if flag not in given:
            setattr(args, flag, str(work / Path(getattr(args, flag)).name))
    if "result_dir" not in given:
        args.result_dir = str(work)
    if "log_name" not in given:
        args.log_name = str(work / "run")


def select_steps(args) -> None:
    """Turn on the steps --steps, --start and --stop name (as well as any --<step>_pass True)."""
    names = []
    if args.steps:
        names += [n.strip() for n in args.steps.split(",") if n.strip()]
    if args.start or args.stop:
        order = list(STAGES)
        names += order[order.index(args.start or order[0]):order.index(args.stop or order[-1]) + 1]
    steps = {flag[:-len("_pass")] for flag, _ in STEPS}
    for name in names:
        chosen = STAGES.get(name) or ((name.removesuffix("_pass"),) if name.removesuffix("_pass") in steps else None)
        if chosen is None:
            raise PipelineError(f"--steps: {name!r} is neither a stage ({', '.join(STAGES)}) nor a step "
                                f"({', '.join(sorted(steps))})")
        for step in chosen:
            setattr(args, f"{step}_pass", True)


def resolve(argv: list[str], description: str | None = None) -> tuple[argparse.Namespace, dict[str, str]]:
    """Parsed arguments (config file, demo preset or dataset defaults, --work_dir and the step choice applied)
    and where each non-default value came from."""
    parser = build_parser(description)
    first = parser.parse_args(argv)
    config = read_config(parser, first.config) if first.config else {}
    parser.set_defaults(**config)
    args = parser.parse_args(argv)
    cli = explicit_flags(argv)
    origins = {k: "command line" for k in cli}
    origins.update({k: f"config {first.config}" for k in config if k not in cli})
    given = cli | set(config)
    before = dict(vars(args))
    if args.demo:
        demo.configure(args, given, generate=not args.print_config)
        _record_changes(args, before, origins, "demo preset")
    else:
        apply_dataset_defaults(args, given)
        _record_changes(args, before, origins, f"{args.dataset} default")
        root_flag = f"{args.dataset}_root"
        if getattr(args, root_flag) is None:
            parser.error(f"--{root_flag} is required with --dataset {args.dataset} (or use --demo)")
    before = dict(vars(args))
    apply_work_dir(args, given)
    if args.demo:
        demo.link_backbones(args, given)
    select_steps(args)
    _record_changes(args, before, origins, "--work_dir / step choice")
    try:
        devices.parse_devices(args.device)
    except (RuntimeError, ValueError) as err:
        parser.error(str(err))
    if args.num_workers is None:
        args.num_workers = devices.default_workers(args.device)
        origins["num_workers"] = f"auto for --device {args.device}"
    return args, origins


def run_folder(args) -> Path:
    """The folder a run owns: --work_dir, else --result_dir (``misc.experiment.run_folder``)."""
    return experiment.run_folder(args.work_dir, args.result_dir)


def step_settings(step: str, **overrides) -> StepSettings:
    """The settings ``step/<step>.py`` reads, at the driver's defaults (VOC's) but for ``overrides``: what a bench
    or a test hands a step's functions instead of a hand-made namespace."""
    module = importlib.import_module(f"step.{step}")
    defaults = {a.dest: a.default for a in build_parser()._actions if a.dest != "help"}
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise PipelineError(f"step_settings: unknown flag {', '.join(unknown)}")
    return StepSettings(step, module.SETTINGS, {**defaults, **overrides})
