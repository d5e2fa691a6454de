"""DeepLab-v2 MSC against deeplab-pytorch's layout and outputs, and the loading of its initialisations."""
from pathlib import Path

import numpy as np
import pytest
import torch

from net import deeplab_v2
from tests.data.detweights import make_state

KEY = "deeplabv2_resnet101_msc"


@pytest.fixture(scope="module")
def golden_model(state_dict_keys):
    with np.load(Path(__file__).parents[1] / "data" / "deeplab_small.npz", allow_pickle=False) as data:
        golden = {k: data[k] for k in data.files}
    model = deeplab_v2.deeplabv2_resnet101_msc(21)
    model.load_state_dict(make_state(state_dict_keys["shapes"][KEY], {}, int(golden["weights_seed"])), strict=True)
    return model, golden


def test_layout_is_deeplab_pytorch_msc(state_dict_keys):
    shapes = state_dict_keys["shapes"][KEY]
    sd = deeplab_v2.deeplabv2_resnet101_msc(21).state_dict()
    assert {k: list(v.shape) for k, v in sd.items()} == shapes
    assert isinstance(deeplab_v2.DeepLabV2_ResNet101_MSC(21), deeplab_v2.MSC)


def test_eval_output_is_deeplab_pytorchs_max_over_scales(golden_model):
    model, golden = golden_model
    model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(golden["input"]))
    np.testing.assert_allclose(out.numpy(), golden["eval_max"], atol=1e-5, rtol=0)


def test_train_outputs_with_frozen_batchnorm_match_and_keep_statistics(golden_model):
    model, golden = golden_model
    before = model.base.layer2.block1.reduce.bn.running_mean.clone()
    model.train()
    model.base.freeze_bn()
    with torch.no_grad():
        outs = model(torch.from_numpy(golden["input"]))
    assert len(outs) == 4
    for out, key in zip(outs, ("train_full", "train_s050", "train_s075", "train_max")):
        assert out.shape == golden[key].shape
        np.testing.assert_allclose(out.numpy(), golden[key], atol=1e-5, rtol=0)
    torch.testing.assert_close(model.base.layer2.block1.reduce.bn.running_mean, before, rtol=0, atol=0)
    assert model.training and not any(m.training for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_depth_50_has_resnet50_blocks_and_the_same_head():
    model = deeplab_v2.deeplabv2_msc(5, depth=50)
    assert len(model.base.layer4) == 6 and len(model.base.layer2) == 3
    assert model.base.aspp.c3.weight.shape == (5, 2048, 3, 3) and model.base.aspp.c3.dilation == (24, 24)
    with pytest.raises(ValueError):
        deeplab_v2.deeplabv2_msc(5, depth=34)


def test_param_groups_hold_convs_then_aspp_weights_then_biases_and_no_batchnorm():
    model = deeplab_v2.deeplabv2_msc(3, depth=50)
    backbone, aspp_w, aspp_b = deeplab_v2.param_groups(model)
    n_convs = sum(1 for n, m in model.base.named_modules() if isinstance(m, torch.nn.Conv2d) and "aspp" not in n)
    assert len(backbone) == n_convs and len(aspp_w) == len(aspp_b) == 4
    assert aspp_b[0] is model.base.aspp.c0.bias and aspp_w[3] is model.base.aspp.c3.weight
    bn_params = {id(p) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters()}
    assert not bn_params & {id(p) for p in backbone + aspp_w + aspp_b}


def test_poly_lr_is_recomputed_every_step_size_iterations():
    base, n, power = 2.5e-4, 30000, 0.9
    assert [deeplab_v2.poly_lr(base, i, n, power, 10) for i in (1, 10)] == [base, base]
    assert deeplab_v2.poly_lr(base, 11, n, power, 10) == pytest.approx(base * (1 - 10 / n) ** 0.9, rel=1e-12)
    assert deeplab_v2.poly_lr(base, 20, n, power, 10) == deeplab_v2.poly_lr(base, 11, n, power, 10)
    assert deeplab_v2.poly_lr(base, 30000, n, power, 10) == pytest.approx(base * (10 / n) ** 0.9, rel=1e-12)
    assert deeplab_v2.poly_lr(1.0, 5, 10, 1.0, 1) == pytest.approx(0.6)


def test_input_normalisation_follows_the_init():
    rgb = np.array([[[200, 100, 50]]], np.uint8)
    caffe = deeplab_v2.normalize_input(rgb, "caffe")[:, 0, 0]
    np.testing.assert_allclose(caffe, [50 - 104.008, 100 - 116.669, 200 - 122.675], rtol=1e-6)
    tv = deeplab_v2.normalize_input(rgb, "torchvision")[:, 0, 0]
    np.testing.assert_allclose(tv, [(200 / 255 - 0.485) / 0.229, (100 / 255 - 0.456) / 0.224,
                                    (50 / 255 - 0.406) / 0.225], rtol=1e-5)
    for norm in ("caffe", "torchvision"):
        pad = np.array([[deeplab_v2.padding_value(norm)]], np.float32)
        x = (pad[..., ::-1] if deeplab_v2.INPUT_NORMS[norm]["bgr"] else pad) - np.float32(
            deeplab_v2.INPUT_NORMS[norm]["mean"])
        np.testing.assert_allclose(x, 0, atol=1e-4)


def _torchvision_resnet(layers, with_fc=True) -> dict:
    """A torchvision-named ResNet state dict (IRN's ResNet uses torchvision's names)."""
    from net import resnet50

    torch.manual_seed(0)
    sd = resnet50.ResNet(resnet50.Bottleneck, layers).state_dict()
    if with_fc:
        sd["fc.weight"], sd["fc.bias"] = torch.randn(1000, 2048), torch.randn(1000)
    return sd


def test_torchvision_resnet101_maps_onto_the_backbone(tmp_path):
    sd = _torchvision_resnet((3, 4, 23, 3))
    path = tmp_path / "resnet101-63fe2227.pth"
    torch.save(sd, path)
    model = deeplab_v2.deeplabv2_resnet101_msc(21)
    aspp = model.base.aspp.c0.weight.clone()
    kind, _ = deeplab_v2.load_init_weights(model, path)
    assert kind == "torchvision"
    base = model.base.state_dict()
    for ours, theirs in (("layer1.conv1.conv.weight", "conv1.weight"),
                         ("layer1.conv1.bn.running_var", "bn1.running_var"),
                         ("layer2.block1.reduce.conv.weight", "layer1.0.conv1.weight"),
                         ("layer4.block23.conv3x3.conv.weight", "layer3.22.conv2.weight"),
                         ("layer5.block3.increase.bn.bias", "layer4.2.bn3.bias"),
                         ("layer3.block1.shortcut.conv.weight", "layer2.0.downsample.0.weight"),
                         ("layer3.block1.shortcut.bn.running_mean", "layer2.0.downsample.1.running_mean")):
        torch.testing.assert_close(base[ours], sd[theirs], rtol=0, atol=0)
    torch.testing.assert_close(model.base.aspp.c0.weight, aspp, rtol=0, atol=0)


def test_caffe_init_loads_into_base_skipping_aspp_and_fc(tmp_path, state_dict_keys):
    shapes = {k[len("base."):]: v for k, v in state_dict_keys["shapes"][KEY].items() if ".aspp." not in k}
    sd = make_state(shapes, {}, 3)
    sd["fc.weight"], sd["fc.bias"] = torch.randn(91, 2048, 1, 1), torch.randn(91)  # the COCO init's DeepLab-v1 head
    path = tmp_path / "deeplabv1_resnet101-coco.pth"
    torch.save(sd, path)
    model = deeplab_v2.deeplabv2_resnet101_msc(21)
    kind, described = deeplab_v2.load_init_weights(model, path)
    assert kind == "caffe" and "fc.weight" in described
    torch.testing.assert_close(model.base.layer5.block2.conv3x3.conv.weight, sd["layer5.block2.conv3x3.conv.weight"],
                               rtol=0, atol=0)
    assert float(model.base.aspp.c1.bias.detach().abs().max()) == 0.0  # left at deeplab-pytorch's initialisation
    del sd["layer3.block2.reduce.conv.weight"]
    torch.save(sd, path)
    with pytest.raises(ValueError, match="lacks 1 backbone tensors"):
        deeplab_v2.load_init_weights(deeplab_v2.deeplabv2_resnet101_msc(21), path)


def test_our_cam_checkpoint_initialises_a_resnet50_deeplab_and_not_a_resnet101(tmp_path):
    from net import resnet50_cam

    cam = resnet50_cam.Net(n_classes=20)
    path = tmp_path / "res50_cam.pth"
    torch.save(cam.state_dict(), path)
    model = deeplab_v2.deeplabv2_msc(21, depth=50)
    assert deeplab_v2.load_init_weights(model, path)[0] == "torchvision"
    torch.testing.assert_close(model.base.layer3.block1.conv3x3.conv.weight, cam.resnet50.layer2[0].conv2.weight)
    with pytest.raises(ValueError, match="lacks"):
        deeplab_v2.load_init_weights(deeplab_v2.deeplabv2_resnet101_msc(21), path)
