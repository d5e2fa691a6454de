import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from dataset.spec import load_cls_labels
from voc12 import dataloader as vocdata
from voc12 import prepare


def _voc_tree(root, train, val, extra):
    for sub in ("JPEGImages", "Annotations", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True)
    (root / "ImageSets/Segmentation/train.txt").write_text("\n".join(train) + "\n")
    (root / "ImageSets/Segmentation/val.txt").write_text("\n".join(val) + "\n")
    for i, name in enumerate(train + val + extra):
        cls = vocdata.CAT_LIST[i % 20]
        (root / "Annotations" / f"{name}.xml").write_text(
            f"<annotation><object><name>{cls}</name></object><object><name>person</name></object></annotation>")
    for name in train + val:
        Image.fromarray(np.full((4, 5), 1, np.uint8)).save(root / "SegmentationClass" / f"{name}.png")


def test_prepare_with_sbd(tmp_path):
    voc = tmp_path / "VOC2012"
    train, val, sbd_only = ["2007_000001", "2007_000002"], ["2007_000003"], ["2008_000010", "2008_000011"]
    _voc_tree(voc, train, val, sbd_only)
    sbd = tmp_path / "benchmark_RELEASE" / "dataset"
    (sbd / "cls").mkdir(parents=True)
    (sbd / "train.txt").write_text("2008_000010\n2007_000003\n")  # a VOC val image must not leak in
    (sbd / "val.txt").write_text("2008_000011\n2007_000001\n")
    for name in sbd_only + ["2007_000003", "2007_000001"]:
        seg = np.zeros((4, 5), np.uint8)
        seg[1:3, 1:4] = 7
        savemat(sbd / "cls" / f"{name}.mat", {"GTcls": {"Segmentation": seg, "Boundaries": np.zeros(1),
                                                        "CategoriesPresent": np.array([7])}})
    out = tmp_path / "meta"
    lists = prepare.prepare(str(voc), str(tmp_path / "benchmark_RELEASE"), str(out))
    assert lists["train_aug"] == ["2007_000001", "2007_000002", "2008_000010", "2008_000011"]
    assert (out / "train_aug.txt").read_text().split() == lists["train_aug"]
    aug = voc / "SegmentationClassAug"
    np.testing.assert_array_equal(np.asarray(Image.open(aug / "2008_000010.png"))[1:3, 1:4], 7)
    # VOC's own mask wins over SBD's for images that have both.
    np.testing.assert_array_equal(np.asarray(Image.open(aug / "2007_000001.png")), 1)
    labels = load_cls_labels(out / "cls_labels.npy")
    assert set(labels) == set(train + val + sbd_only)
    assert labels["2007_000002"][1] == 1 and labels["2007_000002"][14] == 1 and labels["2007_000002"].sum() == 2


def test_prepare_without_sbd_and_errors(tmp_path):
    voc = tmp_path / "VOC2012"
    _voc_tree(voc, ["a_1"], ["b_2"], [])
    lists = prepare.prepare(str(voc), None, str(tmp_path / "meta"))
    assert set(lists) == {"train", "val"} and not (tmp_path / "meta/train_aug.txt").exists()
    (voc / "Annotations" / "a_1.xml").unlink()
    with pytest.raises(FileNotFoundError, match="a_1.xml"):
        prepare.prepare(str(voc), None, str(tmp_path / "meta2"))
    with pytest.raises(FileNotFoundError, match="cls/"):
        prepare.prepare(str(voc), str(tmp_path), str(tmp_path / "meta3"))


def test_train_aug_arithmetic():
    assert prepare.train_aug_ids(["a", "b"], ["c"], ["c", "d"], ["b", "e"]) == ["a", "b", "d", "e"]
