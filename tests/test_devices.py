"""The GPU paths, exercised on the CPU: the multi-device spawn path (``--device cpu,cpu``) and bfloat16
autocast (``--amp True``) through the real make steps, against one process in float32."""
import numpy as np
import pytest
import torch
from PIL import Image

import run_sample
from engine import losses
from helpers import fake_imagenet_weights, passive_openmp, pipeline_argv

MAKE_STEPS = ("--make_cam_pass", "--make_amn_cam_pass", "--make_ins_seg_pass", "--make_sem_seg_pass", "--make_seg_pass")


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    """Every network trained once (ImageNet-layout frozen BatchNorm, as with real weights), with its
    upstream outputs, in one process in float32."""
    base = tmp_path_factory.mktemp("devices")
    init = fake_imagenet_weights(base / "imagenet.pth")
    steps = ("train_cam", "make_cam", "cam_to_ir_label", "train_amn", "make_amn_cam", "amn_cam_to_ir_label",
             "train_irn", "make_sem_seg", "train_seg")
    run_sample.main(_argv(toy, base, base / "result", init, *[x for s in steps for x in (f"--{s}_pass", "True")]))
    return base, init


def _argv(toy, base, out, init, *extra):
    """Flags that read the shared weights and seeds of ``base`` and write the make steps' outputs to ``out``."""
    argv = pipeline_argv(toy, base, "--backbone_weights", init, "--amn_backbone_weights", init,
                         "--irn_backbone_weights", init, "--seg_init_weights", init, "--amn_eval_every_epoch", "False",
                         *extra)
    for flag, sub in (("--cam_out_dir", "cam"), ("--amn_cam_out_dir", "amn_cam"), ("--sem_seg_out_dir", "sem_seg"),
                      ("--sem_seg_map_dir", "sem_seg_maps"),
                      ("--ins_seg_out_dir", "ins_seg"), ("--seg_out_dir", "seg"), ("--result_dir", "")):
        argv[argv.index(flag) + 1] = str(out / sub)
    return argv


def _make(toy, trained, out, *extra):
    base, init = trained
    # The make steps after make_amn_cam read its maps and seeds from ``out``; the seeds come from ``base``.
    argv = _argv(toy, base, out, init, *[x for s in MAKE_STEPS for x in (s, "True")], *extra)
    run_sample.main(argv)
    return out


def _arrays(path):
    if path.suffix == ".png":
        return {"png": np.asarray(Image.open(path))}
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files if k != "record"}


def _outputs(out):
    files = sorted(p for p in out.rglob("*") if p.suffix in (".npz", ".png") and p.parent.name != "report")
    return {p.relative_to(out): _arrays(p) for p in files}


@pytest.mark.slow
def test_two_listed_cpu_workers_write_what_one_process_writes(toy, trained, tmp_path):
    """--device cpu,cpu spawns one worker per device, as on a 2-GPU machine, and changes no output bit,
    with AMN's dropout left on at inference (each image draws from its own seed)."""
    names = tmp_path / "four.txt"  # two oversubscribed CPU workers are slow: a short list (two images each)
    names.write_text("\n".join((toy.meta / "train.txt").read_text().split()[:4]))
    lists = ("--train_list", str(names), "--infer_list", str(names), "--amn_dropout_at_inference", "True")
    one = _outputs(_make(toy, trained, tmp_path / "one", *lists))
    with passive_openmp():
        two = _outputs(_make(toy, trained, tmp_path / "two", *lists, "--device", "cpu,cpu"))
    # cam, amn_cam, ins_seg, sem_seg, sem_seg_maps; seg logit/raw/crf
    assert set(one) == set(two) and len(one) == 5 * 4 + 3 * 4
    for rel, arrays in one.items():
        for key, value in arrays.items():
            np.testing.assert_array_equal(two[rel][key], value, err_msg=f"{rel}:{key}")


@pytest.mark.slow
def test_bf16_inference_writes_float32_maps_close_to_fp32(toy, trained, tmp_path):
    fp32 = _outputs(_make(toy, trained, tmp_path / "fp32"))
    bf16 = _outputs(_make(toy, trained, tmp_path / "bf16", "--amp", "True"))
    assert set(fp32) == set(bf16)
    agreement = []
    for rel, arrays in fp32.items():
        for key, value in arrays.items():
            other = bf16[rel][key]
            assert other.dtype == value.dtype and other.shape == value.shape, f"{rel}:{key}"
            if rel.parts[0] in ("cam", "amn_cam") and key in ("cam", "high_res"):
                assert value.dtype == np.float32
                # Normalised maps in [0, 1]: the bfloat16 trunk moves them by a few hundredths at most.
                assert np.abs(other - value).max() < 0.08, f"{rel}:{key}"
            elif key == "png" and rel.parts[0] == "sem_seg":
                agreement.append((other == value).mean())
    assert np.mean(agreement) > 0.97


def _batch(n=2, size=64, classes=20):
    g = torch.Generator().manual_seed(0)
    img = torch.randn(n, 3, size, size, generator=g)
    label = torch.zeros(n, classes)
    label[:, [3, 11]] = 1
    return img, label


def _loss_pair(loss_fn) -> tuple[float, float]:
    """The same loss in float32 and under bfloat16 autocast on the CPU."""
    torch.manual_seed(0)
    fp32 = loss_fn()
    torch.manual_seed(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = loss_fn()
    assert bf16.dtype == torch.float32
    return fp32.item(), bf16.item()


def _cam_loss():
    from net import resnet50_cam

    torch.manual_seed(1)
    net = resnet50_cam.Net().train()
    img, label = _batch()
    return lambda: torch.nn.functional.multilabel_soft_margin_loss(net(img), label)


def _amn_loss():
    from net import resnet50_amn
    torch.manual_seed(1)
    net = resnet50_amn.Net().eval()  # no dropout: both runs see one network
    img, label = _batch()
    seeds = torch.zeros(2, 4, 4, dtype=torch.long)
    seeds[:, 1:3, 1:3] = 4

    def loss():
        logit = net(img, label)
        return losses.balanced_soft_cross_entropy(logit, seeds, losses.smoothed_target(seeds, 21, 0.4))
    return loss


def _irn_loss():
    from misc import indexing
    from net import resnet50_irn
    torch.manual_seed(1)
    path_index = indexing.PathIndex(radius=10, default_size=(24, 24))
    net = resnet50_irn.AffinityDisplacementLoss(path_index).train()
    img, _ = _batch(size=96)
    g = torch.Generator().manual_seed(2)
    n_pairs = len(path_index.dst_indices), len(path_index.src_indices)
    pack = {k: (torch.rand((2,) + n_pairs, generator=g) < 0.3).to(torch.uint8)
            for k in ("aff_bg_pos_label", "aff_fg_pos_label", "aff_neg_label")}
    return lambda: losses.irn_losses(net(img, True), pack, "cpu")[0]


def _seg_loss():
    from net import deeplab_v2
    torch.manual_seed(1)
    net = deeplab_v2.deeplabv2_msc(21, depth=50).train()
    net.base.freeze_bn()
    img, _ = _batch(size=48)
    labels = torch.zeros(2, 48, 48, dtype=torch.long)
    labels[:, 10:30, 10:30] = 5
    return lambda: losses.msc_loss(net(img), labels, "balanced")


@pytest.mark.parametrize("make_loss", [_cam_loss, _amn_loss, _irn_loss, _seg_loss],
                         ids=["train_cam", "train_amn", "train_irn", "train_seg"])
def test_bf16_training_losses_are_finite_float32_and_close_to_fp32(make_loss):
    fp32, bf16 = _loss_pair(make_loss())
    assert np.isfinite(bf16) and bf16 == pytest.approx(fp32, rel=0.03)
