"""The recipe the four training steps share (detectron2's ``DefaultTrainer``): :class:`TrainingStep` checks the
inputs, builds the record, device, network, loader and optimizer, trains through ``engine.training.train`` and
saves the final weights; a step states only what differs (its network, parameter groups and optimizer, dataset,
loss on a batch, and hooks). The steps are the edge: this is where the flags are read, and the engine sees the
values (:class:`engine.training.TrainRun`), never the flags namespace."""
from __future__ import annotations

import torch
from torch.utils.data import Dataset

from dataset import checks
from engine import checkpoints, devices, precision, training
from engine.training import TrainRun
from misc import provenance
from misc.experiment import run_folder
from step._config import data_config

# The run-wide flags a training step reads for the engine: devices, kernels, precision, loader workers, resuming
# and logging.
TRAIN_FLAGS = ("device", "dist_timeout_min", "amp", "channels_last", "seed", "num_workers", "overwrite", "log_every",
               "tensorboard", "work_dir", "result_dir")


def training_record(args, flags: tuple[str, ...], **extra) -> dict:
    """The settings that change a training result: the named flags plus digests of its inputs."""
    return provenance.canonical({**{f: vars(args).get(f) for f in flags}, **extra})


def train_run(args, weights_name: str, desc: str, record: dict, device: torch.device) -> TrainRun:
    """The training run of a step: its weights, record and device, and the run-wide flags."""
    saved = {k: provenance.canonical(v) for k, v in vars(args).items()}  # JSON-like: loads with weights_only
    return TrainRun(weights_name=weights_name, desc=desc, record=record, device=device, overwrite=args.overwrite,
                    run_dir=str(run_folder(args.work_dir, args.result_dir)), log_every=args.log_every,
                    tensorboard=args.tensorboard, saved_flags=saved)


class TrainingStep:
    """One training step's recipe. Subclasses set ``name``, ``weights_flag`` (the flag naming the final weights),
    ``list_flag`` (the training list), ``result_flags`` (flags whose change makes a resumable checkpoint
    unusable) and define the ``build_*`` methods and :meth:`loss`; :meth:`run` does the rest in the order every
    step shares (the network is built before the loader, so its random initialisation draws first)."""

    name: str
    weights_flag: str
    list_flag: str = "train_list"
    result_flags: tuple[str, ...] = ()

    def __init__(self, args):
        self.args = args
        self.data = data_config(args)
        self.device: torch.device | None = None

    # What a step states -----------------------------------------------------------------------------------

    def check(self, names: list[str]) -> None:
        """Checks of the step's other inputs, before any work (a second list, initial weights)."""

    def inputs(self, names: list[str]) -> dict:
        """What the result depends on besides the flags (digests of the seeds and initial weights), for the
        record; called after :meth:`build_model`."""
        return {}

    def build_model(self, spec) -> torch.nn.Module:
        raise NotImplementedError

    def build_train_dataset(self, spec, root, names: list[str]) -> Dataset:
        raise NotImplementedError

    def batch_size(self) -> int:
        raise NotImplementedError

    def build_optimizer(self, model: torch.nn.Module, n_train: int) -> torch.optim.Optimizer:
        raise NotImplementedError

    def schedule(self) -> training.Epochs | training.Iterations:
        raise NotImplementedError

    def loss(self, net: torch.nn.Module, pack: dict) -> tuple[torch.Tensor, dict]:
        """The loss of one batch and the values to show."""
        raise NotImplementedError

    def build_hooks(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> list[training.Hook]:
        return []

    def after_train(self, model: torch.nn.Module) -> None:
        """Work on the trained network before its weights are saved (IRN's mean displacement)."""

    def after_save(self, model: torch.nn.Module) -> None:
        """Work after the final weights are saved (the segmentation network's metadata)."""

    # Shared -----------------------------------------------------------------------------------------------

    def forward(self, net: torch.nn.Module, *inputs):
        """``net`` on the batch image (``inputs[0]``, moved to the device, channels-last if asked) and the other
        inputs, under autocast with --amp."""
        img = precision.batch_input(inputs[0], self.device, self.args.channels_last)
        with precision.autocast(self.device, self.args.amp):
            return net(img, *inputs[1:])

    def run(self) -> None:
        args = self.args
        self.spec, self.root, names = checks.check_inputs(self.data, vars(args)[self.list_flag],
                                                          f"--{self.list_flag}")
        self.check(names)
        model = self.build_model(self.spec)
        record = training_record(args, self.result_flags, **self.inputs(names))
        self.device = devices.training_device(args.device, args.dist_timeout_min)
        dataset = self.build_train_dataset(self.spec, self.root, names)
        loader = training.train_loader(dataset, self.batch_size(), args.num_workers, self.device, args.seed)
        optimizer = self.optimizer = self.build_optimizer(model, len(dataset))
        model.to(self.device)
        precision.use_channels_last(model, args.channels_last)
        weights = vars(args)[self.weights_flag]
        run = train_run(args, weights, self.name, record, self.device)
        training.train(model, optimizer, loader, self.schedule(), run, self.loss,
                       hooks=self.build_hooks(model, optimizer))
        self.after_train(model)
        checkpoints.save_final(weights, model)
        self.after_save(model)
