"""CUDA checks against the CPU (skipped without a GPU; bench/gpu_check.sh runs them on one).

Every network starts from ImageNet-layout frozen-BatchNorm weights (as real runs do) and the pipeline runs with
data workers. Figures go to $GPU_CHECK_OUT/cuda_tests.json when that variable is set.
"""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import run_sample
from engine import seeding
from helpers import fake_imagenet_weights, pipeline_argv, run_ddp
from postprocess import random_walk

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
TWO_GPUS = pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
FIGURES: dict = {}


@pytest.fixture(autouse=True)
def full_fp32():
    """TF32 off (fp32 means fp32 when comparing with the CPU), and the global flags restored afterwards."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    torch.use_deterministic_algorithms(False)


@pytest.fixture(scope="session", autouse=True)
def figures():
    yield FIGURES
    out = os.environ.get("GPU_CHECK_OUT")
    if out and FIGURES:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "cuda_tests.json").write_text(json.dumps(FIGURES, indent=1, default=float))


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory):
    return fake_imagenet_weights(tmp_path_factory.mktemp("imagenet") / "resnet50.pth")


def _networks(imagenet):
    """(name, network in eval mode, its input) for every network, with the ImageNet-layout trunk."""
    from net import deeplab_v2, resnet50, resnet50_amn, resnet50_cam, resnet50_irn

    torch.manual_seed(0)
    cam = resnet50_cam.CAM()
    amn = resnet50_amn.CAM()
    irn = resnet50_irn.EdgeDisplacement(crop_size=128)
    for net in (cam, amn, irn):
        resnet50.load_backbone_weights(net.resnet50, imagenet)
    seg = deeplab_v2.deeplabv2_msc(21, depth=50)
    x = torch.rand(2, 3, 96, 128)
    label = torch.zeros(2, 20)
    label[:, 4] = 1
    return [("cam", cam.eval(), (x,)), ("amn", amn.eval(), (x, label)), ("irn", irn.eval(), (x,)),
            ("deeplab_v2", seg.eval(), (x[:1],))]


def _to(value, device):
    if isinstance(value, torch.Tensor):
        return value.to(device)
    return type(value)(_to(v, device) for v in value)


def test_every_network_forward_on_cuda_matches_cpu(imagenet):
    for name, net, inputs in _networks(imagenet):
        with torch.inference_mode():
            cpu = net(*inputs)
            gpu = _to(net.cuda()(*_to(inputs, "cuda")), "cpu")
        for c, g in zip(cpu if isinstance(cpu, tuple) else (cpu,), gpu if isinstance(gpu, tuple) else (gpu,)):
            assert g.dtype == torch.float32
            torch.testing.assert_close(g, c, rtol=1e-4, atol=1e-4, msg=name)


def test_random_walk_on_cuda_matches_cpu():
    g = torch.Generator().manual_seed(0)
    edge, x = torch.rand(1, 24, 32, generator=g) ** 3, torch.rand(2, 24, 32, generator=g)
    cpu = random_walk.propagate_to_edge(x, edge, exp_times=6)
    gpu = random_walk.propagate_to_edge(x.cuda(), edge.cuda(), exp_times=6).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-4, atol=1e-6)


def _files(out: Path) -> dict:
    arrays = {}
    for p in sorted(out.rglob("*.npz")):
        with np.load(p, allow_pickle=False) as data:
            arrays[p.relative_to(out)] = {k: data[k] for k in data.files if k != "record"}
    return arrays


def _pipeline(toy, out: Path, imagenet, device: str, *extra) -> dict:
    passes = [x for flag, _ in run_sample.STEPS for x in (f"--{flag}", "True")]
    argv = pipeline_argv(toy, out, "--backbone_weights", imagenet, "--amn_backbone_weights", imagenet,
                         "--irn_backbone_weights", imagenet, "--seg_init_weights", imagenet, *passes, *extra)
    argv[argv.index("--device") + 1] = device
    argv[argv.index("--num_workers") + 1] = "2"
    run_sample.main(argv)
    return {stage: json.loads((out / "result" / f"{stage}.json").read_text())["miou"]
            for stage in ("cam", "amn_cam", "sem_seg", "seg")}


@pytest.fixture(scope="module")
def cpu_run(toy, tmp_path_factory, imagenet):
    out = tmp_path_factory.mktemp("cpu")
    return out, _pipeline(toy, out, imagenet, "cpu")


@pytest.mark.parametrize("extra", [[], ["--amp", "True"], ["--amp", "True", "--channels_last", "True"]],
                         ids=["fp32", "bf16", "bf16_channels_last"])
def test_pipeline_on_cuda_matches_the_cpu(toy, tmp_path, imagenet, cpu_run, extra):
    cpu_out, cpu_miou = cpu_run
    miou = _pipeline(toy, tmp_path, imagenet, "cuda", *extra)
    key = "cuda_" + ("_".join(extra[::2]).replace("--", "") or "fp32")
    FIGURES.setdefault("toy_miou", {"cpu_fp32": cpu_miou})[key] = miou
    tolerance = 0.02 if not extra else 0.05
    for stage in ("cam", "amn_cam", "sem_seg"):
        assert abs(miou[stage] - cpu_miou[stage]) <= tolerance, (stage, miou, cpu_miou)
    cpu_cams, gpu_cams = _files(cpu_out / "result" / "cam"), _files(tmp_path / "result" / "cam")
    worst = max(float(np.abs(gpu_cams[k]["high_res"] - v["high_res"]).max()) for k, v in cpu_cams.items())
    FIGURES.setdefault("cam_max_abs_diff_vs_cpu", {})[key] = worst
    assert all(v["high_res"].dtype == np.float32 for v in gpu_cams.values())
    assert worst < (0.01 if not extra else 0.1)


def test_deterministic_cuda_training_repeats_exactly(toy, tmp_path, imagenet):
    """--deterministic runs every training step on CUDA (nothing raises) and repeats bit for bit."""
    weights = []
    for run in ("a", "b"):
        argv = pipeline_argv(toy, tmp_path / run, "--backbone_weights", imagenet, "--amn_backbone_weights", imagenet,
                             "--irn_backbone_weights", imagenet, "--seg_init_weights", imagenet,
                             "--deterministic", "True", "--seg_loss", "ce", "--amn_eval_every_epoch", "False",
                             *[x for s in ("train_cam", "make_cam", "cam_to_ir_label", "train_amn",
                                           "make_amn_cam", "amn_cam_to_ir_label", "train_irn", "make_sem_seg",
                                           "train_seg") for x in (f"--{s}_pass", "True")])
        argv[argv.index("--device") + 1] = "cuda"
        run_sample.main(argv)
        weights.append({n: torch.load(tmp_path / run / "sess" / n, weights_only=True)
                        for n in ("res50_cam.pth", "res50_amn.pth", "res50_irn.pth", "deeplab.pth")})
    for name, sd in weights[0].items():
        assert all(torch.equal(v, weights[1][name][k]) for k, v in sd.items()), name


def test_resume_restores_the_cuda_generator():
    torch.cuda.manual_seed_all(7)
    torch.rand(3, device="cuda")
    saved = seeding.rng_states()
    expected = torch.rand(5, device="cuda")
    torch.rand(11, device="cuda")
    seeding.restore_rng_states(saved)
    assert torch.equal(torch.rand(5, device="cuda"), expected)


@TWO_GPUS
def test_two_gpu_inference_spawn_matches_one_gpu(toy, tmp_path, imagenet):
    """--device cuda on 2 GPUs spawns a worker per GPU (the path a plain run takes); outputs match one GPU."""
    base = tmp_path / "base"
    argv = pipeline_argv(toy, base, "--backbone_weights", imagenet, "--train_cam_pass", "True")
    argv[argv.index("--device") + 1] = "cuda:0"
    run_sample.main(argv)
    outs = {}
    for device in ("cuda:0", "cuda"):
        out = tmp_path / device.replace(":", "")
        argv = pipeline_argv(toy, base, "--make_cam_pass", "True", "--cam_out_dir", str(out))
        argv[argv.index("--device") + 1] = device
        argv[argv.index("--num_workers") + 1] = "2"
        run_sample.main(argv)
        outs[device] = _files(out)
    assert set(outs["cuda"]) == set(outs["cuda:0"]) and outs["cuda"]
    for k, v in outs["cuda:0"].items():
        np.testing.assert_allclose(outs["cuda"][k]["high_res"], v["high_res"], rtol=1e-5, atol=1e-6)


@TWO_GPUS
@pytest.mark.parametrize("step,weights", [("train_cam", "res50_cam.pth"), ("train_amn", "res50_amn.pth"),
                                          ("train_irn", "res50_irn.pth"), ("train_seg", "deeplab.pth")])
def test_nccl_ddp_equals_one_process(toy, tmp_path_factory, imagenet, step, weights):
    base = tmp_path_factory.getbasetemp() / "nccl_base"
    common = ["--backbone_weights", imagenet, "--amn_backbone_weights", imagenet, "--irn_backbone_weights", imagenet,
              "--seg_init_weights", imagenet, "--irn_seeds", "cam", "--amn_eval_every_epoch", "False"]
    if not (base / "result" / "sem_seg").is_dir():
        argv = pipeline_argv(toy, base, *common, *[x for s in ("train_cam", "make_cam", "cam_to_ir_label",
                                                               "train_irn", "make_sem_seg")
                                                   for x in (f"--{s}_pass", "True")])
        argv[argv.index("--device") + 1] = "cuda:0"
        run_sample.main(argv)
    out = {}
    for mode in ("one", "ddp"):
        target = tmp_path_factory.mktemp(mode) / weights
        argv = pipeline_argv(toy, base, *common, f"--{step}_pass", "True",
                             f"--{step.split('_')[1]}_weights_name", str(target))
        argv[argv.index("--device") + 1] = "cuda"
        run_sample.main(argv) if mode == "one" else run_ddp(argv)
        out[mode] = torch.load(target, weights_only=True)
    for k, v in out["one"].items():
        if v.is_floating_point():
            torch.testing.assert_close(out["ddp"][k], v, rtol=1e-3, atol=1e-4, msg=f"{step} {k}")
