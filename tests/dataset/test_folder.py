import json

import numpy as np
import pytest
from PIL import Image

from misc.errors import PipelineError
from voc12 import folder
from voc12.dataloader import load_cls_labels, load_img_name_list


@pytest.fixture()
def images(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for i, ext in enumerate([".jpg", ".png", ".jpg", ".jpg"]):
        Image.new("RGB", (8, 6)).save(d / f"im{i}{ext}")
    return d


def test_prepare_from_csv_writes_lists_labels_and_classes(images, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("image,labels\nim0.jpg,dog\nim1,cat;dog\nim2,\nim3.jpg,cat\n")
    spec = folder.prepare(str(images), str(labels), str(tmp_path / "out"), val_fraction=0.5)
    assert spec.class_names == ("cat", "dog") and spec.n_classes == 2
    assert load_img_name_list(tmp_path / "out" / "val.txt") == ["im1", "im3"]
    assert load_img_name_list(tmp_path / "out" / "train.txt") == ["im0", "im2"]
    lab = load_cls_labels(tmp_path / "out" / "cls_labels.npy")
    np.testing.assert_array_equal(lab["im1"], [1, 1])
    np.testing.assert_array_equal(lab["im2"], [0, 0])
    assert spec.image_path(tmp_path / "out", "im1").name == "im1.png"
    assert not spec.has_ground_truth(tmp_path / "out")


def test_prepare_from_json_with_declared_classes(images, tmp_path):
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"classes": ["zebra", "cat"], "labels": {"im0": ["cat"], "im2.jpg": ["zebra"]}}))
    spec = folder.prepare(str(images), str(labels), str(tmp_path / "out"), masks=str(images))
    assert spec.class_names == ("zebra", "cat") and spec.has_ground_truth(tmp_path / "out")
    np.testing.assert_array_equal(load_cls_labels(tmp_path / "out" / "cls_labels.npy")["im0"], [0, 1])


def test_an_unknown_class_or_a_missing_image_is_named(images, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("im0,dog\n")
    with pytest.raises(PipelineError, match="names class 'dog', which is not among the classes"):
        folder.prepare(str(images), str(labels), str(tmp_path / "out"), classes=["cat"])
    labels.write_text("im0,dog\nim9,dog\n")
    with pytest.raises(PipelineError, match="names image 'im9', which is not in"):
        folder.prepare(str(images), str(labels), str(tmp_path / "out"))
