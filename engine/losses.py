"""The training losses: AMN's balanced soft cross-entropy on smoothed seeds, DSRG's balanced seed loss and
the plain cross-entropy of the segmentation network, and the label resizing they share."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from misc import distributed


def balanced_soft_cross_entropy(logits: torch.Tensor, labels: torch.Tensor,
                                one_hot_labels: torch.Tensor) -> torch.Tensor:
    """AMN's loss: the mean of the background-pixel and foreground-pixel averages of -sum(target * log_softmax).

    ``labels`` (N, H, W) selects the groups (0 background, 1..C-1 foreground, 255 ignored);
    ``one_hot_labels`` (N, C, H, W) is the smoothed target. A group with no pixel in the
    batch is left out of the mean (the official code would return NaN). Under torchrun the
    batch is the global one.
    """
    n, c = logits.shape[:2]
    if one_hot_labels.shape[:2] != (n, c):
        raise ValueError(f"target shape {tuple(one_hot_labels.shape)} does not match logits {tuple(logits.shape)}")
    per_pixel = -torch.sum(F.log_softmax(logits, dim=1) * one_hot_labels, dim=1)
    masks = [(labels == 0), (labels != 0) & (labels != 255)]
    if distributed.world_size() == 1:
        terms = [per_pixel[m].mean() for m in masks if m.any()]
        return torch.stack(terms).mean() if terms else per_pixel.sum() * 0
    # Under DDP the group sizes are those of the global batch, so the averaged gradients equal one process's.
    counts = distributed.global_sum(torch.stack([m.sum() for m in masks]).float())
    terms = [per_pixel[m].sum() / n for m, n in zip(masks, counts) if n > 0]
    if not terms:
        return per_pixel.sum() * 0
    return torch.stack(terms).sum() / len(terms) * distributed.gradient_scale()


def smoothed_target(label: torch.Tensor, n_classes: int, eps: float) -> torch.Tensor:
    """eps/(C-1) everywhere and 1-eps at the seed's class; 255 maps to class 0 (the loss ignores it)."""
    index = torch.where(label == 255, torch.zeros_like(label), label)
    target = torch.full((label.size(0), n_classes) + tuple(label.shape[1:]), eps / (n_classes - 1),
                        device=label.device)
    return target.scatter_(1, index.unsqueeze(1), 1 - eps)


MIN_PROB = 1e-4  # DSRG's floor on the softmax probabilities of its balanced seed loss


def resize_labels(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Labels (B, H, W) resized to an output's (h, w) with PIL's nearest neighbour, as the official AMN and
    deeplab-pytorch do (``F.interpolate``'s nearest samples other pixels and misaligns the labels)."""
    out = [np.asarray(Image.fromarray(lab.numpy().astype(np.uint8)).resize((size[1], size[0]), Image.NEAREST))
           for lab in labels.cpu()]
    return torch.from_numpy(np.stack(out).astype(np.int64))


def dsrg_seed_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    """DSRG's balanced seed loss (its SeedLossLayer3): per image, the mean -log p over background pixels plus
    the mean -log p over foreground pixels, averaged over the batch; p is the softmax floored at 1e-4 and
    renormalised. Background and foreground count equally however unequal their areas."""
    n_class = logits.shape[1]
    log_softmax = F.log_softmax(logits.float(), dim=1)
    # The floor lives on the logits' device: CUDA's logaddexp takes no CPU operand, not even a scalar.
    floor = torch.full((), np.log(MIN_PROB), dtype=log_softmax.dtype, device=log_softmax.device)
    log_p = torch.logaddexp(log_softmax, floor) - np.log1p(n_class * MIN_PROB)
    valid = labels != ignore_index
    nll = -log_p.gather(1, labels.clamp(0, n_class - 1).unsqueeze(1)).squeeze(1) * valid
    bg, fg = valid & (labels == 0), valid & (labels > 0)
    per_image = [(nll * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp(min=MIN_PROB) for m in (bg, fg)]
    return (per_image[0] + per_image[1]).mean()


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    """Pixel-averaged cross-entropy; under DDP averaged over the global batch's labelled pixels.

    Gathered from log_softmax rather than F.cross_entropy(reduction="sum"), whose CUDA kernel (nll_loss2d)
    has no deterministic version and raises under --deterministic."""
    n_class = logits.shape[1]
    valid = labels != ignore_index
    log_p = F.log_softmax(logits.float(), dim=1).gather(1, labels.clamp(0, n_class - 1).unsqueeze(1)).squeeze(1)
    total = -(log_p * valid).sum()
    count = distributed.global_sum((labels != ignore_index).sum().float())
    return total / count.clamp(min=1) * distributed.gradient_scale()


def msc_loss(outputs: list[torch.Tensor], labels: torch.Tensor, kind: str) -> torch.Tensor:
    """The loss summed over the MSC outputs (full, 0.5, 0.75, max), labels resized to each."""
    fn = dsrg_seed_loss if kind == "balanced" else cross_entropy
    resized = {}  # the full-size and max outputs share one size
    for out in outputs:
        size = tuple(out.shape[-2:])
        if size not in resized:
            resized[size] = resize_labels(labels, size).to(out.device)
    return sum(fn(out, resized[tuple(out.shape[-2:])]) for out in outputs)


def irn_losses(model_out, pack, device) -> tuple[torch.Tensor, dict[str, float]]:
    """IRN's training loss of ``AffinityDisplacementLoss``'s four terms on a batch: the official weighting
    (pos + neg affinity)/2 + (fg + bg displacement)/2, each term a mean over its labelled pixel pairs."""
    pos_aff_loss, neg_aff_loss, dp_fg_loss, dp_bg_loss = model_out
    bg_pos, fg_pos, neg = (pack[k].to(device, non_blocking=True).float()
                           for k in ("aff_bg_pos_label", "aff_fg_pos_label", "aff_neg_label"))
    # Label counts of the global batch under DDP, so the averaged gradients equal one process's.
    n_bg, n_fg, n_neg = distributed.global_sum(torch.stack([bg_pos.sum(), fg_pos.sum(), neg.sum()]))
    bg_pos_aff = torch.sum(bg_pos * pos_aff_loss) / (n_bg + 1e-5)
    fg_pos_aff = torch.sum(fg_pos * pos_aff_loss) / (n_fg + 1e-5)
    pos_aff = bg_pos_aff / 2 + fg_pos_aff / 2
    neg_aff = torch.sum(neg * neg_aff_loss) / (n_neg + 1e-5)
    dp_fg = torch.sum(dp_fg_loss * fg_pos.unsqueeze(1)) / (2 * n_fg + 1e-5)
    dp_bg = torch.sum(dp_bg_loss * bg_pos.unsqueeze(1)) / (2 * n_bg + 1e-5)
    total = ((pos_aff + neg_aff) / 2 + (dp_fg + dp_bg) / 2) * distributed.gradient_scale()
    return total, {"pos": pos_aff.item(), "neg": neg_aff.item(), "dp_fg": dp_fg.item(), "dp_bg": dp_bg.item()}
