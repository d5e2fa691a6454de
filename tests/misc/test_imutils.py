import numpy as np
import pytest

from misc import imutils


def test_strided_sizes_match_official(golden):
    expected = golden["strided_size_375x500"]
    assert imutils.get_strided_size((375, 500), 4) == tuple(expected[0])
    assert imutils.get_strided_up_size((375, 500), 16) == tuple(expected[1])


def test_crf_matches_official_golden(golden):
    out = imutils.crf_inference_label(golden["crf_a_img"], golden["crf_a_labels"], n_labels=3)
    np.testing.assert_array_equal(out, golden["crf_a_out"])


def test_shared_lattice_gives_the_labels_of_two_separate_crfs(golden):
    img = golden["crf_a_img"]
    a = golden["crf_a_labels"]
    b = np.roll(a, 7, axis=1)
    pair = imutils.crf_inference_label_pair(img, a, b, n_labels=3)
    np.testing.assert_array_equal(pair[0], imutils.crf_inference_label(img, a, n_labels=3))
    np.testing.assert_array_equal(pair[1], imutils.crf_inference_label(img, b, n_labels=3))


def test_label_unary_is_pydensecrf_unary_from_labels():
    from pydensecrf.utils import unary_from_labels

    labels = np.random.default_rng(0).integers(0, 4, (5, 6))
    np.testing.assert_allclose(imutils._label_unary(labels, 4, 0.7),
                               unary_from_labels(labels, 4, gt_prob=0.7, zero_unsure=False), rtol=1e-6)


def test_random_crop_pads_label_with_ignore_and_keeps_alignment():
    img = np.arange(3 * 4 * 3, dtype=np.float32).reshape(3, 4, 3)
    label = np.arange(12, dtype=np.uint8).reshape(3, 4)
    c_img, c_label = imutils.random_crop((img, label), 6, (0, 255))
    assert c_img.shape == (6, 6, 3) and c_label.shape == (6, 6)
    inside = c_label != 255
    assert inside.sum() == 12
    np.testing.assert_array_equal(c_img[..., 0][inside], img[..., 0].reshape(-1))


def test_top_left_crop_and_rescale():
    img = np.ones((10, 20), np.uint8)
    out = imutils.top_left_crop(img, 16, 255)
    assert out[:10, :16].min() == 1 and out[10:].min() == 255
    assert imutils.pil_rescale(np.zeros((375, 500, 3), np.uint8), 0.5, 3).shape == (188, 250, 3)


def test_crf_needs_two_labels():
    with pytest.raises(ValueError):
        imutils._label_unary(np.zeros((2, 2), np.int64), 1, 0.7)
