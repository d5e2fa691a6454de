"""The driver's command line: help text, the demo preset, dataset defaults."""
import argparse

import pytest

import run_sample
from cli import demo
from dataset.registry import DataConfig


def test_every_flag_has_help_and_shows_its_default():
    parser = run_sample.build_parser()
    undocumented = [a.dest for a in parser._actions if not a.help]
    assert undocumented == []
    text = " ".join(parser.format_help().split())
    assert "(default: 0.25)" in text and "(default: voc12/train_aug.txt)" in text
    assert "[make_sem_seg, make_ins_seg, train_amn, train_irn]" in text  # who reads --infer_list


def _no_toy(monkeypatch):
    monkeypatch.setattr(demo, "ensure_toy_dataset", lambda *a, **k: None)
    monkeypatch.setattr(demo, "ensure_toy_coco", lambda *a, **k: None)


def test_demo_honours_the_flags_a_user_gives(monkeypatch):
    _no_toy(monkeypatch)
    args = run_sample.resolve(["--demo", "--cam_num_epoches", "2", "--device", "cpu"])[0]
    assert args.cam_num_epoches == 2 and args.amn_num_epoches == demo.PRESET["amn_num_epoches"]
    assert args.voc12_root == str(demo.DATA_ROOT) and args.make_sem_seg_pass


def test_demo_refuses_flags_that_point_away_from_the_toy_data(monkeypatch):
    _no_toy(monkeypatch)
    with pytest.raises(SystemExit, match="drop --train_list, --voc12_root"):
        run_sample.resolve(["--demo", "--voc12_root", "x", "--train_list", "y"])[0]


def test_coco_defaults_are_the_official_ones_unless_given():
    args = run_sample.resolve(["--dataset", "coco14", "--coco14_root", "c", "--sem_seg_bg_thres", "0.3"])[0]
    assert args.cam_weights_name == "sess/res50_cam_coco.pth" and args.irn_weights_name == "sess/res50_irn_coco.pth"
    assert args.amn_cam_out_dir == "result/amn_cam_coco" and args.train_list == "coco14/train14.txt"
    assert args.sem_seg_bg_thres == 0.3
    assert run_sample.resolve(["--dataset", "coco14", "--coco14_root", "c"])[0].sem_seg_bg_thres == 0.22


def test_run_sample_coco_is_the_coco_driver(monkeypatch):
    import run_sample_coco

    seen = {}
    monkeypatch.setattr(run_sample, "main", lambda argv: seen.setdefault("argv", argv))
    run_sample_coco.main(["--coco14_root", "c"])
    assert seen["argv"][:2] == ["--dataset", "coco14"]


@pytest.mark.parametrize("dataset,kind,expected", [
    ("voc12", "cam", (0.30, 0.05)), ("voc12", "amn", (0.45, 0.15)),
    ("coco14", "cam", (0.45, 0.15)), ("coco14", "amn", (0.45, 0.15))])
def test_seed_threshold_defaults_per_step_and_dataset(dataset, kind, expected):
    assert DataConfig(dataset, None, "c.npy").seed_thresholds(kind) == expected
    assert DataConfig(dataset, None, "c.npy", conf_fg_thres=0.5).seed_thresholds(kind) == (0.5, expected[1])


def test_a_root_is_required():
    with pytest.raises(SystemExit):
        run_sample.resolve(["--dataset", "coco14"])[0]


def test_a_step_run_alone_draws_what_it_draws_after_the_others(monkeypatch):
    import sys
    import types

    import torch

    draws = []
    for name, n in (("fake_first", 7), ("fake_second", 3)):
        module = types.ModuleType(name)
        module.run = lambda args, n=n: draws.append(torch.rand(n))
        module.SETTINGS = ()
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(run_sample, "STEPS", [("first_pass", "fake_first"), ("second_pass", "fake_second")])
    args = argparse.Namespace(seed=5, first_pass=True, second_pass=True)
    run_sample.run_steps(args)
    args.first_pass = False
    run_sample.run_steps(args)
    in_pipeline, alone = draws[1], draws[2]
    assert torch.equal(in_pipeline, alone)
    assert torch.equal(alone, torch.rand(3, generator=torch.Generator().manual_seed(5)))


def test_work_dir_holds_every_output_unless_a_path_is_given(tmp_path):
    args = run_sample.resolve(["--voc12_root", "v", "--work_dir", str(tmp_path / "exp"),
                                 "--amn_cam_out_dir", "elsewhere/amn"])[0]
    exp = tmp_path / "exp"
    assert args.cam_weights_name == str(exp / "res50_cam.pth") and args.cam_out_dir == str(exp / "cam")
    assert args.result_dir == str(exp) and args.log_name == str(exp / "run")
    assert args.seg_weights_name == str(exp / "deeplabv2_resnet101_msc.pth") and args.amn_cam_out_dir == "elsewhere/amn"
    official = run_sample.resolve(["--voc12_root", "v"])[0]
    assert official.cam_weights_name == "sess/res50_cam.pth" and official.cam_out_dir == "result/cam"


def test_a_config_file_sets_flags_and_the_command_line_wins(tmp_path):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("dataset: coco14\ncoco14_root: c\ncam_scales: [1.0, 2.0]\nsem_seg_bg_thres: 0.3\namp: 'true'\n"
                   "cam_num_epoches: 3\n")
    args, origins = run_sample.resolve(["--config", str(cfg), "--cam_num_epoches", "7"])
    assert args.dataset == "coco14" and args.cam_scales == [1.0, 2.0] and args.amp is True
    assert args.sem_seg_bg_thres == 0.3  # beats COCO's own 0.22
    assert args.cam_num_epoches == 7 and origins["cam_num_epoches"] == "command line"
    assert origins["cam_scales"] == f"config {cfg}" and origins["train_list"] == "coco14 default"
    cfg.write_text("cam_num_epochs: 3\n")
    with pytest.raises(run_sample.PipelineError, match="unknown flag cam_num_epochs"):
        run_sample.resolve(["--config", str(cfg), "--voc12_root", "v"])


def test_shipped_configs_load(monkeypatch):
    _no_toy(monkeypatch)
    for name, root in (("voc12", ["--voc12_root", "v"]), ("coco14", ["--coco14_root", "c"]),
                       ("folder", ["--folder_root", "f"]), ("demo", [])):
        args = run_sample.resolve(["--config", f"configs/{name}.yaml", *root])[0]
        assert args.dataset == ("voc12" if name == "demo" else name)
    assert run_sample.resolve(["--config", "configs/demo.yaml"])[0].cam_weights_name == "result/demo/res50_cam.pth"


def test_print_config_shows_origins_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_sample.main(["--voc12_root", "v", "--work_dir", "exp", "--print_config", "--dataset", "voc12",
                     "--cam_num_epoches", "2"])
    out = capsys.readouterr().out
    assert "cam_num_epoches: 2  # command line" in out and "cam_out_dir: exp/cam  # --work_dir" in out
    assert "beta: 10  # default" in out
    assert list(tmp_path.iterdir()) == []


def test_steps_start_stop_and_bare_booleans():
    args = run_sample.resolve(["--voc12_root", "v", "--steps", "amn,make_sem_seg", "--amp", "--no_seg_crf"])[0]
    on = {flag[:-5] for flag, _ in run_sample.STEPS if getattr(args, flag)}
    assert on == {"train_amn", "make_amn_cam", "eval_amn_cam", "amn_cam_to_ir_label", "make_sem_seg"}
    assert args.amp is True and args.seg_crf is False
    assert run_sample.resolve(["--voc12_root", "v", "--no-amn_eval_every_epoch"])[0].amn_eval_every_epoch is False
    args = run_sample.resolve(["--voc12_root", "v", "--start", "masks", "--stop", "seg"])[0]
    assert {f[:-5] for f, _ in run_sample.STEPS if getattr(args, f)} == {"make_sem_seg", "eval_sem_seg", "train_seg",
                                                                         "make_seg", "eval_seg"}
    with pytest.raises(run_sample.PipelineError, match="neither a stage"):
        run_sample.resolve(["--voc12_root", "v", "--steps", "cams"])[0]


def test_help_shows_dataset_defaults():
    help_text = " ".join(run_sample.build_parser().format_help().split())
    assert "coco14: coco14/train14.txt" in help_text and "folder: <folder_root>/train.txt" in help_text
    assert "(coco14: 0.22)" in help_text
