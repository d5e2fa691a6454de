"""Reruns redo exactly the stale, missing or unreadable outputs; inputs are checked before any work;
errors are one line that names the file."""
import errno
import os
import socket

import numpy as np
import pytest
import torch

import run_sample
from engine import checkpoints
from helpers import pipeline_argv
from misc.errors import PipelineError
from misc.fileio import load_cam


def _names(toy):
    return (toy.meta / "train.txt").read_text().split()


@pytest.fixture(scope="module")
def trained_cams(toy, tmp_path_factory):
    """The CAM network and its maps, trained and made once for the module."""
    base = tmp_path_factory.mktemp("reruns_template")
    run_sample.main(pipeline_argv(toy, base, "--train_cam_pass", "True", "--make_cam_pass", "True"))
    return base


@pytest.fixture()
def made_cams(trained_cams, tmp_path):
    """A test's own copy of the trained network and maps (tests change and retrain them)."""
    import shutil

    for sub in ("sess", "result"):
        shutil.copytree(trained_cams / sub, tmp_path / sub, copy_function=shutil.copy2)
    return tmp_path / "result" / "cam"


def _run(toy, tmp_path, capsys, *flags):
    capsys.readouterr()
    run_sample.main(pipeline_argv(toy, tmp_path, *flags))
    return capsys.readouterr().out


def _fails(toy, tmp_path, capsys, *flags) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        run_sample.main(pipeline_argv(toy, tmp_path, *flags))
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    return err[0]


def test_rerun_with_same_settings_has_nothing_to_do(toy, tmp_path, capsys, made_cams):
    out = _run(toy, tmp_path, capsys, "--make_cam_pass", "True")
    assert "make_cam: all 16 outputs are up to date; nothing to do" in out


def test_changed_scales_redo_every_cam_and_say_why(toy, tmp_path, capsys, made_cams):
    target = made_cams / f"{_names(toy)[0]}.npz"
    stamp = target.stat().st_mtime_ns
    out = _run(toy, tmp_path, capsys, "--make_cam_pass", "True", "--cam_scales", "1.0")
    assert "0 of 16 outputs are up to date; redoing 16: 16 made with other settings (scales: [1.0, 0.5] -> [1.0])" \
        in out
    assert target.stat().st_mtime_ns != stamp


def test_retrained_network_makes_its_cams_stale(toy, tmp_path, capsys, made_cams):
    weights = tmp_path / "sess" / "res50_cam.pth"
    sd = torch.load(weights, weights_only=True)
    sd["classifier.weight"] = sd["classifier.weight"] * 2
    torch.save(sd, weights)
    out = _run(toy, tmp_path, capsys, "--make_cam_pass", "True")
    assert "redoing 16: 16 made with other settings (checkpoint: " in out


def test_a_truncated_cam_counts_as_missing_and_is_redone(toy, tmp_path, capsys, made_cams):
    target = made_cams / f"{_names(toy)[3]}.npz"
    target.write_bytes(target.read_bytes()[:100])
    err = _fails(toy, tmp_path, capsys, "--cam_to_ir_label_pass", "True")
    assert "1 unreadable" in err and target.stem in err and "run make_cam first" in err
    out = _run(toy, tmp_path, capsys, "--make_cam_pass", "True")
    assert "15 of 16 outputs are up to date; redoing 1: 1 unreadable" in out
    assert load_cam(target)["high_res"].shape[1:] == (64, 64)


def test_downstream_steps_refuse_missing_upstream_outputs_before_work(toy, tmp_path, capsys, made_cams):
    (made_cams / f"{_names(toy)[5]}.npz").unlink()
    err = _fails(toy, tmp_path, capsys, "--cam_to_ir_label_pass", "True")
    assert "1 of 16 inputs are not usable: 1 missing" in err and "run make_cam first" in err
    assert not (tmp_path / "result" / "ir_label").exists()


def test_seeds_follow_the_thresholds(toy, tmp_path, capsys, made_cams):
    _run(toy, tmp_path, capsys, "--cam_to_ir_label_pass", "True")
    out = _run(toy, tmp_path, capsys, "--cam_to_ir_label_pass", "True", "--conf_fg_thres", "0.4")
    assert "16 made with other settings (conf_fg_thres: 0.3 -> 0.4)" in out


def test_temporaries_of_killed_runs_are_removed(toy, tmp_path, capsys, made_cams):
    leftover = made_cams / f"x.npz.tmp-{socket.gethostname()}-999999999"
    leftover.write_bytes(b"partial")
    out = _run(toy, tmp_path, capsys, "--make_cam_pass", "True")
    assert not leftover.exists() and "removed 1 temporary files" in out


def test_resume_with_other_settings_is_refused(toy, tmp_path, capsys, monkeypatch):
    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints, "save_final", killed)
    with pytest.raises(KeyboardInterrupt):
        run_sample.main(pipeline_argv(toy, tmp_path, "--train_cam_pass", "True"))
    monkeypatch.undo()
    err = _fails(toy, tmp_path, capsys, "--train_cam_pass", "True", "--cam_learning_rate", "0.05")
    assert "res50_cam.pth.resume was saved by a run with other settings (cam_learning_rate: 0.1 -> 0.05)" in err
    assert "delete it (or pass --overwrite True) to start over" in err
    out = _run(toy, tmp_path, capsys, "--train_cam_pass", "True", "--cam_learning_rate", "0.05", "--overwrite", "True")
    assert "ignoring" in out and (tmp_path / "sess" / "res50_cam.pth").is_file()


def test_train_amn_checks_its_eval_list_before_training(toy, tmp_path, capsys, made_cams):
    _run(toy, tmp_path, capsys, "--cam_to_ir_label_pass", "True")
    err = _fails(toy, tmp_path, capsys, "--train_amn_pass", "True", "--amn_eval_every_epoch", "True",
                 "--infer_list", str(tmp_path / "missing.txt"))
    assert "--infer_list" in err and "missing.txt does not exist" in err
    assert not list((tmp_path / "sess").glob("res50_amn*"))


def test_a_cam_checkpoint_as_amn_weights_says_what_it_is(toy, tmp_path, capsys, made_cams):
    _run(toy, tmp_path, capsys, "--cam_to_ir_label_pass", "True")
    err = _fails(toy, tmp_path, capsys, "--make_amn_cam_pass", "True",
                 "--amn_weights_name", str(tmp_path / "sess" / "res50_cam.pth"))
    assert "holds the weights of a CAM network (classifier 20x2048), not of AMN" in err


def test_an_empty_list_is_an_error(toy, tmp_path, capsys, made_cams):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    err = _fails(toy, tmp_path, capsys, "--make_cam_pass", "True", "--train_list", str(empty))
    assert "lists no image; nothing to do" in err


def test_debug_shows_the_traceback(toy, tmp_path):
    with pytest.raises(PipelineError, match="does not exist"):
        run_sample.main(pipeline_argv(toy, tmp_path, "--make_cam_pass", "True", "--debug",
                                      "--cam_weights_name", str(tmp_path / "none.pth")))


def test_a_full_disk_names_the_file(tmp_path, monkeypatch):
    from misc import fileio

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(PipelineError,
                       match=r"no space left on device while writing .*a\.png \(.* free\); free some space"):
        fileio.save_png(tmp_path / "a.png", np.zeros((2, 2)))
    assert os.listdir(tmp_path) == []
