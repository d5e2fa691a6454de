"""Every public name of the official IRN and AMN library modules imports from its official path here.

The names were listed from the official checkouts by tests/data/list_official_names.py (IRN a2ece00, AMN voc12
75c1999, coco14 e031f7c) into tests/data/official_names.json.
"""
import importlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

NAMES = json.loads((Path(__file__).parent / "data" / "official_names.json").read_text())
# Read on first use from the official relative path (the official modules load it at import).
LAZY = {"cls_labels_dict"}
CASES = [(repo, module, name) for repo, mods in NAMES.items() for module, names in mods.items() for name in names
         if name not in LAZY]


@pytest.mark.parametrize("repo, module, name", CASES, ids=[f"{r}:{m}.{n}" for r, m, n in CASES])
def test_official_name_imports_from_its_official_module(repo, module, name):
    assert hasattr(importlib.import_module(module), name)


@pytest.mark.parametrize("module, folder, key", [("voc12.dataloader", "voc12", "2007_000032"),
                                                  ("coco14.dataloader", "coco14", "000000000009")])
def test_cls_labels_dict_and_the_npy_helper_read_the_official_path(tmp_path, monkeypatch, module, folder, key):
    from dataset.spec import save_cls_labels

    mod = importlib.import_module(module)
    (tmp_path / folder).mkdir()
    save_cls_labels(tmp_path / mod.OFFICIAL_CLS_LABELS, {key: np.array([0, 1, 0], np.float32)})
    monkeypatch.chdir(tmp_path)
    assert mod.cls_labels_dict[key].tolist() == [0, 1, 0]
    official_int = int(key.replace("_", ""))  # the official lists are read as integers
    assert mod.load_image_label_list_from_npy([official_int]).tolist() == [[0, 1, 0]]


def test_voc_helpers_by_hand(tmp_path):
    from voc12 import dataloader

    assert dataloader.decode_int_filename(2007000032) == "2007_000032"
    assert dataloader.get_img_path(2007000032, "VOC") == "VOC/JPEGImages/2007_000032.jpg"
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "2007_000032.xml").write_text(
        "<annotation><object><name>dog</name></object><object><name>person</name></object></annotation>")
    label = dataloader.load_image_label_from_xml("2007_000032", tmp_path)
    assert np.flatnonzero(label).tolist() == [dataloader.CAT_NAME_TO_NUM["dog"], dataloader.CAT_NAME_TO_NUM["person"]]


def test_coco_image_path_is_the_official_layout():
    from coco14 import dataloader

    assert dataloader.get_img_path(9, "C") == "C/JPEGImages/train2014/COCO_train2014_000000000009.jpg"


def test_image_helpers_by_hand():
    from misc import imutils

    img = np.arange(5 * 4).reshape(5, 4)
    crop = imutils.center_crop(img, 3, default_value=-1)
    np.testing.assert_array_equal(crop, img[1:4, 0:3])  # rows from round(2 / 2) = 1, columns from round(1 / 2) = 0
    padded = imutils.center_crop(np.ones((2, 2)), 4, default_value=0)
    assert padded.sum() == 4 and padded[1:3, 1:3].all()
    np.testing.assert_array_equal(imutils.compress_range(np.array([7, 3, 7, 10])), [1, 0, 1, 2])
    score = np.zeros((3, 1, 2))
    score[1, 0, 0], score[2, 0, 1] = 1.0, 0.5
    rgb = imutils.colorize_score(score, normalize=False)
    np.testing.assert_allclose(rgb[0], [[128, 0, 0], [0, 64, 0]])  # VOC colours 1 and 2, scaled by the score
    disp = imutils.colorize_displacement(np.array([[[0.0, 1.0]], [[1.0, 0.0]]]))
    assert disp.shape == (1, 2, 3) and np.allclose(disp.max(-1), 1)
    lab = imutils.colorize_label(np.array([[0, 1], [1, 2]]), by_hue=False, outline=False)
    np.testing.assert_allclose(lab[0, 1], [1, 0, 0])  # VOC colour 1 normalised by the largest channel value


def test_dense_walk_equals_the_sparse_one():
    from misc import indexing
    from postprocess import random_walk

    torch.manual_seed(0)
    x, edge = torch.rand(2, 6, 7), torch.rand(1, 6, 7) * 0.5
    dense = indexing.to_transition_matrix(torch.eye(3) * 0.5 + 0.25, beta=2, times=1)
    np.testing.assert_allclose(dense.sum(0), 1, rtol=1e-6)
    np.testing.assert_allclose(indexing.propagate_to_edge(x, edge, exp_times=3),
                               random_walk.propagate_to_edge(x, edge, exp_times=3), rtol=1e-4, atol=1e-6)


def test_one_hot_and_sgdr():
    from misc import pyutils, torchutils

    np.testing.assert_array_equal(pyutils.to_one_hot(np.array([[2, 0]])), [[[False, True]], [[False, False]],
                                                                           [[True, False]]])
    w = torch.nn.Parameter(torch.zeros(1))
    opt = torchutils.SGDROptimizer([w], steps_per_epoch=2, lr=1.0)
    lrs = []
    for _ in range(4):
        opt.step()
        lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, [1.0, 0.5, 0.5, (1 + np.cos(np.pi / 4)) / 2 / 2])
