"""What the four training steps read from the flags for the training engine, in one place: the record that
makes a result, and the run (:class:`engine.training.TrainRun`). The steps are the edge: the engine sees the
values, never the flags namespace."""
from __future__ import annotations

import torch

from engine.training import TrainRun
from misc import provenance
from misc.experiment import run_folder


def training_record(args, flags: tuple[str, ...], **extra) -> dict:
    """The settings that change a training result: the named flags plus digests of its inputs."""
    return provenance.canonical({**{f: vars(args).get(f) for f in flags}, **extra})


def train_run(args, weights_name: str, desc: str, record: dict, device: torch.device) -> TrainRun:
    """The training run of a step: its weights, record and device, and the run-wide flags."""
    saved = {k: provenance.canonical(v) for k, v in vars(args).items()}  # JSON-like: loads with weights_only
    return TrainRun(weights_name=weights_name, desc=desc, record=record, device=device, overwrite=args.overwrite,
                    run_dir=str(run_folder(args.work_dir, args.result_dir)), log_every=args.log_every,
                    tensorboard=args.tensorboard, saved_flags=saved)
