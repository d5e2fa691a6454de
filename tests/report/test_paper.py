"""The paper's figures, stored once, printed beside measured ones on the paper's lists only."""
import json
import re
from pathlib import Path

import pytest

from report import paper

REPO = Path(__file__).resolve().parents[2]


def test_the_reported_figures():
    figures = {(f.dataset, f.stage): f.miou for f in paper.PAPER_FIGURES}
    assert figures == {("voc12", "amn_cam"): 62.1, ("voc12", "sem_seg"): 72.2, ("voc12", "seg_crf"): 69.5,
                       ("voc12", "seg_test"): 69.6, ("coco14", "seg_crf"): 44.7}


@pytest.mark.parametrize("record, stage, expected", [
    ({"dataset": "voc12", "stage": "amn_cam", "eval_set": "train", "n_images": 1464, "miou": 0.6184}, None,
     "AMN seeds mIoU 61.8 (paper 62.1)"),
    ({"dataset": "voc12", "stage": "sem_seg", "eval_set": "train", "n_images": 1464, "miou": 0.7}, None,
     "AMN masks mIoU 70.0 (paper 72.2)"),
    ({"dataset": "voc12", "eval_set": "voc12/val.txt", "n_images": 1449, "miou": 0.69}, "seg_crf",
     "DeepLab-v2 val mIoU 69.0 (paper 69.5)"),
    ({"dataset": "coco14", "eval_set": "coco14/val14.txt", "n_images": 40137, "miou": 0.44}, "seg_crf",
     "DeepLab-v2 COCO val mIoU 44.0 (paper 44.7)"),
    ({"dataset": "voc12", "stage": "amn_cam", "eval_set": "train", "n_images": 240, "miou": 0.8}, None, None),
    ({"dataset": "voc12", "stage": "amn_cam", "eval_set": "val", "n_images": 1464, "miou": 0.8}, None, None),
    ({"dataset": "folder", "stage": "amn_cam", "eval_set": "train", "n_images": 1464, "miou": 0.8}, None, None),
])
def test_a_figure_is_printed_beside_only_on_the_papers_list(record, stage, expected):
    assert paper.beside(record, stage) == expected


def test_lines_for_a_result_folder(tmp_path, capsys):
    (tmp_path / "amn_cam.json").write_text(json.dumps(
        {"dataset": "voc12", "stage": "amn_cam", "eval_set": "train", "n_images": 1464, "miou": 0.615}))
    (tmp_path / "seg.json").write_text(json.dumps(
        {"dataset": "voc12", "stage": "seg", "eval_set": "voc12/val.txt", "n_images": 1449, "miou": 0.66,
         "crf": {"miou": 0.683}}))
    paper.main([str(tmp_path)])
    assert capsys.readouterr().out.splitlines() == ["AMN seeds mIoU 61.5 (paper 62.1)",
                                                     "DeepLab-v2 val mIoU 68.3 (paper 69.5)"]


def test_the_table_prints_without_a_folder(capsys):
    paper.main(["--table"])
    assert capsys.readouterr().out == paper.markdown_table()


def test_docs_paper_shows_the_same_table():
    assert paper.markdown_table() in (REPO / "docs" / "paper.md").read_text()


def _defined(path: Path, dotted: str) -> bool:
    import ast

    nodes = ast.parse(path.read_text()).body
    for part in dotted.split("."):
        match = next((n for n in nodes if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.Assign))
                      and (getattr(n, "name", None) == part
                           or any(getattr(t, "id", None) == part for t in getattr(n, "targets", [])))), None)
        if match is None:
            return False
        nodes = getattr(match, "body", [])
    return True


def test_every_file_and_function_docs_paper_names_exists():
    text = (REPO / "docs" / "paper.md").read_text()
    refs = re.findall(r"`([\w/]+\.(?:py|sh))(?::([\w.]+))?`", text)
    assert len(refs) > 20
    for file, name in refs:
        path = REPO / file
        assert path.is_file(), file
        if name:
            assert _defined(path, name), f"{file}:{name}"
    flags = set(re.findall(r"`(--\w+)`", text))
    from cli.flags import build_parser

    known = {s for a in build_parser()._actions for s in a.option_strings}
    assert flags and flags <= known, sorted(flags - known)
