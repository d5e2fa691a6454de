"""The spread over seeds, from run folders made by hand."""
import json
import math

import pytest

from report import seeds


def _record(folder, stage, miou, best, width, **extra):
    folder.mkdir(parents=True, exist_ok=True)
    sweep = {"thresholds": [0.1, 0.2, 0.3], "miou": [miou - 0.1, miou, best], "best_miou": best,
             "best_threshold": 0.3, "width": width, "low": 0.2, "high": 0.3}
    (folder / f"{stage}.json").write_text(json.dumps({"stage": stage, "miou": miou, "sweep": sweep, **extra}))


def test_spread_of_hand_made_folders(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    _record(a, "cam", 0.40, 0.45, 0.10)
    _record(b, "cam", 0.50, 0.52, 0.20)
    _record(c, "cam", 0.45, 0.47, 0.15)
    (a / "seg.json").write_text(json.dumps({"miou": 0.30, "crf": {"miou": 0.32}}))
    summary = seeds.summarize([("a", a, None), ("b", b, None), ("c", c, None)])
    cam = summary["stages"]["cam"]
    assert cam["miou"]["mean"] == pytest.approx(0.45) and cam["miou"]["std"] == pytest.approx(0.05)  # sample std
    assert (cam["miou"]["min"], cam["miou"]["max"], cam["miou"]["n"]) == (0.40, 0.50, 3)
    assert cam["width"]["mean"] == pytest.approx(0.15) and cam["best_threshold"]["std"] == 0
    assert summary["stages"]["seg"]["crf_miou"] == {"mean": 0.32, "std": None, "min": 0.32, "max": 0.32, "n": 1}
    band = summary["curves"]["cam"]
    assert band["min"] == pytest.approx([0.30, 0.40, 0.45]) and band["max"] == pytest.approx([0.40, 0.50, 0.52])
    md = seeds.markdown(summary)
    assert "| CAM | mIoU at the default threshold | 45.0 ± 5.0 [40.0, 50.0] |" in md
    assert "| a | ok | 40.0 |" in md


def test_a_folder_without_records_is_failed_and_left_out(tmp_path):
    good, broken = tmp_path / "seed_0", tmp_path / "seed_1"
    _record(good, "amn_cam", 0.6, 0.62, 0.3)
    broken.mkdir()
    (broken / "run.log").write_text("=== train_cam\nerror: out of memory on cuda:0\n")
    summary = seeds.summarize([("seed 0", good, None), ("seed 1", broken, None)])
    assert (summary["n_ok"], summary["n_failed"]) == (1, 1)
    assert summary["runs"][1] == {"run": "seed 1", "folder": str(broken), "status": "failed",
                                  "error": "error: out of memory on cuda:0", "figures": {}}
    assert summary["stages"]["amn_cam"]["miou"]["n"] == 1
    assert "| seed 1 | failed: error: out of memory on cuda:0 | - |" in seeds.markdown(summary)


def test_a_run_reported_failed_is_not_averaged_even_with_records(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _record(a, "cam", 0.4, 0.4, 0.1)
    _record(b, "cam", 0.9, 0.9, 0.1)  # written before its run failed in a later step
    summary = seeds.summarize([("a", a, None), ("b", b, "exit status 1")])
    assert summary["stages"]["cam"]["miou"]["mean"] == 0.4 and summary["runs"][1]["status"] == "failed"


def test_curves_over_different_thresholds_give_no_band(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _record(a, "cam", 0.4, 0.4, 0.1)
    _record(b, "cam", 0.5, 0.5, 0.1)
    rec = json.loads((b / "cam.json").read_text())
    rec["sweep"]["thresholds"] = [0.1, 0.2, 0.4]
    (b / "cam.json").write_text(json.dumps(rec))
    assert seeds.summarize([("a", a, None), ("b", b, None)])["curves"] == {}


def test_the_command_line_summarises_folders_and_writes_the_files(tmp_path, capsys):
    a, b = tmp_path / "m1" / "run", tmp_path / "m2" / "run"
    _record(a, "sem_seg", 0.7, 0.72, 0.2)
    _record(b, "sem_seg", 0.6, 0.61, 0.1)
    seeds.main([str(a), str(b), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert "| final masks | mIoU at the default threshold | 65.0 ± 7.1 [60.0, 70.0] |" in out
    stored = json.loads((tmp_path / "out" / seeds.SEEDS_JSON).read_text())
    assert math.isclose(stored["stages"]["sem_seg"]["miou"]["std"], 0.1 / math.sqrt(2))
    assert (tmp_path / "out" / "seeds_threshold_band.png").is_file()
    assert [r["folder"] for r in stored["runs"]] == [str(a), str(b)]
