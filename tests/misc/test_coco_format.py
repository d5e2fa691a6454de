import json

import numpy as np
import pytest

from misc import coco_format


def _square(y, x, size=4, shape=(16, 16)):
    m = np.zeros(shape, bool)
    m[y:y + size, x:x + size] = True
    return m


def _gt(masks_and_classes, image=1, shape=(16, 16)):
    anns = [coco_format.mask_annotation(m, c, image, 0) for m, c in masks_and_classes]
    images = [{"id": image, "file_name": "a.jpg", "height": shape[0], "width": shape[1]}]
    return coco_format.instances_file(images, anns, coco_format.categories([1, 2], ["cat", "dog"]))


def test_image_ids_are_the_dataset_ids_or_a_stable_hash():
    assert coco_format.image_id("2007_000032") == 2007000032
    assert coco_format.image_id("000000000009") == 9
    own = coco_format.image_id("holiday photo")
    assert own == coco_format.image_id("holiday photo") and 0 < own < 2 ** 48


def test_an_annotation_has_exact_rle_box_and_area():
    mask = _square(2, 5, size=3)
    ann = coco_format.mask_annotation(mask, 7, 11, 0, score=0.25)
    assert ann["bbox"] == [5.0, 2.0, 3.0, 3.0] and ann["area"] == 9 and ann["iscrowd"] == 0
    assert ann["category_id"] == 7 and ann["image_id"] == 11 and ann["score"] == 0.25
    decoded = coco_format.decode_segmentation(json.loads(json.dumps(ann["segmentation"])), 16, 16)
    np.testing.assert_array_equal(decoded, mask)


def test_coco_ap_of_a_hand_made_ranking():
    """Two cats; detections ranked hit, miss, hit: recall 0.5 at precision 1, then recall 1 at precision 2/3.
    COCO's 101 recall points give (51 * 1 + 50 * 2/3) / 101 at every IoU threshold (the hits are exact)."""
    a, b = _square(0, 0), _square(8, 8)
    gt = _gt([(a, 1), (b, 1)])
    dets = [coco_format.mask_annotation(a, 1, 1, 0, 0.9), coco_format.mask_annotation(_square(0, 10), 1, 1, 0, 0.8),
            coco_format.mask_annotation(b, 1, 1, 0, 0.7)]
    result = coco_format.coco_ap(gt, dets)
    expected = (51 + 50 * 2 / 3) / 101
    assert result["ap"] == pytest.approx(expected) and result["ap50"] == pytest.approx(expected)
    assert result["ap75"] == pytest.approx(expected)
    assert result["per_class"] == {"cat": pytest.approx(expected), "dog": None}


def test_a_half_overlapping_detection_counts_at_iou_050_only():
    """IoU 16/24 = 0.67: a hit at the IoU thresholds 0.50..0.65 (4 of 10), a miss above."""
    gt = _gt([(_square(0, 0), 2)])
    det = coco_format.mask_annotation(_square(0, 0, size=4) | np.pad(np.ones((4, 2), bool), ((0, 12), (4, 10))),
                                      2, 1, 0, 0.5)
    result = coco_format.coco_ap(gt, [det])
    assert result["ap50"] == pytest.approx(1.0) and result["ap75"] == pytest.approx(0.0)
    assert result["ap"] == pytest.approx(0.4)


def test_images_without_ground_truth_or_detections():
    gt = _gt([(_square(0, 0), 1)])
    gt["images"].append({"id": 2, "file_name": "b.jpg", "height": 16, "width": 16})  # no instances
    hit = coco_format.mask_annotation(_square(0, 0), 1, 1, 0, 0.9)
    false_alarm = coco_format.mask_annotation(_square(4, 4), 1, 2, 0, 0.95)  # ranked first, on the empty image
    elsewhere = coco_format.mask_annotation(_square(4, 4), 1, 99, 0, 0.99)  # an image gt does not list
    result = coco_format.coco_ap(gt, [hit, false_alarm, elsewhere])
    # Ranked miss then hit: precision 0.5 at recall 1, so 0.5 at all 101 recall points; the detection on an
    # unlisted image is left out (it would otherwise rank first).
    assert result["ap50"] == pytest.approx(0.5) and result["ap"] == pytest.approx(0.5)
    assert coco_format.coco_ap(gt, [])["ap"] == 0.0
    empty = coco_format.instances_file(gt["images"], [], gt["categories"])
    assert coco_format.coco_ap(empty, [hit])["ap"] is None


def test_pycocotools_reads_the_files(tmp_path):
    from pycocotools.coco import COCO

    gt = _gt([(_square(0, 0), 1), (_square(8, 8), 2)])
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    coco = COCO(str(path))
    assert sorted(coco.getAnnIds()) == [1, 2] and coco.getCatIds() == [1, 2]
    np.testing.assert_array_equal(coco.annToMask(coco.loadAnns(2)[0]).astype(bool), _square(8, 8))
