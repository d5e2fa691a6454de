"""IRN: class-boundary and displacement-field branches on a frozen ResNet-50.

Module names match the released ``res50_irn`` checkpoint.
"""
from __future__ import annotations

import re

import torch
import torch.nn as nn
import torch.nn.functional as F

from misc import indexing, torchutils
from net import resnet50
from net.registry import register_model


def _branch(in_ch: int, out_ch: int, groups: int, upsample: int = 1) -> nn.Sequential:
    layers = [nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.GroupNorm(groups, out_ch)]
    if upsample > 1:
        layers.append(nn.Upsample(scale_factor=upsample, mode="bilinear", align_corners=False))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


@register_model("resnet50_irn")
class Net(nn.Module):
    class MeanShift(nn.Module):
        """Subtracts the mean displacement measured after training (eval mode only)."""

        def __init__(self, num_features: int):
            super().__init__()
            self.register_buffer("running_mean", torch.zeros(num_features))

        def forward(self, input: torch.Tensor) -> torch.Tensor:
            if self.training:
                return input
            return input - self.running_mean.view(1, 2, 1, 1)

    def __init__(self):
        super().__init__()
        self.resnet50 = resnet50.resnet50(strides=[2, 2, 2, 1])
        r = self.resnet50
        self.stage1 = nn.Sequential(r.conv1, r.bn1, r.relu, r.maxpool)
        self.stage2 = nn.Sequential(r.layer1)
        self.stage3 = nn.Sequential(r.layer2)
        self.stage4 = nn.Sequential(r.layer3)
        self.stage5 = nn.Sequential(r.layer4)
        self.mean_shift = Net.MeanShift(2)

        self.fc_edge1 = _branch(64, 32, 4)
        self.fc_edge2 = _branch(256, 32, 4)
        self.fc_edge3 = _branch(512, 32, 4, upsample=2)
        self.fc_edge4 = _branch(1024, 32, 4, upsample=4)
        self.fc_edge5 = _branch(2048, 32, 4, upsample=4)
        self.fc_edge6 = nn.Conv2d(160, 1, 1, bias=True)

        self.fc_dp1 = _branch(64, 64, 8)
        self.fc_dp2 = _branch(256, 128, 16)
        self.fc_dp3 = _branch(512, 256, 16)
        self.fc_dp4 = _branch(1024, 256, 16, upsample=2)
        self.fc_dp5 = _branch(2048, 256, 16, upsample=2)
        self.fc_dp6 = _branch(768, 256, 16, upsample=2)
        self.fc_dp7 = nn.Sequential(nn.Conv2d(448, 256, 1, bias=False), nn.GroupNorm(16, 256), nn.ReLU(inplace=True),
                                    nn.Conv2d(256, 2, 1, bias=False), self.mean_shift)

        self.backbone = nn.ModuleList([self.stage1, self.stage2, self.stage3, self.stage4, self.stage5])
        # The backbone is frozen (forward detaches it): no gradient buffers, nothing for DDP to all-reduce.
        self.backbone.requires_grad_(False)
        self.edge_layers = nn.ModuleList([self.fc_edge1, self.fc_edge2, self.fc_edge3, self.fc_edge4,
                                          self.fc_edge5, self.fc_edge6])
        self.dp_layers = nn.ModuleList([self.fc_dp1, self.fc_dp2, self.fc_dp3, self.fc_dp4, self.fc_dp5,
                                        self.fc_dp6, self.fc_dp7])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # The backbone only provides features; neither branch trains it.
        x1 = self.stage1(x).detach()
        x2 = self.stage2(x1).detach()
        x3 = self.stage3(x2).detach()
        x4 = self.stage4(x3).detach()
        x5 = self.stage5(x4).detach()
        with torchutils.full_precision(x1):  # under --amp the backbone alone runs in bfloat16
            return self._branches(x1.float(), x2.float(), x3.float(), x4.float(), x5.float())

    def _branches(self, x1, x2, x3, x4, x5) -> tuple[torch.Tensor, torch.Tensor]:
        h2, w2 = x2.shape[-2:]
        edge1 = self.fc_edge1(x1)
        edge2 = self.fc_edge2(x2)
        edge3 = self.fc_edge3(x3)[..., :h2, :w2]
        edge4 = self.fc_edge4(x4)[..., :h2, :w2]
        edge5 = self.fc_edge5(x5)[..., :h2, :w2]
        edge_out = self.fc_edge6(torch.cat([edge1, edge2, edge3, edge4, edge5], dim=1))

        dp1 = self.fc_dp1(x1)
        dp2 = self.fc_dp2(x2)
        dp3 = self.fc_dp3(x3)
        h3, w3 = dp3.shape[-2:]
        dp4 = self.fc_dp4(x4)[..., :h3, :w3]
        dp5 = self.fc_dp5(x5)[..., :h3, :w3]
        dp_up3 = self.fc_dp6(torch.cat([dp3, dp4, dp5], dim=1))[..., :dp2.size(2), :dp2.size(3)]
        dp_out = self.fc_dp7(torch.cat([dp1, dp2, dp_up3], dim=1))
        return edge_out, dp_out

    def trainable_parameters(self) -> tuple[tuple, tuple]:
        return tuple(self.edge_layers.parameters()), tuple(self.dp_layers.parameters())

    def train(self, mode: bool = True) -> "Net":
        super().train(mode)
        self.backbone.eval()
        return self


@register_model("resnet50_irn")
class AffinityDisplacementLoss(Net):
    """IRN in training: per-pair affinity and displacement losses for ``path_index``'s pairs."""

    path_indices_prefix = "path_indices"

    def __init__(self, path_index: indexing.PathIndex):
        super().__init__()
        self.path_index = path_index
        self.n_path_lengths = len(path_index.path_indices)
        for i, pi in enumerate(path_index.path_indices):
            self.register_buffer(self.path_indices_prefix + str(i), torch.from_numpy(pi))
        self.register_buffer("disp_target", torch.from_numpy(path_index.search_dst).t()[None, :, :, None].float())

    def to_affinity(self, edge: torch.Tensor) -> torch.Tensor:
        paths = [self._buffers[self.path_indices_prefix + str(i)] for i in range(self.n_path_lengths)]
        return indexing.edge_to_affinity(edge, paths)

    def to_pair_displacement(self, disp: torch.Tensor) -> torch.Tensor:
        height, width = disp.shape[-2:]
        rf = self.path_index.radius_floor
        cropped_height, cropped_width = height - rf, width - 2 * rf
        disp_src = disp[:, :, :cropped_height, rf:rf + cropped_width]
        disp_dst = torch.stack([disp[:, :, dy:dy + cropped_height, rf + dx:rf + dx + cropped_width]
                                for dy, dx in self.path_index.search_dst], 2)
        pair_disp = disp_src.unsqueeze(2) - disp_dst
        return pair_disp.view(pair_disp.size(0), pair_disp.size(1), pair_disp.size(2), -1)

    def to_displacement_loss(self, pair_disp: torch.Tensor) -> torch.Tensor:
        return torch.abs(pair_disp - self.disp_target)

    def forward(self, *inputs):
        x, return_loss = inputs
        edge_out, dp_out = super().forward(x)
        if return_loss is False:
            return edge_out, dp_out
        with torchutils.full_precision(edge_out):  # in bfloat16, 1 + 1e-5 - aff is 0 below aff 0.002
            aff = self.to_affinity(torch.sigmoid(edge_out))
            pos_aff_loss = -torch.log(aff + 1e-5)
            neg_aff_loss = -torch.log(1.0 + 1e-5 - aff)
            pair_disp = self.to_pair_displacement(dp_out)
            return pos_aff_loss, neg_aff_loss, self.to_displacement_loss(pair_disp), torch.abs(pair_disp)


@register_model("resnet50_irn")
class EdgeDisplacement(Net):
    """IRN at inference on a flip pair: boundary probabilities (1, h, w) and displacements (2, h, w)."""

    def __init__(self, crop_size: int = 512, stride: int = 4):
        super().__init__()
        self.crop_size = crop_size
        self.stride = stride

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feat_size = (x.size(2) - 1) // self.stride + 1, (x.size(3) - 1) // self.stride + 1
        # The official code pads to crop_size (GroupNorm statistics depend on it); larger images,
        # which it would silently crop, are padded to a multiple of 16 instead.
        pad_h = max(self.crop_size, -(-x.size(2) // 16) * 16) - x.size(2)
        pad_w = max(self.crop_size, -(-x.size(3) // 16) * 16) - x.size(3)
        edge_out, dp_out = super().forward(F.pad(x, [0, pad_w, 0, pad_h]))
        edge_out = edge_out[..., :feat_size[0], :feat_size[1]]
        dp_out = dp_out[..., :feat_size[0], :feat_size[1]]
        with torchutils.full_precision(edge_out):
            edge_out = torch.sigmoid(edge_out[0] / 2 + edge_out[1].flip(-1) / 2)
        return edge_out, dp_out[0]


# The released res50_irn.pth was saved from AffinityDisplacementLoss, so it holds
# that class's path-index buffers; they depend only on the crop size and are
# rebuilt, so they are the only keys EdgeDisplacement may drop.
_PATH_INDEX_BUFFERS = re.compile(r"^(path_indices\d+|disp_target)$")


def load_edge_displacement_weights(model: EdgeDisplacement, state_dict: dict) -> list[str]:
    """Strict load of an IRN checkpoint into EdgeDisplacement, dropping only path-index buffers."""
    dropped = [k for k in state_dict if _PATH_INDEX_BUFFERS.match(k)]
    model.load_state_dict({k: v for k, v in state_dict.items() if k not in dropped}, strict=True)
    return dropped
