"""Released checkpoint layouts load strictly into our networks."""
import pytest
import torch

from engine import checkpoints
from misc import indexing
from net import resnet50_amn, resnet50_cam, resnet50_irn


def fake_checkpoint(shapes: dict, aliases: dict) -> dict:
    """A state dict with the released keys and shapes; aliases share one tensor, as in the real file."""
    g = torch.Generator().manual_seed(0)
    sd = {k: torch.randn(s, generator=g) if s else torch.tensor(7) for k, s in shapes.items() if k not in aliases}
    for k, target in aliases.items():
        sd[k] = sd[target]
    return sd


@pytest.mark.parametrize("name,build,n_classes", [
    ("res50_cam", resnet50_cam.Net, 20), ("res50_cam", resnet50_cam.CAM, 20),
    ("res50_amn", resnet50_amn.Net, 20), ("res50_amn", resnet50_amn.CAM, 20),
    ("res50_cam_coco", resnet50_cam.Net, 80), ("res50_cam_coco", resnet50_cam.CAM, 80),
    ("res50_amn_coco", resnet50_amn.Net, 80), ("res50_amn_coco", resnet50_amn.CAM, 80)])
def test_released_layout_loads_strict(state_dict_keys, name, build, n_classes):
    sd = fake_checkpoint(state_dict_keys["shapes"][name], state_dict_keys["aliases"][name])
    model = build(n_classes=n_classes)
    model.load_state_dict(sd, strict=True)
    torch.testing.assert_close(model.resnet50.conv1.weight, sd["resnet50.conv1.weight"])


def test_coco_heads_have_80_classes(state_dict_keys):
    shapes = state_dict_keys["shapes"]
    assert shapes["res50_cam_coco"]["classifier.weight"] == [80, 2048, 1, 1]
    assert shapes["res50_amn_coco"]["label_enc.weight"] == [2048, 80]
    assert list(resnet50_amn.Net(n_classes=80).classifier[1].c0.weight.shape) == [81, 2048, 3, 3]
    assert resnet50_cam.Net(n_classes=80)(torch.zeros(1, 3, 32, 32)).shape == (1, 80)


@pytest.mark.parametrize("name", ["res50_irn", "res50_irn_coco"])
def test_irn_layout_loads_into_training_net(state_dict_keys, name):
    sd = fake_checkpoint(state_dict_keys["shapes"][name], state_dict_keys["aliases"][name])
    # The released buffers were built for a 32x32 feature grid.
    model = resnet50_irn.AffinityDisplacementLoss(indexing.PathIndex(radius=10, default_size=(32, 32)))
    model.load_state_dict({k: v.long() if k.startswith("path_indices") else v for k, v in sd.items()}, strict=True)


@pytest.mark.parametrize("name", ["res50_irn", "res50_irn_coco"])
def test_irn_layout_loads_into_edge_displacement_dropping_only_path_buffers(state_dict_keys, name):
    sd = fake_checkpoint(state_dict_keys["shapes"][name], state_dict_keys["aliases"][name])
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
    model = resnet50_cam.Net()
    checkpoints.save_final(str(tmp_path / "res50_cam.pth"), model)
    other = resnet50_cam.CAM()
    assert checkpoints.load_weights(other, str(tmp_path / "res50_cam.pth")) == tmp_path / "res50_cam.pth"
    torch.testing.assert_close(other.classifier.weight, model.classifier.weight)


def test_a_checkpoint_of_another_network_says_what_it_holds(tmp_path):
    from misc.errors import PipelineError
    path = tmp_path / "res50_cam.pth"
    checkpoints.save_final(str(path), resnet50_cam.Net())
    with pytest.raises(PipelineError, match=r"holds the weights of a CAM network \(classifier 20x2048\), not of AMN"):
        checkpoints.load_weights(resnet50_amn.CAM(), str(path), "AMN", "--amn_weights_name")
    with pytest.raises(PipelineError, match="does not fit.*80 classes"):
        checkpoints.load_weights(resnet50_cam.CAM(n_classes=80), str(path), "a CAM network", "--cam_weights_name")


def test_a_truncated_checkpoint_names_the_file(tmp_path):
    from misc.errors import PipelineError
    path = tmp_path / "res50_cam.pth"
    checkpoints.save_final(str(path), resnet50_cam.Net())
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(PipelineError, match="res50_cam.pth cannot be read.*truncated"):
        checkpoints.load_weights(resnet50_cam.CAM(), str(path))
