"""Networks and their weights: building a network by name, final weights (a plain state dict under the
official names) and what a file holds, and the resumable checkpoint (model, optimizer, step, args, RNG
states, and the record it must be continued with)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from engine.seeding import restore_rng_states, rng_states
from misc import distributed, provenance
from misc.errors import PipelineError
from misc.fileio import atomic_open, load_state_dict, resolve_weights, save_torch
from net import registry, resnet50


def build_network(network: str, class_name: str, **kwargs) -> torch.nn.Module:
    """``network``'s class ``class_name`` (``--cam_network resnet50_cam`` or the official ``net.resnet50_cam``,
    ``Net``) from the registry (:mod:`net.registry`), built with ``kwargs``."""
    try:
        return registry.create_model(network, class_name, **kwargs)
    except ValueError as err:
        raise PipelineError(str(err)) from None


def init_backbone(model: torch.nn.Module, spec: str | None) -> None:
    print(f"backbone weights: {resnet50.load_backbone_weights(model.resnet50, spec)}")


def checkpoint_path(name: str, flag: str, producer: str) -> Path:
    """The checkpoint file under our name or the official ``name.pth``; missing is an error naming both."""
    try:
        return resolve_weights(name)
    except FileNotFoundError as err:
        raise PipelineError(f"checkpoint {name} does not exist (nor {name}.pth; set by {flag}); run {producer} "
                            "first, or put the released file there") from err


def describe_checkpoint(sd: dict) -> str:
    """What network a state dict holds, from its keys and head shapes."""
    def shape(key):
        return "x".join(str(d) for d in sd[key].shape[:2])

    if "label_enc.weight" in sd:
        return f"an AMN network (label_enc {shape('label_enc.weight')})"
    if "fc_edge6.weight" in sd or "fc_dp7.0.weight" in sd:
        return "an IRN network (edge and displacement branches)"
    if any(k.startswith("base.aspp") for k in sd):
        return "a DeepLab-v2 network"
    if "classifier.weight" in sd:
        return f"a CAM network (classifier {shape('classifier.weight')})"
    if "fc.weight" in sd and "conv1.weight" in sd:
        return f"an ImageNet ResNet classifier (fc {shape('fc.weight')})"
    return f"an unknown network ({len(sd)} tensors, first {next(iter(sd), 'none')})"


def load_weights(model: torch.nn.Module, name: str, expected: str = "", flag: str = "", producer: str = "",
                 strict: bool = True) -> Path:
    """Strictly load final weights from ``name`` (or the official ``name.pth``).

    A file of another network, or of another class count, is an error that says what the file holds.
    """
    path = checkpoint_path(name, flag or "the weights flag", producer or "the training step")
    sd = load_state_dict(path)
    try:
        model.load_state_dict(sd, strict=strict)
    except RuntimeError as err:
        held = describe_checkpoint(sd)
        want = expected or type(model).__name__
        if "size mismatch" in str(err):
            raise PipelineError(f"{path} holds {held}, whose head does not fit {want} for "
                                f"{getattr(model, 'n_classes', '?')} classes; use the checkpoint of this dataset "
                                f"({flag})") from err
        raise PipelineError(f"{path} holds the weights of {held}, not of {want}; pass the right file with "
                            f"{flag or 'the weights flag'}") from err
    return path


def resume_path(weights_name: str) -> Path:
    return Path(f"{weights_name}.resume")


def init_digest(spec: str | None) -> str:
    """Content digest of an initialisation file, or the spec itself (none, auto)."""
    if spec is not None and Path(spec).is_file():
        return provenance.file_digest(spec)
    found = resnet50.find_imagenet_weights() if spec in (None, "auto") else None
    return provenance.file_digest(found) if found else str(spec)


def save_resume(weights_name: str, model, optimizer, epoch: int, unit: str, extra: dict) -> None:
    """Everything needed to continue after ``epoch`` epochs (or iterations, ``unit``), the RNG states, and
    ``extra``: the run's flags (``args``), the record it must be continued with (``record``) and the training
    hooks' state (``hooks``)."""
    save_torch(resume_path(weights_name), {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                           "epoch": epoch, "unit": unit, "args": extra.get("args", {}),
                                           "record": extra.get("record"), "hooks": extra.get("hooks", {}),
                                           **rng_states()})


def try_resume(weights_name: str, model, optimizer, device: torch.device, record: dict,
               overwrite: bool) -> tuple[int, dict]:
    """Load a resumable checkpoint if one exists and was made with ``record``; returns the finished epochs (or
    iterations) and the training hooks' saved state."""
    path = resume_path(weights_name)
    if not path.is_file():
        return 0, {}
    if overwrite:
        print(f"--overwrite True: ignoring {path} and training from the start")
        return 0, {}
    state = load_state_dict(path, map_location="cpu")
    saved = state.get("record")
    if saved != record:
        raise PipelineError(f"{path} was saved by a run with other settings "
                            f"({provenance.describe_difference(saved, record)}); rerun with the same flags to "
                            f"continue it, or delete it (or pass --overwrite True) to start over")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    restore_rng_states(state)
    print(f"resuming from {path} after {state.get('unit', 'epoch')} {state['epoch']}")
    return int(state["epoch"]), state.get("hooks", {})


def _save_final(weights_name: str, model) -> None:
    os.makedirs(Path(weights_name).parent, exist_ok=True)
    save_torch(weights_name, model.state_dict())
    resume_path(weights_name).unlink(missing_ok=True)
    print(f"saved {weights_name}")


def save_final(weights_name: str, model) -> None:
    """The plain state dict under the official file name (rank 0); the resume file is no longer needed."""
    distributed.save_on_master(_save_final, weights_name, model)


def write_seg_meta(weights_name: str, meta: dict) -> None:
    """How to rebuild and feed the trained network (depth, classes, input normalisation), beside the weights."""
    with atomic_open(seg_meta_path(weights_name), "w") as f:
        json.dump(meta, f, indent=1)


def seg_meta_path(weights_name: str) -> Path:
    return Path(f"{weights_name}.json")
