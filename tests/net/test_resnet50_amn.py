import torch

from net import resnet50_amn


def _label(*classes):
    y = torch.zeros(1, 20)
    y[0, list(classes)] = 1
    return y


def test_logits_have_21_classes_at_stride_16():
    net = resnet50_amn.Net().eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, 64, 80), _label(3)).shape == (1, 21, 4, 5)


def test_aspp_initialisation_matches_official():
    aspp = resnet50_amn.Net().classifier[1]
    for conv in aspp.children():
        assert conv.bias.abs().max() == 0
        assert 0.005 < conv.weight.std() < 0.015


def test_dropout_is_off_in_eval_and_on_with_the_official_flag():
    x, y = torch.randn(2, 3, 48, 48), _label(1).expand(2, 20)
    ours = resnet50_amn.CAM().eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x, y), ours(x, y))
    official = resnet50_amn.CAM(dropout_at_inference=True)
    official.load_state_dict(ours.state_dict())
    official.eval()
    assert official.classifier[0].training
    with torch.no_grad():
        assert not torch.equal(official(x, y), official(x, y))


def test_label_conditioning_changes_the_output():
    net = resnet50_amn.Net().eval()
    torch.nn.init.normal_(net.label_enc.weight)
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        assert not torch.allclose(net(x, _label(1)), net(x, _label(2)))


def test_cam_averages_an_image_and_its_flip():
    net = resnet50_amn.CAM().eval()
    x = torch.randn(1, 3, 48, 64)
    pair, y = torch.cat([x, x.flip(-1)]), _label(5).expand(2, 20)
    with torch.no_grad():
        logits = resnet50_amn.Net.forward(net, pair, y)
        torch.testing.assert_close(net(pair, y), (logits[0] + logits[1].flip(-1)) / 2)
