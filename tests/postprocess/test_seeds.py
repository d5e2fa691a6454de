"""CRF seeds from CAMs."""
import numpy as np

from postprocess import seeds


def test_seed_rule_confident_fg_confident_bg_and_255_between(monkeypatch):
    from misc import imutils

    # With the CRF as identity the rule alone decides: fg where the fg-threshold map says so,
    # 0 where both maps say background, 255 where only the low threshold finds the class.
    monkeypatch.setattr(imutils, "crf_inference_label_pair", lambda img, a, b, n_labels: (a, b))
    cams = np.array([[[0.5, 0.2, 0.01]]], np.float32)
    seed = seeds.seed_from_cams(np.zeros((1, 3, 3), np.uint8), {"high_res": cams, "keys": np.array([3])}, 0.30, 0.05)
    np.testing.assert_array_equal(seed, [[4, 255, 0]])


def test_seed_of_an_image_without_classes_is_background():
    cams = np.zeros((0, 2, 3), np.float32)
    seed = seeds.seed_from_cams(np.zeros((2, 3, 3), np.uint8), {"high_res": cams, "keys": np.zeros(0, int)}, 0.3, 0.05)
    np.testing.assert_array_equal(seed, np.zeros((2, 3)))
