import numpy as np
import torch

from postprocess import cam_maps


def _label(*classes):
    y = torch.zeros(20)
    y[list(classes)] = 1
    return y


def test_postprocess_by_hand():
    logits = torch.zeros(21, 2, 2)
    logits[0] = torch.tensor([[2.0, 0.0], [0.0, 0.0]])  # background
    logits[4] = torch.tensor([[0.0, 3.0], [1.0, 0.0]])  # class index 3 (boat) is present
    seed = np.array([[0, 4], [255, 4]], np.uint8)  # background where the first pixel is
    keys, strided, high = cam_maps.amn_postprocess(logits, logits, _label(3), seed)
    np.testing.assert_array_equal(keys, [3])
    prob = torch.softmax(logits, 0)[4].numpy()
    lo, hi = prob.min(), prob.max()
    expected = (prob - lo) / (hi - lo + 1e-5)
    expected[0, 0] = prob[0, 0]  # background in the seed: raw softmax kept
    np.testing.assert_allclose(high[0], expected, rtol=1e-6)
    np.testing.assert_allclose(strided, high)


def test_absent_classes_cannot_win_after_postprocess():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(21, 6, 7, generator=g)
    logits[10] += 50  # a strong class that the image does not have
    seed = np.full((6, 7), 255, np.uint8)
    keys, _, high = cam_maps.amn_postprocess(logits, logits, _label(2, 14), seed)
    np.testing.assert_array_equal(keys, [2, 14])
    assert high.shape == (2, 6, 7)
    pred = np.pad(keys + 1, (1, 0))[np.argmax(np.pad(high, ((1, 0), (0, 0), (0, 0)), constant_values=0.25), 0)]
    assert set(np.unique(pred)) <= {0, 3, 15}


def test_seed_is_resized_with_nearest_to_each_map():
    logits = torch.randn(21, 3, 4)
    seed = np.zeros((6, 8), np.uint8)
    seed[:, 4:] = 5
    _, strided, _ = cam_maps.amn_postprocess(logits, logits, _label(4), seed)
    prob = torch.softmax(logits, 0)[5].numpy()
    np.testing.assert_allclose(strided[0][:, :2], prob[:, :2], rtol=1e-6)  # seed background: untouched
    assert strided[0][:, 2:].max() <= 1.0
