"""Joint transforms: one chain per dataset, the official random-number use, image and label kept aligned."""
import random

import numpy as np
import torch

from dataset import transforms as T
from dataset.spec import IGNORE
from misc import imutils


def _pair(h=20, w=30):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    label = (np.arange(h * w).reshape(h, w) % 7).astype(np.uint8)
    return img, label


def test_compose_applies_in_order_and_passes_the_label_through():
    calls = []

    def mark(tag):
        def t(image, label):
            calls.append(tag)
            return image + 1, label
        return t

    image, label = T.Compose([mark("a"), mark("b")])(np.zeros(1), "L")
    assert calls == ["a", "b"] and image[0] == 2 and label == "L"


def test_irn_augmentation_from_the_official_arguments():
    chain = T.irn_augmentation((320, 640), (0.5, 1.5), T.TorchvisionNormalize(), True, 512, "random")
    assert repr(chain) == ("Compose([RandomResizeLong(320, 640), RandomScale((0.5, 1.5)), Normalize(), "
                           "RandomHorizontalFlip(), RandomCrop(512), ToCHW()])")
    # crop_method None with a crop size is the top-left crop (train_cam's validation), "none" no crop.
    assert "TopLeftCrop(64)" in repr(T.irn_augmentation(crop_size=64, crop_method=None))
    assert repr(T.irn_augmentation(crop_size=64, crop_method="none", to_chw=False)) == "Compose([])"


def test_the_chain_draws_as_the_official_sequence_of_helpers():
    """Seeded alike, the chain gives exactly what IRN's dataset code computes step by step."""
    img, label = _pair()
    normal = T.TorchvisionNormalize()
    random.seed(5)
    got_img, got_label = T.irn_augmentation(None, (0.9, 1.3), normal, True, 16, "random")(img, label)
    random.seed(5)
    ref_img, ref_label = imutils.random_scale((img, label), scale_range=(0.9, 1.3), order=(3, 0))
    ref_img = normal(ref_img)
    ref_img, ref_label = imutils.random_lr_flip((ref_img, ref_label))
    ref_img, ref_label = imutils.random_crop((ref_img, ref_label), 16, (0, IGNORE))
    np.testing.assert_array_equal(got_img, imutils.HWC_to_CHW(ref_img))
    np.testing.assert_array_equal(got_label, ref_label)


def test_a_random_crop_cuts_image_and_label_at_one_window_and_pads_the_label_with_255():
    img, label = _pair(10, 12)
    coded = np.dstack([np.arange(1, 121).reshape(10, 12).astype(np.float32)] * 3)  # 0 only where padded
    random.seed(1)
    crop_img, crop_label = T.RandomCrop(16)(coded, label)
    inside = crop_img[..., 0] > 0
    # Where the image landed, the label is the label at the same source pixel; elsewhere 255.
    src = crop_img[..., 0][inside].astype(int) - 1
    assert inside.sum() == 120
    np.testing.assert_array_equal(crop_label[inside], label.reshape(-1)[src])
    assert (crop_label[~inside] == IGNORE).all()


def test_deeplab_augmentation_flips_tensor_and_label_together():
    img = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(2, 4, 6)
    label = np.arange(24, dtype=np.uint8).reshape(4, 6)
    for seed in range(6):
        random.seed(seed)
        out_img, out_label = T.deeplab_augmentation((1.0,), 4, flip=True)(img, label)
        # Channel 0 of the image equals the label's values at every pixel: they moved together.
        np.testing.assert_array_equal(out_img[0].numpy().astype(np.uint8), out_label)
    assert repr(T.deeplab_augmentation((0.5, 1.0), 8, flip=False)) == (
        "Compose([DeeplabRescale((0.5, 1.0)), PadRandomCrop(8)])")


def test_multi_scale_flip_pairs_stack_each_scale_with_its_mirror():
    img, _ = _pair(8, 10)
    pairs, _ = T.MultiScaleFlipPairs((1.0, 0.5), T.TorchvisionNormalize())(img)
    assert [p.shape for p in pairs] == [(2, 3, 8, 10), (2, 3, 4, 5)]
    np.testing.assert_array_equal(pairs[0][1], pairs[0][0][..., ::-1])
