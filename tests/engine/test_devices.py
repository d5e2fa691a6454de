"""Devices, ranks, loader workers, kernels and per-image seeds."""
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import devices, inference, precision, seeding

REPO = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _fake_gpus(monkeypatch, count: int) -> None:
    """torch.cuda as a machine with ``count`` visible GPUs would answer (device names only)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)



@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_loader_workers_die_within_seconds_of_a_killed_step():
    script = (
        "import time\n"
        "from torch.utils.data import DataLoader, Dataset\n"
        "from engine.inference import init_worker\n"
        "class Slow(Dataset):\n"
        "    def __len__(self): return 1000\n"
        "    def __getitem__(self, i): time.sleep(6); return i\n"
        "it = iter(DataLoader(Slow(), num_workers=2, worker_init_fn=init_worker))\n"
        "time.sleep(1); print('ready', flush=True); next(it)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.readline().strip() == "ready"
    workers = _children(proc.pid)
    assert len(workers) >= 2
    proc.kill()
    proc.wait()
    deadline = time.time() + 2
    while time.time() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.1)
    alive = [w for w in workers if Path(f"/proc/{w}/stat").exists()
             and (Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z")]
    assert alive == []


def test_ranks_share_by_place_in_the_full_list(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "1")
    assert devices.rank_share(list(range(8))) == [1, 4, 7]
    # pending outputs 0, 2, 3, 5: the rank's share does not depend on which others are done
    assert devices.rank_share([0, 2, 3, 5]) == []
    assert devices.rank_share([0, 1, 2, 3, 4]) == [1, 4]
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert devices.rank_share([0, 1, 2]) == [0, 1, 2]


def test_device_lists_name_one_worker_each():
    assert devices.parse_devices("cpu,cpu") == [torch.device("cpu")] * 2
    assert devices.parse_devices(" cpu ") == [torch.device("cpu")]


def test_cuda_and_auto_stand_for_every_visible_gpu(monkeypatch):
    _fake_gpus(monkeypatch, 3)
    every = [torch.device("cuda", i) for i in range(3)]
    assert devices.parse_devices("cuda") == every and devices.parse_devices("auto") == every
    assert devices.parse_devices("cuda:2,cuda:0") == [torch.device("cuda", 2), torch.device("cuda", 0)]
    with pytest.raises(RuntimeError, match="3 visible GPUs"):
        devices.parse_devices("cuda:3")


def test_auto_without_cuda_is_the_cpu_and_cuda_without_it_an_error(monkeypatch):
    _fake_gpus(monkeypatch, 0)
    assert devices.parse_devices("auto") == [torch.device("cpu")]
    with pytest.raises(RuntimeError, match="no CUDA device"):
        devices.parse_devices("cuda:0")
    with pytest.raises(ValueError, match="not a device"):
        devices.parse_devices("gpu0")


@pytest.mark.parametrize("name,local_rank,local_world,visible,expected", [
    ("cuda", 3, 4, 4, "cuda:3"),
    ("auto", 5, 8, 4, "cuda:1"),
    ("cuda", 3, 4, 1, "cuda:0"),           # SLURM --gpus-per-task=1: each process sees its own GPU as 0
    ("cuda:0", 0, 1, 4, "cuda:0"),
    ("cuda:0,cuda:2", 1, 2, 4, "cuda:2"),
    ("cpu", 1, 2, 0, "cpu"),
])
def test_the_device_of_a_rank(monkeypatch, name, local_rank, local_world, visible, expected):
    _fake_gpus(monkeypatch, visible)
    assert devices.rank_device(name, local_rank, local_world) == torch.device(expected)


def test_one_explicit_gpu_for_several_local_ranks_is_refused(monkeypatch):
    _fake_gpus(monkeypatch, 2)
    with pytest.raises(RuntimeError, match="all 2 local ranks on one GPU"):
        devices.rank_device("cuda:0", 1, 2)


def test_default_workers_scale_with_cores_and_local_processes(monkeypatch):
    _fake_gpus(monkeypatch, 0)
    assert devices.default_workers("cpu", cores=2) == 1
    assert devices.default_workers("auto", cores=64) == 4  # the CPU also runs the network
    _fake_gpus(monkeypatch, 8)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    assert devices.default_workers("cuda", cores=64) == 8
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert devices.default_workers("auto", cores=64) == 16


def test_configure_kernels_leaves_tf32_to_pytorch_unless_told(monkeypatch):
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = False, True
        precision.configure_kernels(False, None)
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (False, True)
        precision.configure_kernels(False, False)
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (False, False)
        precision.configure_kernels(False, True)
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (True, True)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_image_seeds_depend_on_seed_and_name_only():
    assert seeding.image_seed(0, "2007_000032") == seeding.image_seed(0, "2007_000032")
    assert len({seeding.image_seed(s, n) for s in (0, 1) for n in ("a", "b", "ab")}) == 6


def test_worker_setup_travels_to_spawned_workers():
    import pickle

    setup = inference.WorkerSetup(seed=3, deterministic=False, tf32=None, threads=2)
    assert pickle.loads(pickle.dumps(setup)) == setup


def test_under_torchrun_each_rank_reads_only_its_share_of_the_outputs(tmp_path, monkeypatch, capsys):
    from engine import planner
    from misc import fileio

    names = [f"im{i}" for i in range(10)]
    for name in names[:5]:
        fileio.save_png(tmp_path / f"{name}.png", np.zeros((2, 2), np.uint8), record="old")
    read = []
    monkeypatch.setattr(planner, "read_record", lambda p: read.append(p.stem) or fileio.read_record(p))
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "1")
    _, todo = planner.plan_outputs("make_x", tmp_path, names, ".png", {"step": "make_x"}, overwrite=False)
    assert todo == [1, 4, 7] and read == ["im1", "im4"]  # im7 does not exist: not read; no other rank's file
    assert "(rank 1's share of 10)" in capsys.readouterr().out
