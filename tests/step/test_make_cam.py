import numpy as np
import pytest
import torch

from step import make_cam


def test_postprocess_sums_scales_keeps_labelled_classes_and_divides_by_the_maximum():
    k = torch.arange(20, dtype=torch.float32)[:, None, None]
    full = k.expand(20, 8, 8).clone()
    full[5, 3, 4] = 40.0  # one peak of class 5 at full scale
    half = k.expand(20, 4, 4).clone()
    label = torch.zeros(20)
    label[[2, 5]] = 1
    keys, strided, high_res = make_cam._postprocess([full, half], {"size": (8, 8), "label": label})
    np.testing.assert_array_equal(keys, [2, 5])
    assert strided.shape == (2, 2, 2) and high_res.shape == (2, 8, 8)
    # class 2: constant 2 + 2 = 4 everywhere -> 4 / (4 + 1e-5)
    np.testing.assert_allclose(high_res[0], 4 / (4 + 1e-5), rtol=1e-6)
    # class 5 is divided by its own maximum. Full-size maps are upsampled to the stride-16 grid (16x16 for
    # 8x8) and cropped, as the official code does, so the peak at (3, 4) lands at (6..9, 8..10) and the crop
    # keeps only its corner, column 7 of rows 6 and 7; the flat part (5 + 5 = 10) is 10 / max.
    peak = high_res[1][6:, 7]
    assert high_res[1].max() == pytest.approx(1.0, abs=1e-5) and peak == pytest.approx([1.0, 1.0], abs=1e-5)
    assert (high_res[1][:5] == high_res[1][0, 0]).all() and 10 / 45 < high_res[1][0, 0] < 1
    assert (strided <= 1).all() and (strided > 0).all()
