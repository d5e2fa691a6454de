"""The driver's command line: help text, the demo preset, dataset defaults."""
import argparse

import pytest

import run_sample
from step import datasets, demo


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
    args = run_sample.configure(["--demo", "--cam_num_epoches", "2", "--device", "cpu"])
    assert args.cam_num_epoches == 2 and args.amn_num_epoches == demo.PRESET["amn_num_epoches"]
    assert args.voc12_root == str(demo.DATA_ROOT) and args.make_sem_seg_pass


def test_demo_refuses_flags_that_point_away_from_the_toy_data(monkeypatch):
    _no_toy(monkeypatch)
    with pytest.raises(SystemExit, match="drop --train_list, --voc12_root"):
        run_sample.configure(["--demo", "--voc12_root", "x", "--train_list", "y"])


def test_coco_defaults_are_the_official_ones_unless_given():
    args = run_sample.configure(["--dataset", "coco14", "--coco14_root", "c", "--sem_seg_bg_thres", "0.3"])
    assert args.cam_weights_name == "sess/res50_cam_coco.pth" and args.irn_weights_name == "sess/res50_irn_coco.pth"
    assert args.amn_cam_out_dir == "result/amn_cam_coco" and args.train_list == "coco14/train14.txt"
    assert args.sem_seg_bg_thres == 0.3
    assert run_sample.configure(["--dataset", "coco14", "--coco14_root", "c"]).sem_seg_bg_thres == 0.22


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
    args = argparse.Namespace(dataset=dataset, conf_fg_thres=None, conf_bg_thres=None)
    assert datasets.seed_thresholds(args, kind) == expected
    args.conf_fg_thres = 0.5
    assert datasets.seed_thresholds(args, kind) == (0.5, expected[1])


def test_a_root_is_required():
    with pytest.raises(SystemExit):
        run_sample.configure(["--dataset", "coco14"])


def test_a_step_run_alone_draws_what_it_draws_after_the_others(monkeypatch):
    import sys
    import types

    import torch

    draws = []
    for name, n in (("fake_first", 7), ("fake_second", 3)):
        module = types.ModuleType(name)
        module.run = lambda args, n=n: draws.append(torch.rand(n))
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(run_sample, "STEPS", [("first_pass", "fake_first"), ("second_pass", "fake_second")])
    args = argparse.Namespace(seed=5, first_pass=True, second_pass=True)
    run_sample.run_steps(args)
    args.first_pass = False
    run_sample.run_steps(args)
    in_pipeline, alone = draws[1], draws[2]
    assert torch.equal(in_pipeline, alone)
    assert torch.equal(alone, torch.rand(3, generator=torch.Generator().manual_seed(5)))
