import pytest
import torch

from dataset.datasets import ImageDataset
from dataset.spec import load_img_name_list
from engine import losses
from step import train_irn


def test_irn_losses_follow_the_official_weighting():
    bg = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    fg = torch.tensor([[0.0, 1.0, 0.0, 0.0]])
    neg = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    pos_aff = torch.tensor([[1.0, 2.0, 3.0, 5.0]])
    neg_aff = torch.tensor([[7.0, 7.0, 4.0, 7.0]])
    dp_fg = torch.full((1, 2, 4), 0.5)
    dp_bg = torch.full((1, 2, 4), 2.0)
    pack = {"aff_bg_pos_label": bg, "aff_fg_pos_label": fg, "aff_neg_label": neg}
    total, shown = losses.irn_losses((pos_aff, neg_aff, dp_fg, dp_bg), pack, "cpu")
    e = 1e-5
    pos = (6 / (2 + e)) / 2 + (2 / (1 + e)) / 2
    negative = 4 / (1 + e)
    d_fg = (0.5 * 2) / (2 * 1 + e)
    d_bg = (2.0 * 2 * 2) / (2 * 2 + e)
    assert shown == pytest.approx({"pos": pos, "neg": negative, "dp_fg": d_fg, "dp_bg": d_bg})
    assert total.item() == pytest.approx((pos + negative) / 2 + (d_fg + d_bg) / 2)


class _BatchSizeDisplacement(torch.nn.Module):
    """Returns a displacement field filled with the batch size, to expose how batches are averaged."""

    def forward(self, img, with_loss):
        n = img.shape[0]
        return None, torch.stack([torch.full((n, 4, 4), float(n)), torch.full((n, 4, 4), -2.0 * n)], 1)


def test_mean_shift_averages_full_batches_of_top_left_crops(toy):
    from voc12 import dataloader as vocdata

    names = load_img_name_list(toy.meta / "train.txt")
    dataset = ImageDataset(names, root=toy.root, crop_size=32, crop_method="top_left", spec=vocdata.VOC12)
    mean = train_irn.estimate_mean_shift(_BatchSizeDisplacement(), dataset, 6, 0, "cpu")
    # 16 images in batches of 6: the partial batch of 4 is dropped, as in the official loader.
    torch.testing.assert_close(mean, torch.tensor([6.0, -12.0]))
