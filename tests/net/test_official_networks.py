"""Our networks against the official ones (gaviotas/AMN voc12 and coco14 branches) on the same deterministic
weights: tests/data/network_<branch>.npz, made by tests/data/make_network_goldens.py."""
import numpy as np
import pytest
import torch

from goldens import load_det, network_golden
from misc import indexing
from net import resnet50_amn, resnet50_cam, resnet50_irn

ATOL = 2e-5


@pytest.fixture(scope="module")
def voc():
    return network_golden("voc12")


@pytest.fixture(scope="module")
def coco():
    return network_golden("coco14")


def _pair(x: np.ndarray) -> torch.Tensor:
    img = torch.from_numpy(x[0])
    return torch.stack([img, img.flip(-1)])


def test_cam_network_logits_match_official(voc):
    net = load_det(resnet50_cam.Net(n_classes=20), "res50_cam").eval()
    with torch.no_grad():
        out = net(torch.from_numpy(voc["input"]))
    np.testing.assert_allclose(out.numpy(), voc["cam/net_logits"], atol=ATOL)


@pytest.mark.parametrize("branch,n_classes,ckpt", [("voc12", 20, "res50_cam"), ("coco14", 80, "res50_cam_coco")])
def test_cam_maps_of_an_image_and_its_flip_match_official(branch, n_classes, ckpt):
    golden = network_golden(branch)
    net = load_det(resnet50_cam.CAM(n_classes=n_classes), ckpt, branch).eval()
    with torch.no_grad():
        out = net(_pair(golden["input"]))
    assert out.shape == (n_classes, 4, 4) and (out > 0).any()
    np.testing.assert_allclose(out.numpy(), golden["cam/cam"], atol=ATOL)


@pytest.mark.parametrize("branch,n_classes,ckpt", [("voc12", 20, "res50_amn"), ("coco14", 80, "res50_amn_coco")])
def test_amn_net_is_conditioned_on_the_label_as_the_official_one(branch, n_classes, ckpt):
    golden = network_golden(branch)
    net = load_det(resnet50_amn.Net(n_classes=n_classes), ckpt, branch).eval()
    x, label = torch.from_numpy(golden["input"]), torch.from_numpy(golden["label_cls"])
    with torch.no_grad():
        out = net(x, label)
        other = net(x, torch.flip(label, [0]))
    np.testing.assert_allclose(out.numpy(), golden["amn/net_logits"], atol=ATOL)
    # the two images carry different labels: swapping them changes each image's logits
    assert not np.allclose(other.numpy(), golden["amn/net_logits"], atol=1e-3)


@pytest.mark.parametrize("branch,n_classes,ckpt", [("voc12", 20, "res50_amn"), ("coco14", 80, "res50_amn_coco")])
def test_amn_cam_averages_an_image_and_its_flip_as_the_official_one(branch, n_classes, ckpt):
    golden = network_golden(branch)
    net = load_det(resnet50_amn.CAM(n_classes=n_classes), ckpt, branch).eval()
    label = torch.from_numpy(golden["label_cls"][:1]).expand(2, n_classes)
    with torch.no_grad():
        out = net(_pair(golden["input"]), label)
    np.testing.assert_allclose(out.numpy(), golden["amn/cam"], atol=ATOL)


def test_irn_affinity_displacement_loss_terms_match_official(voc):
    path_index = indexing.PathIndex(radius=10, default_size=(24, 24))
    net = load_det(resnet50_irn.AffinityDisplacementLoss(path_index), "res50_irn").train()
    x = torch.from_numpy(voc["irn/input"])
    with torch.no_grad():
        terms = net(x, True)
        edge, dp = net(x, False)
    for name, t in zip(("pos_aff_loss", "neg_aff_loss", "dp_fg_loss", "dp_bg_loss"), terms):
        np.testing.assert_allclose(t.numpy(), voc[f"irn/{name}"], atol=ATOL, err_msg=name)
    np.testing.assert_allclose(edge.numpy(), voc["irn/train_edge"], atol=ATOL)
    np.testing.assert_allclose(dp.numpy(), voc["irn/train_dp"], atol=ATOL)


def test_irn_edge_displacement_matches_official(voc):
    net = load_det(resnet50_irn.EdgeDisplacement(crop_size=96, stride=4), "res50_irn").eval()
    img = torch.from_numpy(voc["irn/infer_input"])
    with torch.no_grad():
        edge, dp = net(torch.stack([img, img.flip(-1)]))
    np.testing.assert_allclose(edge.numpy(), voc["irn/infer_edge"], atol=ATOL)
    np.testing.assert_allclose(dp.numpy(), voc["irn/infer_dp"], atol=ATOL)
