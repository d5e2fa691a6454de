"""CUDA checks (skipped without a GPU; bench/gpu_check.sh runs them on one)."""
import json

import numpy as np
import pytest
import torch

import run_sample
from helpers import pipeline_argv, run_ddp

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _cam_net():
    from net import resnet50_cam
    return resnet50_cam.CAM(), torch.rand(2, 3, 96, 128)


def _deeplab_net():
    from net import deeplab_v2
    return deeplab_v2.deeplabv2_msc(21, depth=50), torch.randn(1, 3, 65, 81)


@pytest.mark.parametrize("build", [_cam_net, _deeplab_net], ids=["cam", "deeplab_v2"])
def test_forward_on_cuda_matches_cpu(build):
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)
    net, x = build()
    net.eval()
    with torch.inference_mode():
        cpu = net(x)
        gpu = net.cuda()(x.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-4, atol=1e-4)


def test_random_walk_on_cuda_matches_cpu():
    from misc import indexing

    g = torch.Generator().manual_seed(0)
    edge, x = torch.rand(1, 24, 32, generator=g) ** 3, torch.rand(2, 24, 32, generator=g)
    cpu = indexing.propagate_to_edge(x, edge, exp_times=6)
    gpu = indexing.propagate_to_edge(x.cuda(), edge.cuda(), exp_times=6).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("extra", [[], ["--amp", "True"], ["--amp", "True", "--channels_last", "True"]])
def test_pipeline_on_cuda(toy, tmp_path, extra):
    passes = [x for flag, _ in run_sample.STEPS for x in (f"--{flag}", "True")]
    argv = pipeline_argv(toy, tmp_path, *passes, *extra)
    argv[argv.index("--device") + 1] = "cuda"
    run_sample.main(argv)
    rec = json.loads((tmp_path / "result" / "sem_seg.json").read_text())
    assert 0 <= rec["miou"] <= 1 and np.isfinite(rec["miou"])


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
def test_nccl_ddp_equals_one_process(toy, tmp_path):
    from helpers import fake_imagenet_weights

    init = fake_imagenet_weights(tmp_path / "imagenet.pth")
    out = {}
    for mode in ("one", "ddp"):
        argv = pipeline_argv(toy, tmp_path, "--backbone_weights", init, "--train_cam_pass", "True",
                             "--cam_weights_name", str(tmp_path / f"{mode}.pth"))
        argv[argv.index("--device") + 1] = "cuda"
        run_sample.main(argv) if mode == "one" else run_ddp(argv)
        out[mode] = torch.load(tmp_path / f"{mode}.pth", weights_only=True)
    for k, v in out["one"].items():
        if v.is_floating_point():
            torch.testing.assert_close(out["ddp"][k], v, rtol=1e-3, atol=1e-5)
