import json

import numpy as np

from dataset.spec import load_img_name_list
from misc import coco_format
from misc.fileio import load_png
from postprocess import coco_instances, instance_scoring
from postprocess.instances import save_instances
from voc12 import dataloader as vocdata


def _detections(rng, k, shape=(64, 64)):
    masks = rng.random((k,) + shape) < 0.2
    masks[:, :2] = False  # not every pixel, to vary the RLE
    return {"score": rng.random(k).astype(np.float32), "class": rng.integers(1, 21, k).astype(np.int64),
            "mask": masks}


def test_the_export_decodes_to_the_npz_masks_bit_for_bit(toy, tmp_path):
    names = load_img_name_list(toy.meta / "train.txt")[:3]
    rng = np.random.default_rng(0)
    made = {name: _detections(rng, k) for name, k in zip(names, (3, 0, 2))}  # one image with K = 0
    for name, det in made.items():
        save_instances(tmp_path / f"{name}.npz", det, "record")
    data = json.loads(json.dumps(coco_instances.pseudo_label_file(vocdata.VOC12, toy.root, names, tmp_path)))
    assert [img["file_name"] for img in data["images"]] == [f"{n}.jpg" for n in names]
    assert [c["id"] for c in data["categories"]] == list(range(1, 21))
    assert [a["id"] for a in data["annotations"]] == list(range(1, 6))
    decoded = coco_format.masks_by_image(data)
    for name, det in made.items():
        got = decoded[coco_format.image_id(name)]
        assert len(got) == len(det["score"])
        for (mask, category, score), m, c, s in zip(got, det["mask"], det["class"], det["score"]):
            np.testing.assert_array_equal(mask, m)
            assert category == c and np.float32(score) == s


def test_the_filters_drop_low_scores_and_small_fragments(toy, tmp_path):
    name = load_img_name_list(toy.meta / "train.txt")[0]
    masks = np.zeros((3, 64, 64), bool)
    masks[0, :10, :10] = masks[1, 20:22, 20:22] = masks[2, 40:50, 40:50] = True
    save_instances(tmp_path / f"{name}.npz", {"score": np.float32([0.9, 0.8, 0.0]), "class": np.int64([1, 2, 3]),
                                              "mask": masks}, "record")
    data = coco_instances.pseudo_label_file(vocdata.VOC12, toy.root, [name], tmp_path, min_score=0.01, min_area=5)
    assert [a["category_id"] for a in data["annotations"]] == [1]


def test_voc_ground_truth_takes_instances_and_their_classes_from_the_pngs(toy):
    names = load_img_name_list(toy.root / "ImageSets/Segmentation/val.txt")
    gt = coco_instances.ground_truth_file(vocdata.VOC12, toy.root, names)
    decoded = coco_format.masks_by_image(json.loads(json.dumps(gt)))
    total = 0
    for name in names:
        masks, labels = instance_scoring.instances_from_voc_pngs(load_png(vocdata.VOC12.gt_path(toy.root, name)),
                                                                 load_png(vocdata.VOC12.instance_path(toy.root, name)))
        got = decoded[coco_format.image_id(name)]
        assert [c for _, c, _ in got] == [int(c) + 1 for c in labels]
        for (mask, _, score), m in zip(got, masks):
            np.testing.assert_array_equal(mask, m)
            assert score is None
        total += len(masks)
    assert total > 0 and all(a["iscrowd"] == 0 for a in gt["annotations"])
