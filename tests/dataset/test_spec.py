"""Lists, label files and ground-truth checks of the dataset spec."""
import numpy as np
import pytest
from PIL import Image

from dataset.spec import DatasetSpec, list_line_id, load_cls_labels, load_img_name_list, mask_problem, save_cls_labels
from misc.errors import PipelineError


@pytest.mark.parametrize("line, expected", [
    ("2007_000032", "2007_000032"),
    ("COCO_train2014_000000000009\n", "COCO_train2014_000000000009"),
    ("/JPEGImages/2007_000032.jpg /SegmentationClassAug/2007_000032.png", "2007_000032"),  # deeplab train_aug
    ("JPEGImages/2007_000032.jpg SegmentationClassAug/2007_000032.png\r", "2007_000032"),
    ("/JPEGImages/2007_000032.jpg", "2007_000032"),
    ("café photo", "café photo"),
    ("cats/001", "cats/001"),
    ("trip 2024/IMG 0001.v2.final", "trip 2024/IMG 0001.v2.final"),
    ("two words.jpg", "two words.jpg"),  # no '/': an ID, however it ends
    ("  padded id \r\n", "padded id"),
    ("", ""),
])
def test_list_line_rule(line, expected):
    assert list_line_id(line) == expected


def test_a_spreadsheet_list_with_bom_crlf_and_blank_lines_reads_whole_ids(tmp_path):
    path = tmp_path / "train.txt"
    path.write_bytes("\ufeffcafé photo\r\ncats/001\r\n\r\n/JPEGImages/x.jpg /SegmentationClassAug/x.png\r\n"
                     .encode("utf-8"))
    assert load_img_name_list(path) == ["café photo", "cats/001", "x"]


def test_label_names_longer_than_64_characters_survive(tmp_path):
    long = "nested/" * 12 + "image with a long name"
    save_cls_labels(tmp_path / "cls.npy", {long: np.array([1, 0], np.float32), "b": np.array([0, 1], np.float32)})
    loaded = load_cls_labels(tmp_path / "cls.npy")
    assert sorted(loaded) == ["b", long] and loaded[long].tolist() == [1, 0]


def test_mask_problems_are_named():
    assert mask_problem(np.array([[0, 1, 2, 255]], np.uint8), 2) is None
    assert "holds the value 3 (2 pixels), but the dataset has 2 classes" in mask_problem(np.array([[0, 3, 3]]), 2)
    assert "is 3x1 pixels but its image is 4x2" in mask_problem(np.zeros((1, 3)), 2, (2, 4))
    assert "has 3 channels" in mask_problem(np.zeros((2, 2, 3), np.uint8), 2)
    assert mask_problem(np.array([[0, 300]], np.uint16), 2).startswith("holds the value 300")


def test_eval_ground_truth_of_the_wrong_size_or_class_is_an_error_naming_the_file(tmp_path):
    spec = DatasetSpec(name="toy", class_names=("a", "b"), gt_dir="gt")
    (tmp_path / "gt").mkdir()
    Image.fromarray(np.array([[0, 1], [2, 255]], np.uint8)).save(tmp_path / "gt" / "x.png")
    assert spec.load_gt(tmp_path, "x", (2, 2)).tolist() == [[0, 1], [2, 255]]
    with pytest.raises(PipelineError, match=r"ground truth .*x\.png: is 2x2 pixels but its image is 3x2"):
        spec.load_gt(tmp_path, "x", (2, 3))
    Image.fromarray(np.array([[0, 5]], np.uint8)).save(tmp_path / "gt" / "y.png")
    with pytest.raises(PipelineError, match=r"y\.png: holds the value 5"):
        spec.load_gt(tmp_path, "y", (1, 2))
    with pytest.raises(PipelineError, match="z.png does not exist"):
        spec.load_gt(tmp_path, "z")
