"""Shared fixtures: the official goldens and a tiny prepared toy dataset."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def golden():
    path = REFERENCE / "official_small.npz"
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="session")
def state_dict_keys():
    import json

    path = REFERENCE / "state_dict_keys.json"
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    """A 16+4 image toy VOC at 64 px with its lists and class labels."""
    from voc12 import prepare, toy as toy_mod

    root = tmp_path_factory.mktemp("toy") / "VOC2012"
    toy_mod.generate(root, seed=1, num_train=16, num_val=4, size=64)
    meta = root.parent / "meta"
    prepare.prepare(str(root), None, str(meta))
    return argparse.Namespace(root=root, meta=meta)
