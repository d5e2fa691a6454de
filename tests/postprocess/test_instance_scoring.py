"""VOC instance AP on hand-computed cases (checked against chainercv's own functions, run once by hand)."""
import numpy as np
import pytest

from postprocess import instance_scoring


def _m(*boxes, shape=(4, 4)):
    out = np.zeros((len(boxes),) + shape, bool)
    for k, (y0, y1, x0, x1) in enumerate(boxes):
        out[k, y0:y1, x0:x1] = True
    return out


def test_one_hit_one_false_positive():
    gt = _m((0, 2, 0, 2))
    pred = _m((0, 2, 0, 2), (2, 4, 2, 4))
    r = instance_scoring.eval_instance_segmentation_voc([pred], [np.array([0, 0])], [np.array([0.9, 0.5])], [gt],
                                                        [np.array([0])])
    # ranked: hit (p=1, r=1), miss (p=1/2): AP = 1
    assert r["ap"].tolist() == [1.0] and r["map"] == 1.0
    r = instance_scoring.eval_instance_segmentation_voc([pred], [np.array([0, 0])], [np.array([0.5, 0.9])], [gt],
                                                        [np.array([0])])
    # ranked: miss (p=0), hit (p=1/2, r=1): AP = 1/2
    assert r["ap"].tolist() == [0.5]


def test_a_second_match_to_the_same_instance_is_a_false_positive():
    gt = _m((0, 2, 0, 2), (2, 4, 0, 4))
    pred = _m((0, 2, 0, 2), (0, 2, 0, 2))
    r = instance_scoring.eval_instance_segmentation_voc([pred], [np.array([1, 1])], [np.array([0.8, 0.8])], [gt],
                                                        [np.array([1, 1])])
    # Per image the first of the tied predictions (by argsort()[::-1]) takes the instance and the other is a
    # duplicate; the global ranking reverses the tie again, so the duplicate ranks first: miss (p=0), then a hit
    # at recall 1/2 with precision 1/2, so AP = 1/2 * 1/2 = 0.25 (what chainercv returns).
    assert np.isnan(r["ap"][0]) and r["ap"][1] == pytest.approx(0.25) and r["map"] == pytest.approx(0.25)


def test_a_class_seen_only_in_predictions_is_nan_and_left_out_of_the_mean():
    gt = _m((0, 2, 0, 2))
    pred = _m((0, 2, 0, 2), (2, 4, 2, 4))
    r = instance_scoring.eval_instance_segmentation_voc([pred], [np.array([0, 2])], [np.array([0.9, 0.9])], [gt],
                                                        [np.array([0])])
    assert r["ap"][0] == 1.0 and np.isnan(r["ap"][1]) and np.isnan(r["ap"][2]) and r["map"] == 1.0


def test_iou_threshold_is_inclusive_at_one_half():
    gt = _m((0, 2, 0, 2))
    pred = _m((0, 2, 0, 1), (0, 2, 0, 4))  # IoU 1/2 and 1/2
    r = instance_scoring.eval_instance_segmentation_voc([pred[:1]], [np.array([0])], [np.array([1.0])], [gt],
                                                        [np.array([0])])
    assert r["ap"].tolist() == [1.0]


def test_ground_truth_instances_skip_the_void_band():
    cls = np.array([[0, 3, 3, 255], [0, 3, 255, 5], [0, 0, 5, 5]])
    obj = np.array([[0, 1, 1, 255], [0, 1, 255, 2], [0, 0, 2, 2]])
    masks, labels = instance_scoring.instances_from_voc_pngs(cls, obj)
    assert labels.tolist() == [2, 4] and masks.sum((1, 2)).tolist() == [3, 3]
    assert not masks[:, 0, 3].any()
