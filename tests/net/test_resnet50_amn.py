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
    # deeplab-pytorch's _ASPP: normal(0, 0.01) weights, zero biases. Each conv has 21 * 2048 * 9 weights, so the
    # sample std is within 1e-4 of 0.01; Kaiming (fan-in 2048 * 9: 0.0104) and PyTorch's default (uniform,
    # std 0.0025) fall outside.
    for conv in aspp.children():
        assert conv.bias.abs().max() == 0
        assert abs(float(conv.weight.detach().std()) - 0.01) < 1e-4
        assert abs(float(conv.weight.detach().mean())) < 1e-4


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


def _dtypes(net, inputs, modules):
    """Run ``net`` under bfloat16 autocast; (module, input dtype, output dtype) of every call of ``modules``."""
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append((m, i[0].dtype, o.dtype))) for m in modules]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(*inputs)
    for h in hooks:
        h.remove()
    return seen, out


def test_under_amp_only_the_trunks_run_in_bfloat16():
    """Heads compute in float32 (DeepLab-v2's ASPP casts its input itself) and every output is float32."""
    from misc import indexing
    from net import deeplab_v2, resnet50_cam, resnet50_irn

    x, label = torch.rand(2, 3, 64, 64), torch.zeros(2, 20)
    label[:, 3] = 1
    amn = resnet50_amn.Net().eval()
    irn = resnet50_irn.AffinityDisplacementLoss(indexing.PathIndex(radius=10, default_size=(24, 24))).train()
    seg = deeplab_v2.deeplabv2_msc(21, depth=50).eval()
    cases = [(resnet50_cam.Net().eval(), (x,), ["classifier"]), (resnet50_cam.CAM().eval(), (x,), []),
             (amn, (x, label), ["label_enc", "classifier"]),
             (irn, (torch.rand(2, 3, 96, 96), True), ["fc_edge1", "fc_edge6", "fc_dp7"]),
             (seg, (x[:1],), ["base.aspp"])]
    for net, inputs, names in cases:
        trunk = net.resnet50.layer4 if hasattr(net, "resnet50") else net.base.layer5
        heads = [net.get_submodule(n) for n in names]
        seen, out = _dtypes(net, inputs, [trunk] + heads)
        assert all(o == torch.bfloat16 for m, _, o in seen if m is trunk), type(net)
        for m, i, o in seen:
            if m is not trunk:
                assert o == torch.float32 and (i == torch.float32 or isinstance(m, deeplab_v2._ASPP)), (type(net), m)
        for o in out if isinstance(out, (tuple, list)) else (out,):
            assert o.dtype == torch.float32, type(net)
