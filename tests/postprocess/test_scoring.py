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




def _scored_folder(tmp_path, n=12, size=(23, 31)):
    """A VOC root with random ground truth (void pixels included) and a folder of predicted masks and CAMs."""
    from misc.fileio import save_cam, save_png
    from voc12.dataloader import VOC12

    rng = np.random.default_rng(3)
    names = [f"2007_{i:06d}" for i in range(n)]
    for name in names:
        present = rng.choice(np.arange(1, 21), 3, replace=False)
        gt = np.where(rng.random(size) < 0.5, 0, rng.choice(present, size))
        gt[rng.random(size) < 0.05] = 255
        save_png(tmp_path / "VOC2012" / "SegmentationClass" / f"{name}.png", gt)
        pred = np.where(rng.random(size) < 0.3, rng.integers(0, 21, size), gt)
        pred[rng.random(size) < 0.1] = 255  # unsure pixels of pseudo masks
        save_png(tmp_path / "masks" / f"{name}.png", pred)
        keys = np.sort(rng.choice(20, 2, replace=False))
        save_cam(tmp_path / "cams" / f"{name}.npz", keys, np.zeros((2, 2, 2)), rng.random((2, *size)))
    return VOC12, tmp_path / "VOC2012", names


@pytest.mark.parametrize("void_as_background", [False, True])
def test_mask_scores_over_present_classes_equal_the_full_table_in_one_process_or_a_pool(tmp_path, void_as_background):
    from misc.fileio import load_png

    spec, root, names = _scored_folder(tmp_path)
    expected, miou = np.zeros((21, 21), np.int64), []
    for name in names:
        pred = load_png(tmp_path / "masks" / f"{name}.png")
        if void_as_background:
            pred = np.where(pred == 255, 0, pred)
        conf = evaluation.confusion_matrix(pred, load_png(root / "SegmentationClass" / f"{name}.png"), 21)
        expected += conf
        miou.append(evaluation.mean_iou(evaluation.iou_from_confusion(conf)))
    for workers in (1, 2):
        total, per_image = scoring.score_masks(tmp_path / "masks", names, spec, root, void_as_background, workers)
        np.testing.assert_array_equal(total, expected)
        assert per_image == list(zip(names, miou))  # bit for bit, in list order


def test_the_threshold_sweep_in_a_pool_equals_one_process_and_the_full_tables(tmp_path):
    from functools import partial

    from engine.map_stages import cam_inputs
    from misc.fileio import load_cam, load_png

    spec, root, names = _scored_folder(tmp_path)
    inputs = partial(cam_inputs, str(tmp_path / "cams"))
    one = scoring.sweep_confusions(names, inputs, spec, root, [0.1, 0.3, 0.5], 0.25, "sweep", workers=1)
    pooled = scoring.sweep_confusions(names, inputs, spec, root, [0.1, 0.3, 0.5], 0.25, "sweep", workers=2)
    np.testing.assert_array_equal(one[0], pooled[0])
    assert one[1] == pooled[1] and one[3] == pooled[3] == 1
    thresholds = np.array([0.1, 0.25, 0.3, 0.5])
    full = sum(scoring.threshold_confusions(*cam_maps.cam_prediction_inputs(load_cam(tmp_path / "cams" / f"{n}.npz")),
                                            load_png(root / "SegmentationClass" / f"{n}.png"), thresholds, 21)
               for n in names)
    np.testing.assert_array_equal(one[0], full)


def test_present_classes_always_hold_background():
    np.testing.assert_array_equal(scoring.present_classes(np.array([5, 5, 7]), np.array([2]), 21), [0, 2, 5, 7])


def test_float32_scores_are_compared_with_the_float64_thresholds_exactly():
    thresholds = np.array([0.0, 0.1, 0.15, 0.3, 1 / 3, 0.5, 0.55])
    near = np.concatenate([np.float32(thresholds), np.nextafter(np.float32(thresholds), np.float32(1)),
                           np.nextafter(np.float32(thresholds), np.float32(-1)), np.float32([-1.0, 2.0])])
    expected = np.searchsorted(thresholds, near.astype(np.float64), side="left")
    np.testing.assert_array_equal(scoring._thresholds_below(near, thresholds), expected)
    np.testing.assert_array_equal(scoring._thresholds_below(near.astype(np.float64), thresholds), expected)


@pytest.mark.parametrize("n_maps", [1, 2, 4])
def test_prediction_inputs_equal_max_and_argmax_with_ties_to_the_first_map(n_maps):
    rng = np.random.default_rng(n_maps)
    cams = rng.random((n_maps, 17, 23)).astype(np.float32)
    cams[:, :4, :4] = 0.5  # every map ties there: the first map's class wins, as argmax's first maximum
    keys = np.sort(rng.choice(20, n_maps, replace=False))
    top, label = cam_maps.cam_prediction_inputs({"high_res": cams, "keys": keys})
    np.testing.assert_array_equal(top, cams.max(0))
    np.testing.assert_array_equal(label, (keys + 1)[cams.argmax(0)])
    assert label.dtype == np.int64 and (label[:4, :4] == keys[0] + 1).all()
