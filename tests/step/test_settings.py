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
# The layers below the steps: none of them may take or read the flags namespace.
LOWER_PACKAGES = ("engine", "postprocess", "dataset", "report", "net", "voc12", "coco14")


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


def _namespace_uses(path: Path) -> list[str]:
    """Functions of ``path`` that take a parameter named ``args`` (a module's own ``main(argv)`` parses its own
    command line and is exempt), and any ``getattr(args, ...)``."""
    import ast

    tree = ast.parse(path.read_text())
    found = [f"{path.name}:{node.lineno} {node.name}(args)" for node in ast.walk(tree)
             if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name != "main"
             and "args" in [a.arg for a in node.args.args + node.args.kwonlyargs]]
    found += [f"{path.name}:{node.lineno} getattr(args, ...)" for node in ast.walk(tree)
              if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr" and node.args
              and getattr(node.args[0], "id", None) == "args"]
    return found


@pytest.mark.parametrize("package", LOWER_PACKAGES)
def test_no_layer_below_the_steps_takes_the_flags_namespace(package):
    """Settings are read once, at the edge (step/, cli/): engines, post-processing, datasets, the report and
    the networks take values or config objects."""
    uses = [u for path in sorted((REPO / package).rglob("*.py")) for u in _namespace_uses(path)]
    assert uses == []


def test_the_scan_finds_a_namespace_parameter(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def run_make(args, maker):\n    return getattr(args, 'x', 1)\n\ndef main(args=None):\n    pass\n")
    assert _namespace_uses(bad) == ["bad.py:1 run_make(args)", "bad.py:2 getattr(args, ...)"]


def test_config_objects_are_read_from_flags_of_their_names():
    from engine.inference import InferenceConfig
    from misc.settings import flag_names
    from report.summary import ReportConfig
    from step._config import DATA_FLAGS
    from step._training import TRAIN_FLAGS

    assert set(flag_names(InferenceConfig)) <= FLAGS
    assert set(flag_names(ReportConfig)) - {"spec", "root"} <= FLAGS
    assert set(DATA_FLAGS) | set(TRAIN_FLAGS) <= FLAGS


def test_step_settings_give_the_driver_defaults_and_refuse_the_rest():
    s = step_settings("train_seg", seg_lr=1e-3)
    assert (s.seg_lr, s.seg_iter_max, s.seg_momentum) == (1e-3, 30000, 0.9)
    with pytest.raises(UndeclaredSetting, match="train_seg reads --cam_batch_size"):
        s.cam_batch_size
