import datetime

import pytest
import torch

from misc import distributed


def test_the_process_group_waits_as_long_as_asked(monkeypatch):
    """Rank 0 alone evaluates while the others wait in a collective: the group's timeout must outlast it."""
    seen = {}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.dist, "init_process_group",
                        lambda backend, **kw: seen.update(backend=backend, **kw))
    assert distributed.init_distributed(torch.device("cpu"), timeout_min=90) == torch.device("cpu")
    assert seen == {"backend": "gloo", "timeout": datetime.timedelta(minutes=90)}
    distributed.init_distributed(torch.device("cpu"))
    assert seen["timeout"] == datetime.timedelta(minutes=distributed.DEFAULT_TIMEOUT_MIN) >= datetime.timedelta(hours=1)


@pytest.mark.parametrize("env,expected", [({}, 1), ({"WORLD_SIZE": "4"}, 4),
                                          ({"WORLD_SIZE": "16", "LOCAL_WORLD_SIZE": "8"}, 8)])
def test_local_world_size(monkeypatch, env, expected):
    for key in ("WORLD_SIZE", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert distributed.local_world_size() == expected
