"""The official network goldens (tests/data/network_<branch>.npz, made by tests/data/make_network_goldens.py)
and the deterministic weights they were made with."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from tests.data.detweights import SKIP, make_state

DATA = Path(__file__).resolve().parent / "data"


@lru_cache(maxsize=None)
def network_golden(branch: str = "voc12") -> dict[str, np.ndarray]:
    with np.load(DATA / f"network_{branch}.npz", allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@lru_cache(maxsize=None)
def _layouts() -> dict:
    return json.loads((DATA / "state_dict_keys.json").read_text())


def det_state(checkpoint: str, branch: str = "voc12") -> dict[str, torch.Tensor]:
    """The weights the golden's official network held: make_state over the released layout ``checkpoint``,
    with the golden's aliases and seed (IRN's crop-sized path buffers left out)."""
    golden = network_golden(branch)
    seeds = json.loads(str(golden["detweights_seeds"]))
    net = {"res50_cam": "cam", "res50_amn": "amn", "res50_irn": "irn"}[checkpoint.removesuffix("_coco")]
    shapes = {k: v for k, v in _layouts()["shapes"][checkpoint].items() if not any(s in k for s in SKIP)}
    aliases = json.loads(str(golden[f"{checkpoint}/aliases"]))
    return make_state(shapes, aliases, seeds[net])


def load_det(model: torch.nn.Module, checkpoint: str, branch: str = "voc12") -> torch.nn.Module:
    """``model`` with the golden's weights; only IRN's crop-sized path buffers may stay as built."""
    missing, unexpected = model.load_state_dict(det_state(checkpoint, branch), strict=False)
    assert not unexpected and all(any(s in k for s in SKIP) for k in missing), (missing, unexpected)
    return model
