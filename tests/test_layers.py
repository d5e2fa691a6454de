"""The packages import one way: misc < net < data (dataset, voc12, coco14) < postprocess < engine < report < step
< cli < run_sample, and no step imports another (docs/architecture.md)."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = {"misc": 0, "net": 1, "dataset": 2, "voc12": 2, "coco14": 2, "postprocess": 3, "engine": 4, "report": 5,
          "step": 6, "cli": 7, "run_sample": 8}


def imported(path: Path) -> set[str]:
    """The project modules a file imports (anywhere in it, function-level imports too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n.split(".")[0] in LAYERS}


def project_files():
    return sorted(p for pkg in LAYERS for p in ([REPO / f"{pkg}.py"] if pkg == "run_sample" else
                                               (REPO / pkg).glob("*.py")))


@pytest.mark.parametrize("path", project_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_imports_run_down_the_layers(path):
    own = path.stem if path.parent == REPO else path.parent.name
    upward = sorted(m for m in imported(path) if LAYERS[m.split(".")[0]] > LAYERS[own])
    assert not upward, f"{path.relative_to(REPO)} imports {upward} from a layer above it"


@pytest.mark.parametrize("path", sorted(p for p in (REPO / "step").glob("*.py") if not p.name.startswith("_")),
                         ids=lambda p: p.name)
def test_no_step_imports_another(path):
    # step/_training.py is not a step: it reads the flags a training step hands the engine (the edge).
    siblings = sorted(m for m in imported(path) if m.startswith("step.")
                      and m not in ("step.STEPS", "step.STAGES") and not m.startswith("step._"))
    assert not siblings, f"{path.name} imports {siblings}; shared logic belongs in engine/ or postprocess/"
