import numpy as np
import pytest

from misc import evaluation
from postprocess import cam_maps, scoring


def test_confusion_and_miou_by_hand():
    gt = np.array([[0, 0, 1, 1], [0, 255, 1, 2]])
    pred = np.array([[0, 1, 1, 1], [0, 0, 2, 2]])
    conf = evaluation.confusion_matrix(pred, gt, 3)
    np.testing.assert_array_equal(conf, [[2, 1, 0], [0, 2, 1], [0, 0, 1]])
    iou = evaluation.iou_from_confusion(conf)
    np.testing.assert_allclose(iou, [2 / 3, 2 / 4, 1 / 2])
    assert evaluation.mean_iou(iou) == pytest.approx((2 / 3 + 0.5 + 0.5) / 3)


def test_absent_classes_are_nan_and_skipped():
    conf = evaluation.confusion_matrix(np.zeros((2, 2)), np.zeros((2, 2)), 21)
    iou = evaluation.iou_from_confusion(conf)
    assert iou[0] == 1.0 and np.isnan(iou[1:]).all()
    assert evaluation.mean_iou(iou) == 1.0


def test_error_rates_follow_official_definition():
    conf = np.array([[8, 2], [4, 6]])
    rates = evaluation.error_rates(conf)
    # denominators: bg 10+12-8=14, fg 10+8-6=12
    assert rates["bg_fp"] == pytest.approx(1 - 10 / 14) and rates["bg_fn"] == pytest.approx(1 - 12 / 14)
    assert rates["fg_fp"] == pytest.approx(1 - 10 / 12) and rates["fg_fn"] == pytest.approx(1 - 8 / 12)


def test_sweep_confusions_equal_argmax_over_padded_cams():
    rng = np.random.default_rng(0)
    cams = rng.random((2, 9, 11)).astype(np.float32)
    cams[0, 0, 0] = cams[1, 0, 0] = 0.3  # a tie with a threshold: background must win
    keys = np.array([3, 14])
    gt = rng.integers(0, 21, (9, 11))
    gt[rng.random(gt.shape) < 0.1] = 255
    thresholds = np.array([0.0, 0.1, 0.3, 0.55])
    fg_max, fg_label = cam_maps.cam_prediction_inputs({"high_res": cams, "keys": keys})
    fast = scoring.threshold_confusions(fg_max, fg_label, gt, thresholds, 21)
    for k, t in enumerate(thresholds):
        padded = np.concatenate([np.full((1, 9, 11), t, np.float32), cams])
        pred = np.pad(keys + 1, (1, 0))[padded.argmax(0)]
        np.testing.assert_array_equal(fast[k], evaluation.confusion_matrix(pred, gt, 21))


def test_robust_interval_on_hand_made_curves():
    t = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    flat = evaluation.robust_interval(t, [0.50, 0.595, 0.60, 0.598, 0.58, 0.40])
    assert (flat["best_threshold"], flat["low"], flat["high"]) == (0.2, 0.1, 0.3)
    assert flat["width"] == pytest.approx(0.2)
    peaked = evaluation.robust_interval(t, [0.1, 0.2, 0.5, 0.3, 0.495, 0.1])
    # 0.4 is within 1 point but not contiguous with the best, so it does not widen the interval.
    assert peaked["width"] == 0.0 and peaked["best_miou"] == 0.5


def test_summary_names_classes_and_json_round_trip(tmp_path):
    import json

    conf = evaluation.confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), 3)
    s = evaluation.summarize(conf, ["aeroplane", "bicycle"])
    assert list(s["per_class_iou"]) == ["background", "aeroplane", "bicycle"]
    assert s["per_class_iou"]["bicycle"] is None and s["miou"] == pytest.approx(0.5)
    evaluation.write_json(tmp_path / "x.json", s)
    assert json.loads((tmp_path / "x.json").read_text()) == s


