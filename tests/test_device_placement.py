"""Device placement of every step, checked without a GPU on the stand-in accelerator (standin_device.py):
every network's training step and loss, the make steps, the random walk, instances and seeds run with their
tensors on a device that rejects any op mixing host and device tensors, as CUDA does."""
import json

import numpy as np
import pytest
import torch

import run_sample
import standin_device as sd
from engine import checkpoints, devices
from helpers import fake_imagenet_weights, pipeline_argv
from misc.fileio import save_torch


def test_the_standin_rejects_what_cuda_rejects():
    with sd.standin_accelerator() as device:
        x = torch.rand(3).to(device)
        with pytest.raises(sd.DevicePlacementError, match="logaddexp"):
            torch.logaddexp(x, torch.tensor(-9.2))  # a CPU scalar: CUDA's logaddexp kernel refuses it
        with pytest.raises(sd.DevicePlacementError):
            x + torch.ones(3)
        with pytest.raises(RuntimeError):
            x.numpy()
        assert torch.equal((x * 2).cpu(), x.cpu() * 2)  # arithmetic is real, on the CPU
        logits = torch.randn(2, 3, 4, 4).to(device)
        labels = torch.zeros(2, 4, 4, dtype=torch.long).to(device)
        torch.use_deterministic_algorithms(True)
        try:
            with pytest.raises(sd.NondeterministicOnCuda, match="nll_loss2d"):
                torch.nn.functional.cross_entropy(logits, labels, reduction="sum")
        finally:
            torch.use_deterministic_algorithms(False)


@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["--deterministic", "True", "--seg_loss", "ce"]],
                         ids=["default", "deterministic"])
def test_every_step_runs_on_a_standin_accelerator(toy, tmp_path, monkeypatch, extra):
    init = fake_imagenet_weights(tmp_path / "imagenet.pth")
    monkeypatch.setattr(devices, "parse_devices", lambda name: [sd.STANDIN])
    monkeypatch.setattr(checkpoints, "save_torch", lambda path, obj: save_torch(path, sd.to_host(obj)))
    passes = [x for flag, _ in run_sample.STEPS for x in (f"--{flag}", "True")]
    eight = tmp_path / "eight.txt"  # one batch of 8: placement does not depend on how many images
    eight.write_text("\n".join((toy.meta / "train.txt").read_text().split()[:8]))
    lists = [x for flag in ("train_list", "infer_list", "seg_train_list") for x in (f"--{flag}", str(eight))]
    split = toy.root / "ImageSets/Segmentation/placement8.txt"  # the eval steps score the same eight
    split.write_text(eight.read_text())
    lists += ["--chainer_eval_set", "placement8"]
    argv = pipeline_argv(toy, tmp_path, "--backbone_weights", init, "--amn_backbone_weights", init,
                         "--irn_backbone_weights", init, "--seg_init_weights", init, "--debug", *passes, *extra,
                         *lists)
    before = sd.COUNTS["device_ops"]
    try:
        with sd.standin_accelerator():
            run_sample.main(argv)
    finally:
        torch.use_deterministic_algorithms(False)
    assert sd.COUNTS["device_ops"] - before > 10_000  # the networks, losses and walks ran on the stand-in
    for stage in ("cam", "amn_cam", "sem_seg", "seg"):
        assert 0 <= json.loads((tmp_path / "result" / f"{stage}.json").read_text())["miou"] <= 1
    weights = torch.load(tmp_path / "sess" / "res50_irn.pth", weights_only=True)
    assert all(np.isfinite(v.numpy()).all() for v in weights.values() if v.is_floating_point())
