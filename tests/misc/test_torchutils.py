"""The official PolyOptimizer: its schedule, its momentum quirk and its state."""
import pytest
import torch

from misc import torchutils


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


