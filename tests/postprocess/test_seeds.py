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


def test_pixel_the_bg_crf_calls_background_keeps_the_fg_crfs_class(monkeypatch):
    from misc import imutils

    # The two CRFs can disagree: the smoothing of the low-threshold map may turn a pixel to
    # background that the high-threshold CRF still gives a class. The official rule
    # (cam_to_ir_label: conf[bg_conf + fg_conf == 0] = 0) calls a pixel background only where
    # *both* say so, so that pixel keeps its class; a pixel where only the bg CRF finds the
    # class is uncertain (255).
    fg_pred = np.array([[1, 0, 0, 1]])
    bg_pred = np.array([[0, 1, 0, 1]])
    monkeypatch.setattr(imutils, "crf_inference_label_pair", lambda img, a, b, n_labels: (fg_pred, bg_pred))
    cams = np.zeros((1, 1, 4), np.float32)
    seed = seeds.seed_from_cams(np.zeros((1, 4, 3), np.uint8), {"high_res": cams, "keys": np.array([6])}, 0.30, 0.05)
    np.testing.assert_array_equal(seed, [[7, 255, 0, 7]])
