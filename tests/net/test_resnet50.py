import pytest
import torch

from net import resnet50, resnet50_cam


def test_constructing_a_network_reads_no_weights(monkeypatch):
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("a constructor loaded a file"))
    resnet50_cam.Net()


def test_strides_give_output_stride_16():
    net = resnet50_cam.CAM().eval()
    with torch.no_grad():
        out = net(torch.zeros(2, 3, 64, 96))
    assert out.shape == (20, 4, 6)


def test_missing_imagenet_weights_error_says_where_to_put_them(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        resnet50.load_backbone_weights(resnet50.resnet50(), None)
    assert "resnet50-19c8e357.pth" in str(err.value) and str(tmp_path / "checkpoints") in str(err.value)
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        resnet50.load_backbone_weights(resnet50.resnet50(), str(tmp_path / "nope.pth"))


def test_imagenet_file_from_hub_cache_loads_without_fc(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    source = resnet50.resnet50()
    sd = {**source.state_dict(), "fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)}
    (tmp_path / "checkpoints").mkdir()
    torch.save(sd, tmp_path / "checkpoints" / "resnet50-0676ba61.pth")
    trunk = resnet50.resnet50()
    assert resnet50.load_backbone_weights(trunk, None).endswith("resnet50-0676ba61.pth")
    torch.testing.assert_close(trunk.layer4[2].conv3.weight, source.layer4[2].conv3.weight)


def test_from_scratch_trains_batchnorm_and_stem():
    net = resnet50_cam.Net()
    resnet50.load_backbone_weights(net.resnet50, "none")
    net.train()
    assert net.resnet50.conv1.weight.requires_grad
    before = net.resnet50.bn1.running_mean.clone()
    net(torch.randn(2, 3, 64, 64))
    assert not torch.equal(before, net.resnet50.bn1.running_mean)


def test_pretrained_mode_freezes_stem_and_statistics():
    net = resnet50_cam.Net().train()
    assert not net.resnet50.conv1.weight.requires_grad and not net.resnet50.bn1.weight.requires_grad
    before = net.resnet50.layer1[0].bn1.running_mean.clone()
    net(torch.randn(2, 3, 64, 64))
    torch.testing.assert_close(before, net.resnet50.layer1[0].bn1.running_mean)


def test_from_scratch_blocks_start_as_the_identity():
    trunk = resnet50.resnet50()
    resnet50.load_backbone_weights(trunk, "none")
    trunk.eval()
    with torch.no_grad():
        for block in (trunk.layer1[1], trunk.layer3[4], trunk.layer4[2]):
            x = torch.rand(2, block.conv1.in_channels, 8, 8)  # non-negative, as every block's input follows a ReLU
            torch.testing.assert_close(block(x), x)
    blocks = [m for m in trunk.modules() if isinstance(m, resnet50.Bottleneck)]
    assert all(int(torch.count_nonzero(b.bn3.weight)) == 0 for b in blocks)


def test_from_scratch_convolutions_are_he_initialised():
    torch.manual_seed(0)
    trunk = resnet50.resnet50()
    resnet50.load_backbone_weights(trunk, "none")
    # layer3[0].conv3: 1x1, 256 -> 1024, so fan-out (1024) and fan-in (256) differ 4x: He by fan-out has std
    # sqrt(2 / 1024) = 0.044, He by fan-in 0.088, PyTorch's default 1 / sqrt(3 * 256) = 0.036.
    w = trunk.layer3[0].conv3.weight.detach()
    assert abs(float(w.std()) - (2 / 1024) ** 0.5) < 0.001
    w = trunk.layer3[0].conv2.weight.detach()  # 3x3, 256 -> 256: fan-out 2304
    assert abs(float(w.std()) - (2 / (256 * 9)) ** 0.5) < 0.001
    default = resnet50.resnet50().layer3[0].conv3.weight.detach()
    assert abs(float(default.std()) - (1 / (3 * 256)) ** 0.5) < 0.001
