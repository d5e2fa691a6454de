"""The AMN paper's reported figures, stored once, and their printing beside measured ones.

  python -m report.paper RESULT_DIR      # every paper figure next to what RESULT_DIR's eval records measured

A figure applies when the dataset and the evaluated list are the paper's: VOC 2012's train set (1,464 images)
for the seeds and masks, val (1,449) for the segmentation network; COCO 2014's val set (40,137 labelled images, or all
40,504). docs/paper.md shows the same table.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PaperFigure:
    """One reported mIoU (%): which stage, on which dataset and list, and where the paper gives it."""

    dataset: str
    stage: str  # the eval record's stage: amn_cam, sem_seg, seg, seg_crf
    label: str
    miou: float
    eval_set: str
    n_images: tuple[int, ...]  # the list's size, as published (COCO val: the labelled images, or all)
    source: str


PAPER_FIGURES = (
    PaperFigure("voc12", "amn_cam", "AMN seeds mIoU", 62.1, "train", (1464,),
                "Lee et al., CVPR 2022, seed (CAM) mIoU on VOC 2012 train"),
    PaperFigure("voc12", "sem_seg", "AMN masks mIoU", 72.2, "train", (1464,),
                "Lee et al., CVPR 2022, pseudo-mask (AMN + IRN) mIoU on VOC 2012 train"),
    PaperFigure("voc12", "seg_crf", "DeepLab-v2 val mIoU", 69.5, "val", (1449,),
                "Lee et al., CVPR 2022, DeepLab-v2 (ResNet-101, ImageNet) on VOC 2012 val"),
    PaperFigure("voc12", "seg_test", "DeepLab-v2 test mIoU", 69.6, "test", (1456,),
                "Lee et al., CVPR 2022, DeepLab-v2 (ResNet-101, ImageNet) on VOC 2012 test (evaluation server)"),
    PaperFigure("coco14", "seg_crf", "DeepLab-v2 COCO val mIoU", 44.7, "val", (40137, 40504),
                "Lee et al., CVPR 2022, DeepLab-v2 (ResNet-101) on COCO 2014 val"),
)


def figure_for(dataset: str, stage: str, eval_set: str | None, n_images: int | None) -> PaperFigure | None:
    """The paper's figure for a record of ``stage`` on ``dataset``, when it was scored on the paper's list."""
    name = Path(str(eval_set or "")).stem
    for fig in PAPER_FIGURES:
        if (fig.dataset, fig.stage) == (dataset, stage) and fig.eval_set in (name, name.removesuffix("14")) \
                and n_images in fig.n_images:
            return fig
    return None


def beside(record: dict, stage: str | None = None) -> str | None:
    """``AMN seeds mIoU 61.8 (paper 62.1)`` for an eval record on the paper's dataset and list, else None."""
    stage = stage or record.get("stage")
    fig = figure_for(str(record.get("dataset")), str(stage), record.get("eval_set"), record.get("n_images"))
    if fig is None or record.get("miou") is None:
        return None
    return f"{fig.label} {100 * record['miou']:.1f} (paper {fig.miou:.1f})"


def print_beside(record: dict | None, stage: str | None = None) -> None:
    """Print the paper's figure beside a measured record, where the paper has one for its dataset and list."""
    line = beside(record, stage) if record else None
    if line:
        print(line)


def lines_for(result_dir: Path) -> list[str]:
    """The paper-beside-measured line of every record in ``result_dir`` that has a paper figure."""
    out = []
    for stage in ("amn_cam", "sem_seg", "seg"):
        path = result_dir / f"{stage}.json"
        if not path.is_file():
            continue
        rec = json.loads(path.read_text())
        if stage == "seg":  # the paper's segmentation figures are after the CRF
            rec = {**rec, **(rec.get("crf") or {}), "dataset": rec.get("dataset"), "eval_set": rec.get("eval_set"),
                   "n_images": rec.get("n_images")}
            stage = "seg_crf"
        line = beside(rec, stage)
        if line:
            out.append(line)
    return out


def markdown_table() -> str:
    """The figures as the markdown table docs/paper.md shows."""
    rows = ["| dataset | stage (eval record) | figure | paper mIoU | list (images) |", "|---|---|---|---|---|"]
    rows += [f"| {f.dataset} | `{f.stage}` | {f.label} | {f.miou:.1f} | {f.eval_set} "
             f"({' or '.join(f'{n:,}' for n in f.n_images)}) |" for f in PAPER_FIGURES]
    return "\n".join(rows) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("result_dir", nargs="?", help="a folder of eval records (amn_cam.json, sem_seg.json, seg.json)")
    p.add_argument("--table", action="store_true", help="print the paper's figures as a markdown table")
    a = p.parse_args(argv)
    if a.table:
        print(markdown_table(), end="")
        return
    if a.result_dir is None:
        p.error("give a result folder, or --table")
    lines = lines_for(Path(a.result_dir))
    if not lines:
        sys.exit(f"{a.result_dir}: no eval record on the paper's datasets and lists (VOC 2012 train/val, COCO 2014 "
                 "val) to compare")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
