"""Inference of the segmentation network: flip averaging, the masks from logits and the dense CRF."""
import numpy as np
import pytest
import torch

import run_sample
from engine import seg_inference
from misc import imutils
from step import make_seg


def test_crf_defaults_are_deeplab_pytorchs():
    args = run_sample.build_parser().parse_args([])
    assert make_seg.crf_params(args) == {"iter_max": 10, "pos_w": 3, "pos_xy_std": 1, "bi_w": 4, "bi_xy_std": 67,
                                         "bi_rgb_std": 3}


def _two_colour_case(seed=0):
    rng = np.random.default_rng(seed)
    img = np.zeros((24, 24, 3), np.uint8)
    img[:, 12:] = 255
    prob = np.zeros((2, 24, 24), np.float32)
    prob[0, :, :12], prob[0, :, 12:] = 0.65, 0.35  # class 0 on the black half, class 1 on the white half
    prob[0] = np.clip(prob[0] + rng.normal(0, 0.2, (24, 24)).astype(np.float32), 0.01, 0.99)
    prob[1] = 1 - prob[0]
    return img, prob


def test_crf_is_pydensecrf_with_the_given_kernels():
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_softmax

    img, prob = _two_colour_case()
    d = dcrf.DenseCRF2D(24, 24, 2)
    d.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(prob)))
    d.addPairwiseGaussian(sxy=1, compat=3)
    d.addPairwiseBilateral(sxy=67, srgb=3, rgbim=img, compat=4)
    expected = np.asarray(d.inference(10)).reshape(2, 24, 24)
    np.testing.assert_allclose(imutils.crf_inference_prob(img, prob), expected, rtol=0, atol=0)


def test_crf_snaps_noisy_labels_to_the_colour_edge():
    img, prob = _two_colour_case()
    truth = np.zeros((24, 24), np.int64)
    truth[:, 12:] = 1
    raw_errors = int((prob.argmax(0) != truth).sum())
    crf_errors = int((imutils.crf_inference_prob(img, prob).argmax(0) != truth).sum())
    assert raw_errors > 20 and crf_errors < raw_errors // 4


def test_masks_from_logits_upsample_then_argmax():
    logit = np.zeros((3, 2, 2), np.float32)
    logit[2, 0, 0] = logit[1, 1, 1] = 5.0
    img = np.zeros((8, 8, 3), np.uint8)
    raw, refined = seg_inference.masks_from_logits(img, logit, None)
    assert refined is None and raw.shape == (8, 8) and raw.dtype == np.uint8
    assert raw[0, 0] == 2 and raw[7, 7] == 1 and set(np.unique(raw)) <= {0, 1, 2}


def test_flip_averages_the_mirrored_prediction():
    torch.manual_seed(0)
    net = torch.nn.Conv2d(3, 4, 3, padding=1).eval()
    x = torch.randn(1, 3, 8, 10)
    with torch.no_grad():
        got = seg_inference.predict_logits(net, x, (1.0,), flip=True)
        expected = (net(x) + net(x.flip(-1)).flip(-1))[0] / 2
        torch.testing.assert_close(got, expected)
        single = seg_inference.predict_logits(net, x, (1.0, 0.5), flip=False)
        half = torch.nn.functional.interpolate(net(torch.nn.functional.interpolate(x, scale_factor=0.5,
                                                                                   mode="bilinear")),
                                               size=(8, 10), mode="bilinear")
        torch.testing.assert_close(single, (net(x) + half)[0] / 2)


def test_released_checkpoint_without_meta_assumes_caffe_inputs(tmp_path, capsys):
    from net import deeplab_v2

    weights = tmp_path / "deeplabv2_resnet101_msc-vocaug-20000.pth"
    torch.save(deeplab_v2.deeplabv2_msc(21, depth=50).state_dict(), weights)
    depth, norm, checkpoint = seg_inference.seg_model_settings(str(weights), 50, "auto")
    model = seg_inference.build_seg_model(21, depth, str(checkpoint))
    assert norm == "caffe" and not model.training and "assuming Caffe" in capsys.readouterr().out
    (tmp_path / f"{weights.name}.json").write_text('{"depth": 50, "input_norm": "torchvision"}')
    assert seg_inference.seg_model_settings(str(weights), 101, "auto")[:2] == (50, "torchvision")
    assert seg_inference.seg_model_settings(str(weights), 101, "caffe")[1] == "caffe"
    from misc.errors import PipelineError
    with pytest.raises(PipelineError, match="head does not fit"):
        seg_inference.build_seg_model(81, depth, str(checkpoint))


def test_the_present_labels_crf_equals_the_full_one_when_every_class_is_present_and_keeps_class_ids():
    from cli.config import step_settings
    from engine.seg_inference import crf_labels
    from step.make_seg import crf_params

    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    logits = rng.normal(size=(6, 24, 32)).astype(np.float32)
    prob = np.exp(logits) / np.exp(logits).sum(0)
    full = crf_params(step_settings("make_seg"))
    present = crf_params(step_settings("make_seg", seg_crf_labels="present"))
    assert "labels" not in full and present["labels"] == "present"  # the official CRF's record is unchanged
    np.testing.assert_array_equal(crf_labels(img, prob, present), crf_labels(img, prob, full))
    wide = np.full((21, 24, 32), 1e-6, np.float32)  # 21 classes, only 0, 7 and 15 in the image
    wide[[0, 7, 15]] = prob[:3]
    wide /= wide.sum(0)
    refined = crf_labels(img, wide, present)
    assert set(np.unique(refined)) <= {0, 7, 15}
    assert (refined == crf_labels(img, wide, full)).mean() > 0.99
