"""Generators: the global seeds of a step, per-image and per-sample seeds that make results independent of
devices, workers and world size, and the states a resumable checkpoint keeps."""
from __future__ import annotations

import numpy as np
import torch


def seed_rngs(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (every CUDA device's too)."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def image_seed(seed: int, name: str) -> int:
    """The generator seed of one image's inference, so random layers (AMN's dropout at inference) draw the
    same for an image whichever worker and device make it."""
    return int(np.random.SeedSequence([seed, *name.encode()]).generate_state(1)[0])


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of one sample's augmentations in one epoch."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


def rng_states() -> dict:
    """torch's CPU generator and, where CUDA is used, every GPU's (AMN's dropout draws from the GPU's)."""
    states = {"torch_rng": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda_rng"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(state: dict) -> None:
    """The generators saved by :func:`rng_states` (a GPU state only where this machine has as many GPUs)."""
    if "torch_rng" in state:
        torch.set_rng_state(state["torch_rng"])
    cuda = state.get("cuda_rng")
    if cuda is not None:
        if not torch.cuda.is_available() or torch.cuda.device_count() != len(cuda):
            print("warning: the resume file holds the generators of a machine with other GPUs; random layers "
                  "(dropout) continue from fresh ones")
            return
        torch.cuda.set_rng_state_all(cuda)
