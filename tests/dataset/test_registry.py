"""The dataset registry: each dataset registers beside its definition; a DataConfig answers for the chosen one."""
import dataclasses
import inspect
from pathlib import Path

import pytest

from dataset import registry
from dataset.registry import DataConfig
from dataset.spec import DatasetSpec
from misc.errors import PipelineError
from voc12.dataloader import VOC12


def test_every_dataset_registers_where_it_is_defined():
    assert registry.names() == ("coco14", "folder", "voc12")
    assert DataConfig("coco14", None, "c.npy", conf_bg_thres=0.2).seed_thresholds("cam") == (0.45, 0.2)
    assert registry.step_defaults("voc12", {}) == {}
    # The registry branches on no dataset's name: COCO's lists beside its labels are an entry attribute.
    assert "coco14" not in inspect.getsource(DataConfig) + inspect.getsource(registry.lists_beside_labels)


def test_an_unknown_dataset_names_the_known_ones():
    with pytest.raises(PipelineError, match="unknown dataset 'kitti'; choose one of coco14, folder, voc12"):
        DataConfig("kitti", None, "c.npy").spec()


def test_registering_a_name_twice_with_another_entry_is_refused():
    with pytest.raises(PipelineError, match="registered twice"):
        registry.register_dataset("voc12", dataclasses.replace(registry.entry("voc12"), seed_thresholds={}))


def test_a_new_dataset_is_one_registration(monkeypatch):
    spec = DatasetSpec("mine", ("a", "b"), root_flag="--mine_root")
    entry = registry.DatasetEntry(lambda root: spec, lambda defaults, root: {"train_list": f"{root}/t.txt"},
                                  {"cam": (0.3, 0.1), "amn": (0.5, 0.2)})
    monkeypatch.setitem(registry.DATASETS, "mine", entry)
    data = DataConfig("mine", "/d", "c.npy", gt_dir="/gt")
    assert data.spec() == dataclasses.replace(spec, gt_root="/gt")
    assert data.seed_thresholds("amn") == (0.5, 0.2)
    assert registry.step_defaults("mine", {}, "/d") == {"train_list": "/d/t.txt"}
    assert DataConfig("voc12", "/v", "c.npy").spec() is VOC12


def test_lists_beside_labels_follow_the_label_folder_unless_given():
    assert registry.lists_beside_labels("coco14", "/m/cls_labels.npy", {"seg_eval_list"}) == {
        "seg_train_list": "/m/train14.txt"}
    assert registry.lists_beside_labels("voc12", "/m/cls_labels.npy", set()) == {}
    assert DataConfig("coco14", "/coco", "/m/cls_labels.npy", chainer_eval_set="val").eval_list_path() == Path(
        "/m/val14.txt")
    assert DataConfig("voc12", "/v", "/m/cls_labels.npy", chainer_eval_set="val").eval_list_path() == Path(
        "/v/ImageSets/Segmentation/val.txt")


def test_a_module_run_as_a_script_registers_its_dataset_once(monkeypatch):
    """``python -m dataset.folder`` is both __main__ and dataset.folder: two copies of the same functions."""
    first = registry.entry("folder")
    copy_spec = type(first.spec)(first.spec.__code__, first.spec.__globals__, first.spec.__name__)
    copy_defaults = type(first.defaults)(first.defaults.__code__, first.defaults.__globals__)
    copy = dataclasses.replace(first, spec=copy_spec, defaults=copy_defaults)
    assert copy != first and registry.register_dataset("folder", copy) is first
