"""Every step declares the flags it reads; engine and report modules declare theirs."""
import importlib
import re
from pathlib import Path

import pytest

from cli.config import step_settings
from cli.flags import build_parser
from misc.settings import UndeclaredSetting
from step import STEPS

REPO = Path(__file__).resolve().parents[2]
FLAGS = {a.dest for a in build_parser()._actions}
ENGINE_MODULES = ("engine.devices", "engine.inference", "engine.precision", "engine.training", "engine.irn_inference",
                  "engine.seg_inference", "dataset.registry", "dataset.checks", "report.summary", "report.html")


def flags_read(module) -> set[str]:
    """The flags a module's source reads: ``args.x``, ``getattr(args, "x"...)``, ``f(args, "x")`` (a list flag
    named to a check) and its RESULT_FLAGS (read by name for the training record)."""
    source = Path(module.__file__).read_text()
    names = set(re.findall(r"\bargs\.([a-z_][a-z0-9_]*)", source))
    names |= set(re.findall(r'getattr\(args, "([a-z_0-9]+)"', source))
    names |= set(re.findall(r'\(args, "([a-z_0-9]+)"', source)) & FLAGS
    names |= set(getattr(module, "RESULT_FLAGS", ()))
    return names


@pytest.mark.parametrize("module_name", [m for _, m in STEPS])
def test_every_step_declares_what_it_reads(module_name):
    module = importlib.import_module(module_name)
    assert set(module.SETTINGS) <= FLAGS, "a declared setting is not a driver flag"
    assert flags_read(module) <= set(module.SETTINGS), "a flag read in the step is not in its SETTINGS"


@pytest.mark.parametrize("module_name", ENGINE_MODULES)
def test_engines_declare_what_they_read(module_name):
    module = importlib.import_module(module_name)
    assert set(module.SETTINGS) <= FLAGS
    assert flags_read(module) <= set(module.SETTINGS)


def test_engine_lists_are_part_of_their_steps():
    from engine import irn_inference, map_stages, training

    for step in ("train_cam", "train_amn", "train_irn", "train_seg"):
        assert set(training.SETTINGS) <= set(importlib.import_module(f"step.{step}").SETTINGS)
    for step in ("make_sem_seg_labels", "make_ins_seg_labels"):
        assert set(irn_inference.SETTINGS) <= set(importlib.import_module(f"step.{step}").SETTINGS)
    assert set(map_stages.MAKE_SETTINGS) <= set(importlib.import_module("step.make_cam").SETTINGS)


def test_step_settings_give_the_driver_defaults_and_refuse_the_rest():
    s = step_settings("train_seg", seg_lr=1e-3)
    assert (s.seg_lr, s.seg_iter_max, s.seg_momentum) == (1e-3, 30000, 0.9)
    with pytest.raises(UndeclaredSetting, match="train_seg reads --cam_batch_size"):
        s.cam_batch_size
