"""--seeds: one run per seed into <work_dir>/seed_<k>/, then the spread; failures reported, not averaged."""
import json

import pytest

import run_sample
from cli import seeds
from helpers import pipeline_argv
from misc.errors import PipelineError


@pytest.mark.parametrize("text, expected", [("0,1,2", [0, 1, 2]), ("3", [3]), (" 5, 7 ", [5, 7])])
def test_parse_seeds(text, expected):
    assert seeds.parse_seeds(text) == expected


@pytest.mark.parametrize("text", ["", "a,b", "1,1", "0.5"])
def test_bad_seed_lists_are_refused(text):
    with pytest.raises(PipelineError, match="give distinct integers"):
        seeds.parse_seeds(text)


def test_without_flags_drops_values_and_bare_forms():
    argv = ["--seeds", "0,1", "--work_dir=w", "--seed", "3", "--amp", "--train_cam_pass", "True", "--no_amp",
            "--steps", "cam", "--eval_cam_pass", "--x", "1"]
    assert seeds.without_flags(argv, {"--seeds", "--work_dir", "--seed"}) == [
        "--amp", "--train_cam_pass", "True", "--no_amp", "--steps", "cam", "--eval_cam_pass", "--x", "1"]
    assert seeds.without_flags(argv, seeds.STEP_CHOICE) == [
        "--seeds", "0,1", "--work_dir=w", "--seed", "3", "--amp", "--no_amp", "--x", "1"]


def test_seeds_need_a_work_dir(toy, tmp_path):
    argv = [a for a in pipeline_argv(toy, tmp_path, "--eval_cam_pass", "True")]
    with pytest.raises(SystemExit, match="--seeds needs --work_dir DIR"):
        run_sample.main([*argv, "--seeds", "0,1"])


def test_a_failed_seed_is_reported_and_left_out(tmp_path):
    calls = []

    def run_one(argv):
        calls.append(argv)
        folder = tmp_path / f"seed_{argv[argv.index('--seed') + 1]}"
        folder.mkdir(parents=True, exist_ok=True)
        if argv[-1] == "1":
            (folder / "run.log").write_text("error: train_cam: CUDA out of memory\n")
            raise SystemExit(1)
        (folder / "cam.json").write_text(json.dumps({"miou": 0.5, "sweep": None}))

    summary = seeds.run_seeds(["--demo", "--seed", "9"], str(tmp_path), "0,1,2", report=False, run_one=run_one)
    assert [c[-4:] for c in calls] == [["--work_dir", str(tmp_path / f"seed_{k}"), "--seed", str(k)] for k in (0, 1, 2)]
    assert all("9" not in c for c in calls)  # the user's --seed gives way to each seed
    assert [r["status"] for r in summary["runs"]] == ["ok", "failed", "ok"]
    assert summary["runs"][1]["error"] == "error: train_cam: CUDA out of memory"
    assert summary["stages"]["cam"]["miou"]["n"] == 2
    stored = json.loads((tmp_path / "seeds.json").read_text())
    assert stored["n_failed"] == 1 and "failed: error: train_cam" in (tmp_path / "seeds.md").read_text()


@pytest.mark.slow
def test_two_seeds_give_the_statistics_of_their_folders_and_a_report_over_them(toy, tmp_path):
    argv = pipeline_argv(toy, tmp_path, "--train_cam_pass", "True", "--make_cam_pass", "True", "--eval_cam_pass",
                         "True", "--make_report_pass", "True")
    for flag in ("--cam_weights_name", "--cam_out_dir", "--result_dir", "--log_name"):  # leave them to --work_dir
        i = argv.index(flag)
        del argv[i:i + 2]
    work = tmp_path / "exp"
    run_sample.main([*argv, "--work_dir", str(work), "--seeds", "0,1"])
    recs = [json.loads((work / f"seed_{k}" / "cam.json").read_text()) for k in (0, 1)]
    assert recs[0]["miou"] != recs[1]["miou"]  # the seeds trained differently
    stored = json.loads((work / "seeds.json").read_text())
    spread = stored["stages"]["cam"]
    a, b = (r["miou"] for r in recs)
    assert spread["miou"] == pytest.approx({"mean": (a + b) / 2, "std": abs(a - b) / 2 ** 0.5, "min": min(a, b),
                                            "max": max(a, b), "n": 2})
    best = [r["sweep"]["best_miou"] for r in recs]
    assert spread["best_miou"]["mean"] == pytest.approx(sum(best) / 2)
    assert spread["width"]["max"] == pytest.approx(max(r["sweep"]["width"] for r in recs))
    assert stored["curves"]["cam"]["min"] == pytest.approx(
        [min(x, y) for x, y in zip(recs[0]["sweep"]["miou"], recs[1]["sweep"]["miou"])])
    summary_md = (work / "report" / "summary.md").read_text()
    assert "## Spread over seeds" in summary_md and "seeds_threshold_band.png" in summary_md
    page = (work / "report" / "report.html").read_text()
    assert '"seeds": {"stages": {"cam"' in page
