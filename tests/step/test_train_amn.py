import numpy as np
import pytest
import torch

from engine import losses


def test_loss_matches_official_golden(golden):
    logit = torch.from_numpy(golden["amn_loss_a_logit"])
    label = torch.from_numpy(golden["amn_loss_a_label"])
    target = losses.smoothed_target(label, logit.size(1), float(golden["amn_loss_a_eps"]))
    loss = losses.balanced_soft_cross_entropy(logit, label, target)
    assert loss.item() == pytest.approx(float(golden["amn_loss_a"]), rel=1e-5)


def test_smoothed_target_by_hand():
    label = torch.tensor([[[0, 2], [255, 1]]])
    t = losses.smoothed_target(label, 3, 0.4)
    assert t.shape == (1, 3, 2, 2)
    torch.testing.assert_close(t.sum(1), torch.ones(1, 2, 2))
    torch.testing.assert_close(t[0, :, 0, 1], torch.tensor([0.2, 0.2, 0.6]))
    torch.testing.assert_close(t[0, :, 1, 0], torch.tensor([0.6, 0.2, 0.2]))  # 255 -> class 0


def test_balanced_loss_weighs_background_and_foreground_equally():
    logits = torch.zeros(1, 2, 1, 4)
    logits[0, 0, 0, 0] = 5.0  # one confident background pixel
    label = torch.tensor([[[0, 1, 1, 255]]])
    target = losses.smoothed_target(label, 2, 0.0)
    per_pixel = -(torch.log_softmax(logits, 1) * target).sum(1)[0, 0]
    expected = (per_pixel[0] + per_pixel[1:3].mean()) / 2
    assert losses.balanced_soft_cross_entropy(logits, label, target).item() == pytest.approx(expected.item())


def test_labels_resized_with_pil_nearest():
    labels = torch.from_numpy(np.arange(64, dtype=np.uint8).reshape(1, 8, 8))
    out = losses.resize_labels(labels, (2, 4))
    assert out.dtype == torch.long
    # PIL's nearest samples the source pixel under each output pixel's centre: rows (0.5, 1.5) * 4 -> 2, 6 and
    # columns (0.5 .. 3.5) * 2 -> 1, 3, 5, 7. torch's "nearest" takes the top-left ones (rows 0, 4; columns 0, 2,
    # 4, 6), the misalignment the official comment warns of.
    expected = [[[8 * r + c for c in (1, 3, 5, 7)] for r in (2, 6)]]
    assert out.tolist() == expected
    torch_nearest = torch.nn.functional.interpolate(labels[None].float(), (2, 4), mode="nearest")[0].long()
    assert torch_nearest.tolist() != expected
