"""coco14.prepare on a tiny instances JSON written here: polygons, RLE, crowd, no annotation, grayscale."""
import json

import numpy as np
import pytest
from PIL import Image

from coco14 import prepare, toy
from coco14.dataloader import CATEGORIES, COCO14
from misc.errors import PipelineError
from voc12.dataloader import load_cls_labels, load_img_name_list

CATS = [{"id": cid, "name": name} for cid, name in CATEGORIES]


def _write(root, images, annotations, split="train2014", categories=CATS):
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / split).mkdir(exist_ok=True)
    for im in images:
        mode = "L" if im.get("gray") else "RGB"
        Image.new(mode, (im["width"], im["height"])).save(root / split / im["file_name"])
    with open(root / "annotations" / f"instances_{split}.json", "w") as f:
        json.dump({"images": images, "annotations": annotations, "categories": categories}, f)


def _image(i, w=6, h=4, **kw):
    return {"id": i, "file_name": f"COCO_train2014_{i:012d}.jpg", "width": w, "height": h, **kw}


@pytest.fixture()
def tiny(tmp_path):
    root = tmp_path / "coco"
    square = [1.0, 0.0, 3.0, 0.0, 3.0, 2.0, 1.0, 2.0]  # covers pixels x 1..2, y 0..1
    rle = toy.uncompressed_rle(np.array([[0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 1, 0], [0, 0, 1, 1, 1, 0],
                                         [0, 0, 0, 0, 0, 0]], bool))
    crowd = toy.uncompressed_rle(np.array([[0] * 6, [0] * 6, [0] * 6, [0, 0, 0, 0, 1, 1]], bool))
    anns = [
        {"id": 1, "image_id": 9, "category_id": 1, "segmentation": [square], "iscrowd": 0},   # person -> 1
        {"id": 2, "image_id": 9, "category_id": 90, "segmentation": rle, "iscrowd": 0},       # toothbrush -> 80
        {"id": 3, "image_id": 9, "category_id": 90, "segmentation": crowd, "iscrowd": 1},     # crowd: 255
        {"id": 4, "image_id": 30, "category_id": 3, "segmentation": [square], "iscrowd": 0},  # car -> 3
    ]
    _write(root, [_image(9), _image(12), _image(30, gray=True)], anns)
    return root


def test_lists_labels_and_masks(tiny, tmp_path):
    labels = prepare.prepare(str(tiny), str(tmp_path / "out"), splits=("train2014",))
    assert load_img_name_list(tmp_path / "out" / "train14.txt") == ["000000000009", "000000000012", "000000000030"]
    saved = load_cls_labels(tmp_path / "out" / "cls_labels.npy")
    assert saved.keys() == labels.keys()
    assert list(np.flatnonzero(saved["000000000009"])) == [0, 79]
    assert not saved["000000000012"].any() and list(np.flatnonzero(saved["000000000030"])) == [2]
    mask = np.asarray(Image.open(tiny / "SegmentationClass/train2014/000000000009.png"))
    np.testing.assert_array_equal(mask, [[0, 1, 1, 0, 0, 0],
                                         [0, 1, 80, 80, 80, 0],   # the later annotation overwrites the earlier
                                         [0, 0, 80, 80, 80, 0],
                                         [0, 0, 0, 0, 255, 255]])  # crowd pixels are 255
    assert not np.asarray(Image.open(tiny / "SegmentationClass/train2014/000000000012.png")).any()
    assert COCO14.gt_path(tiny, "000000000030").is_file()


def test_a_missing_annotation_file_says_what_to_download(tmp_path):
    (tmp_path / "train2014").mkdir()
    with pytest.raises(PipelineError, match="instances_train2014.json does not exist; download annotations_train"):
        prepare.prepare(str(tmp_path), str(tmp_path / "out"), splits=("train2014",))


def test_an_image_the_json_lists_but_that_is_missing(tiny, tmp_path):
    (tiny / "train2014" / "COCO_train2014_000000000012.jpg").unlink()
    with pytest.raises(PipelineError, match="1 images of instances_train2014.json are missing.*000000000012"):
        prepare.prepare(str(tiny), str(tmp_path / "out"), splits=("train2014",))


def test_a_category_id_that_is_not_among_the_categories(tiny, tmp_path):
    path = tiny / "annotations" / "instances_train2014.json"
    data = json.loads(path.read_text())
    data["annotations"][0]["category_id"] = 12  # COCO has no category 12
    path.write_text(json.dumps(data))
    with pytest.raises(PipelineError, match="annotation 1 has category_id 12, which is not among"):
        prepare.prepare(str(tiny), str(tmp_path / "out"), splits=("train2014",))


def test_rerun_keeps_current_masks(tiny, tmp_path, capsys):
    prepare.prepare(str(tiny), str(tmp_path / "out"), splits=("train2014",))
    prepare.prepare(str(tiny), str(tmp_path / "out"), splits=("train2014",))
    assert "every ground-truth mask is up to date" in capsys.readouterr().out


def test_the_toy_download_is_deterministic_and_has_crowd_empty_and_gray(tmp_path):
    a, b = toy.generate(tmp_path / "a", num_train=8, num_val=2, size=48), toy.generate(tmp_path / "b", num_train=8,
                                                                                       num_val=2, size=48)
    ja = json.loads((a / "annotations/instances_train2014.json").read_text())
    assert ja == json.loads((b / "annotations/instances_train2014.json").read_text())
    assert len(ja["categories"]) == 80 and any(x["iscrowd"] for x in ja["annotations"])
    assert any(isinstance(x["segmentation"], list) for x in ja["annotations"])
    assert ja["images"][1]["id"] not in {x["image_id"] for x in ja["annotations"]}
    assert Image.open(a / "train2014" / ja["images"][2]["file_name"]).mode == "L"
