"""The training steps' optimizers: deeplab-pytorch's three groups and poly schedule, the init-weights check."""
import pytest

from cli.config import step_settings
from engine import optim
from net import deeplab_v2


def _defaults(**overrides):
    return step_settings("train_seg", **overrides)


def test_optimizer_groups_get_1x_10x_20x_and_the_bias_group_no_decay():
    args = _defaults(seg_lr=1e-3, seg_iter_max=100)
    opt = optim.seg_optimizer(deeplab_v2.deeplabv2_msc(3, depth=50), args.seg_lr, args.seg_weight_decay,
                                  args.seg_momentum)
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 1e-2, 2e-2]
    assert [g["weight_decay"] for g in opt.param_groups] == [5e-4, 5e-4, 0.0]
    assert opt.defaults["momentum"] == 0.9
    optim.set_seg_learning_rate(opt, 21, args.seg_lr, (args.seg_iter_max, args.seg_poly_power, args.seg_lr_decay))
    scale = (1 - 20 / 100) ** 0.9
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1e-3 * scale, 1e-2 * scale, 2e-2 * scale])


def test_missing_init_weights_error_says_what_to_put_where(tmp_path):
    from misc.errors import PipelineError

    with pytest.raises(PipelineError, match="deeplabv1_resnet101-imagenet.pth"):
        optim.check_seg_init(_defaults().seg_init_weights)
    with pytest.raises(PipelineError, match="does not exist.*resnet101-63fe2227.pth"):
        optim.check_seg_init(str(tmp_path / "nope.pth"))
