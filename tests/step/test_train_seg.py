"""The segmentation network's losses, label resizing, learning-rate groups and schedule."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cli.config import step_settings
from engine import losses


def _defaults(**over):
    return step_settings("train_seg", **over)


def test_defaults_are_advcams_settings():
    a = _defaults()
    assert (a.seg_batch_size, a.seg_iter_max, a.seg_lr, a.seg_momentum, a.seg_weight_decay, a.seg_poly_power) == \
        (10, 30000, 2.5e-4, 0.9, 5e-4, 0.9)
    assert (a.seg_crop_size, tuple(a.seg_scales), a.seg_loss) == (321, (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0),
                                                                  "balanced")


def test_balanced_loss_by_hand():
    # One image, two classes, four labelled pixels (3 background, 1 foreground) and one ignored pixel.
    logits = torch.tensor([[[[2.0, 0.0, -1.0, 0.5, 9.0]], [[0.0, 1.0, 1.0, 0.5, -9.0]]]])
    labels = torch.tensor([[[0, 0, 0, 1, 255]]])
    p = torch.softmax(logits, 1)[0, :, 0]
    p = (p + 1e-4) / (1 + 2e-4)
    expected = -(torch.log(p[0, 0]) + torch.log(p[0, 1]) + torch.log(p[0, 2])) / 3 - torch.log(p[1, 3])
    assert float(losses.dsrg_seed_loss(logits, labels)) == pytest.approx(float(expected), rel=1e-5)


def test_balanced_loss_weighs_background_and_foreground_equally_and_averages_images():
    logits = torch.zeros(2, 3, 1, 4)
    one_fg = torch.tensor([[[0, 0, 0, 2]], [[255, 255, 255, 255]]])
    # Uniform predictions: each present group contributes log(3) whatever its size; an image without any
    # labelled pixel contributes 0.
    assert float(losses.dsrg_seed_loss(logits, one_fg)) == pytest.approx(2 * np.log(3) / 2, rel=1e-4)


def test_plain_cross_entropy_ignores_255():
    logits = torch.randn(2, 4, 3, 3)
    labels = torch.randint(0, 4, (2, 3, 3))
    labels[0, 0, 0] = 255
    torch.testing.assert_close(losses.cross_entropy(logits, labels), F.cross_entropy(logits, labels,
                                                                                     ignore_index=255))


def test_labels_are_resized_with_pils_nearest_not_torchs():
    labels = torch.arange(16).reshape(1, 4, 4)
    assert losses.resize_labels(labels, (2, 2)).tolist() == [[[5, 7], [13, 15]]]
    assert F.interpolate(labels[None].float(), size=(2, 2), mode="nearest")[0].long().tolist() == [[[0, 2], [8, 10]]]


def test_msc_loss_sums_the_four_outputs_at_their_sizes():
    labels = torch.randint(0, 3, (1, 8, 8))
    outs = [torch.randn(1, 3, 8, 8), torch.randn(1, 3, 4, 4), torch.randn(1, 3, 6, 6), torch.randn(1, 3, 8, 8)]
    expected = sum(F.cross_entropy(o, losses.resize_labels(labels, o.shape[-2:])) for o in outs)
    torch.testing.assert_close(losses.msc_loss(outs, labels, "ce"), expected)
