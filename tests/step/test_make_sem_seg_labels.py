import numpy as np
import torch

from misc.fileio import save_arrays
from postprocess import random_walk
from step import eval_sem_seg


def test_the_kept_maps_reproduce_the_mask_at_its_threshold(tmp_path):
    """The walked maps, divided by their upsampled maximum, give the mask again when thresholded at
    --sem_seg_bg_thres after upsampling (as eval_sem_seg's sweep does)."""
    g = torch.Generator().manual_seed(0)
    cams = torch.rand(2, 12, 16, generator=g).numpy()
    edge = torch.rand(1, 12, 16, generator=g) ** 4
    walk = random_walk.Walk(exp_times=3)
    keys = np.array([4, 14])
    mask, maps = random_walk.cams_to_mask_and_maps(cams, keys, edge, (45, 61), walk, 1.3, 0.25)
    assert maps.dtype == np.float32 and maps.shape == (2, 12, 16)
    np.testing.assert_array_equal(mask, random_walk.cams_to_mask(cams, keys, edge, (45, 61), walk, 1.3, 0.25))
    save_arrays(tmp_path / "a.npz", keys=keys, maps=maps, size=np.asarray((45, 61)))
    fg_max, fg_label = eval_sem_seg.walked_prediction_inputs(str(tmp_path), "a")
    assert abs(fg_max.max() - 1) < 1e-6
    again = np.where(fg_max > 0.25, fg_label, 0)
    assert (again == mask).mean() > 0.999 and set(np.unique(again)) <= {0, 5, 15}


def test_an_image_without_classes_keeps_empty_maps(tmp_path):
    walk = random_walk.Walk(exp_times=3)
    mask, maps = random_walk.cams_to_mask_and_maps(np.zeros((0, 4, 5), np.float32), np.zeros(0, np.int64),
                                                   torch.zeros(1, 4, 5), (16, 20), walk, 1.3, 0.25)
    assert not mask.any() and maps.shape == (0, 4, 5)
    save_arrays(tmp_path / "b.npz", keys=np.zeros(0, np.int64), maps=maps, size=np.asarray((16, 20)))
    fg_max, fg_label = eval_sem_seg.walked_prediction_inputs(str(tmp_path), "b")
    assert fg_max.shape == (16, 20) and not fg_label.any()
