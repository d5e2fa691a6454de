"""The dataset registry: one table from --dataset to its spec, defaults and seed thresholds."""
import argparse
import dataclasses

import pytest

from dataset import registry
from dataset.spec import DatasetSpec
from misc.errors import PipelineError
from voc12.dataloader import VOC12


def test_every_dataset_is_one_entry():
    assert registry.NAMES == ("voc12", "coco14", "folder") == tuple(registry.DATASETS)
    args = argparse.Namespace(dataset="coco14", conf_fg_thres=None, conf_bg_thres=0.2)
    assert registry.seed_thresholds(args, "cam") == (0.45, 0.2)
    assert registry.step_defaults("voc12", {}) == {}


def test_an_unknown_dataset_names_the_known_ones():
    with pytest.raises(PipelineError, match="unknown dataset 'kitti'; choose one of voc12, coco14, folder"):
        registry.get_dataset(argparse.Namespace(dataset="kitti", kitti_root=None))


def test_a_new_dataset_is_one_more_entry(monkeypatch):
    spec = DatasetSpec("mine", ("a", "b"), root_flag="--mine_root")
    entry = registry.DatasetEntry(lambda root: spec, lambda defaults, root: {"train_list": f"{root}/t.txt"},
                                  {"cam": (0.3, 0.1), "amn": (0.5, 0.2)})
    monkeypatch.setitem(registry.DATASETS, "mine", entry)
    args = argparse.Namespace(dataset="mine", mine_root="/d", gt_dir="/gt", conf_fg_thres=None, conf_bg_thres=None)
    assert registry.get_dataset(args) == dataclasses.replace(spec, gt_root="/gt")
    assert registry.dataset_root(args) == "/d" and registry.seed_thresholds(args, "amn") == (0.5, 0.2)
    assert registry.step_defaults("mine", {}, "/d") == {"train_list": "/d/t.txt"}
    assert registry.get_dataset(argparse.Namespace(dataset="voc12", voc12_root="/v", gt_dir=None)) is VOC12
