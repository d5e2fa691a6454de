import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from misc import torchutils

REPO = Path(__file__).resolve().parents[2]


def test_poly_optimizer_schedule_and_official_momentum_quirk():
    w = torch.nn.Parameter(torch.ones(1))
    opt = torchutils.PolyOptimizer([{"params": [w], "lr": 0.1, "weight_decay": 1e-4}], lr=0.1, weight_decay=1e-4,
                                   max_step=10)
    # The official SGD(params, lr, weight_decay) call passes weight_decay as momentum.
    assert opt.param_groups[0]["momentum"] == 1e-4
    seen = []
    for _ in range(12):
        w.grad = torch.ones(1)
        opt.step()
        seen.append(opt.param_groups[0]["lr"])
    expected = [0.1 * (1 - k / 10) ** 0.9 for k in range(10)]
    assert seen[:10] == pytest.approx(expected)
    assert seen[10:] == pytest.approx([expected[-1]] * 2)  # past max_step the rate stays where it was


def test_poly_optimizer_state_round_trips():
    w = torch.nn.Parameter(torch.ones(1))
    opt = torchutils.PolyOptimizer([{"params": [w], "lr": 0.1, "weight_decay": 0}], 0.1, 0, max_step=5)
    w.grad = torch.ones(1)
    opt.step()
    other = torchutils.PolyOptimizer([{"params": [w], "lr": 0.1, "weight_decay": 0}], 0.1, 0, max_step=99)
    other.load_state_dict(opt.state_dict())
    assert (other.global_step, other.max_step) == (1, 5)


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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_loader_workers_die_within_seconds_of_a_killed_step():
    script = (
        "import time\n"
        "from torch.utils.data import DataLoader, Dataset\n"
        "from misc.torchutils import init_worker\n"
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
    assert torchutils.rank_share(list(range(8))) == [1, 4, 7]
    # pending outputs 0, 2, 3, 5: the rank's share does not depend on which others are done
    assert torchutils.rank_share([0, 2, 3, 5]) == []
    assert torchutils.rank_share([0, 1, 2, 3, 4]) == [1, 4]
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert torchutils.rank_share([0, 1, 2]) == [0, 1, 2]
