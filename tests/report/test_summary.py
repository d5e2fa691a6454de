"""The report's per-image figures: seed quality and flooding classes in one pass, pooled and cached."""
import numpy as np
import pytest

from misc.fileio import save_png
from report import summary
from voc12.dataloader import VOC12


def _config(tmp_path, n=9):
    rng = np.random.default_rng(1)
    names = [f"2007_{i:06d}" for i in range(n)]
    root = tmp_path / "VOC2012"
    for i, name in enumerate(names):
        gt = np.zeros((20, 30), np.uint8)
        gt[:10, :12] = 1 + i % 3
        gt[rng.random(gt.shape) < 0.05] = 255
        save_png(root / "SegmentationClass" / f"{name}.png", gt)
        for folder in ("cam_seeds", "amn_seeds"):
            seed = np.where(rng.random(gt.shape) < 0.2, 255, np.where(rng.random(gt.shape) < 0.8, gt, 0))
            save_png(tmp_path / folder / f"{name}.png", seed.astype(np.uint8), record="r")
        mask = np.full(gt.shape, 4 if i % 4 == 0 else 0, np.uint8)  # class 4 floods every 4th image
        save_png(tmp_path / "sem_seg" / f"{name}.png", mask, record="r")
    cfg = summary.ReportConfig(VOC12, str(root), "", "", "", str(tmp_path / "sem_seg"), "", "", "", 3,
                               str(tmp_path / "result"), None)
    return cfg, {"CAM seeds": str(tmp_path / "cam_seeds"), "AMN seeds": str(tmp_path / "amn_seeds")}, names


def _by_hand(cfg, seed_dir, names):
    from misc.fileio import load_png

    correct = confident = unsure = total = 0
    for name in names:
        seed, gt = load_png(f"{seed_dir}/{name}.png"), load_png(cfg.spec.gt_path(cfg.root, name))
        conf = (seed != 255) & (gt != 255)
        correct += int((seed[conf] == gt[conf]).sum())
        confident, unsure, total = confident + int(conf.sum()), unsure + int((seed == 255).sum()), total + seed.size
    return {"precision": correct / confident, "ignored_fraction": unsure / total}


def test_figures_equal_the_per_folder_definitions_pooled_and_then_come_from_the_cache(tmp_path, monkeypatch):
    cfg, seed_dirs, names = _config(tmp_path)
    seeds, floods = summary.mask_figures(cfg, seed_dirs, names, workers=2)
    assert seeds == {label: _by_hand(cfg, d, names) for label, d in seed_dirs.items()}
    assert floods == {"boat": 3}  # images 0, 4 and 8: class 4 fills them and is absent from the ground truth
    monkeypatch.setattr(summary, "load_png", lambda p: pytest.fail(f"read {p} although nothing changed"))
    assert summary.mask_figures(cfg, seed_dirs, names, workers=1) == (seeds, floods)


def test_a_rewritten_folder_or_a_missing_seed_recomputes(tmp_path):
    from misc import provenance

    cfg, seed_dirs, names = _config(tmp_path)
    summary.mask_figures(cfg, seed_dirs, names)
    (tmp_path / "amn_seeds" / f"{names[2]}.png").unlink()
    provenance.FolderRecord(tmp_path / "amn_seeds", {"step": "again"}).commit()  # a rerun of the seed step
    seeds, _ = summary.mask_figures(cfg, seed_dirs, names)
    assert list(seeds) == ["CAM seeds"]  # a folder missing an image has no quality figure


def test_a_seed_step_finishing_what_a_killed_run_left_recomputes_the_cached_figures(tmp_path):
    import os
    import time

    cfg, seed_dirs, names = _config(tmp_path)
    kept = (tmp_path / "amn_seeds" / f"{names[2]}.png").read_bytes()
    (tmp_path / "amn_seeds" / f"{names[2]}.png").unlink()  # the killed run: one seed missing, same record
    assert list(summary.mask_figures(cfg, seed_dirs, names)[0]) == ["CAM seeds"]
    time.sleep(0.01)
    (tmp_path / "amn_seeds" / "part").write_bytes(kept)  # the rerun writes it whole and renames it into place
    os.replace(tmp_path / "amn_seeds" / "part", tmp_path / "amn_seeds" / f"{names[2]}.png")
    seeds, _ = summary.mask_figures(cfg, seed_dirs, names)
    assert seeds["AMN seeds"] == _by_hand(cfg, seed_dirs["AMN seeds"], names)
