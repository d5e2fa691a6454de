"""Shared fixtures: the official goldens and a tiny prepared toy dataset."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"


@pytest.fixture(scope="session")
def golden():
    path = DATA / "official_small.npz"
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="session")
def state_dict_keys():
    import json

    path = DATA / "state_dict_keys.json"
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    """A 16+4 image toy VOC at 64 px with its lists and class labels."""
    from voc12 import prepare
    from voc12 import toy as toy_mod

    root = tmp_path_factory.mktemp("toy") / "VOC2012"
    toy_mod.generate(root, seed=1, num_train=16, num_val=4, size=64)
    meta = root.parent / "meta"
    prepare.prepare(str(root), None, str(meta))
    return argparse.Namespace(root=root, meta=meta)
