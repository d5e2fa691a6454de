"""Released checkpoint layouts load strictly into our networks."""
import pytest
import torch

from misc import indexing
from net import resnet50_amn, resnet50_cam, resnet50_irn


def fake_checkpoint(shapes: dict, aliases: dict) -> dict:
    """A state dict with the released keys and shapes; aliases share one tensor, as in the real file."""
    g = torch.Generator().manual_seed(0)
    sd = {k: torch.randn(s, generator=g) if s else torch.tensor(7) for k, s in shapes.items() if k not in aliases}
    for k, target in aliases.items():
        sd[k] = sd[target]
    return sd


@pytest.mark.parametrize("name,build", [("res50_cam", resnet50_cam.Net), ("res50_cam", resnet50_cam.CAM),
                                        ("res50_amn", resnet50_amn.Net), ("res50_amn", resnet50_amn.CAM)])
def test_released_layout_loads_strict(state_dict_keys, name, build):
    sd = fake_checkpoint(state_dict_keys["shapes"][name], state_dict_keys["aliases"][name])
    model = build()
    model.load_state_dict(sd, strict=True)
    torch.testing.assert_close(model.resnet50.conv1.weight, sd["resnet50.conv1.weight"])


def test_irn_layout_loads_into_training_net(state_dict_keys):
    sd = fake_checkpoint(state_dict_keys["shapes"]["res50_irn"], state_dict_keys["aliases"]["res50_irn"])
    # The released buffers were built for a 32x32 feature grid.
    model = resnet50_irn.AffinityDisplacementLoss(indexing.PathIndex(radius=10, default_size=(32, 32)))
    model.load_state_dict({k: v.long() if k.startswith("path_indices") else v for k, v in sd.items()}, strict=True)


def test_irn_layout_loads_into_edge_displacement_dropping_only_path_buffers(state_dict_keys):
    sd = fake_checkpoint(state_dict_keys["shapes"]["res50_irn"], state_dict_keys["aliases"]["res50_irn"])
    model = resnet50_irn.EdgeDisplacement()
    dropped = resnet50_irn.load_edge_displacement_weights(model, sd)
    assert sorted(dropped) == sorted([f"path_indices{i}" for i in range(20)] + ["disp_target"])
    torch.testing.assert_close(model.mean_shift.running_mean, sd["mean_shift.running_mean"])
    with pytest.raises(RuntimeError, match="surprise"):
        resnet50_irn.load_edge_displacement_weights(model, {**sd, "surprise": torch.zeros(1)})
    incomplete = {k: v for k, v in sd.items() if not k.startswith("fc_edge6")}
    with pytest.raises(RuntimeError, match="fc_edge6"):
        resnet50_irn.load_edge_displacement_weights(model, incomplete)


def test_our_checkpoints_round_trip(tmp_path):
    from step import training

    model = resnet50_cam.Net()
    training.save_final(str(tmp_path / "res50_cam.pth"), model)
    other = resnet50_cam.CAM()
    assert training.load_weights(other, str(tmp_path / "res50_cam.pth")) == tmp_path / "res50_cam.pth"
    torch.testing.assert_close(other.classifier.weight, model.classifier.weight)
