"""One small end-to-end pass of every step on a tiny toy set (CPU, about a minute)."""
import json

import numpy as np
import pytest
from PIL import Image

import run_sample
from misc.fileio import load_cam


def _argv(toy, tmp_path, *extra):
    out = tmp_path / "result"
    sess = tmp_path / "sess"
    return ["--voc12_root", str(toy.root), "--train_list", str(toy.meta / "train.txt"),
            "--val_list", str(toy.meta / "val.txt"), "--infer_list", str(toy.meta / "train.txt"),
            "--cls_labels", str(toy.meta / "cls_labels.npy"), "--device", "cpu", "--num_workers", "0",
            "--backbone_weights", "none", "--cam_scales", "1.0", "0.5",
            "--cam_crop_size", "64", "--cam_resize_long", "56", "72", "--cam_batch_size", "8", "--cam_num_epoches", "1",
            "--amn_crop_size", "64", "--amn_batch_size", "8", "--amn_num_epoches", "1",
            "--amn_backbone_weights", str(sess / "res50_cam.pth"), "--irn_backbone_weights", str(sess / "res50_cam.pth"),
            "--irn_crop_size", "96", "--irn_batch_size", "8", "--irn_num_epoches", "1", "--exp_times", "4",
            "--cam_weights_name", str(sess / "res50_cam.pth"), "--amn_weights_name", str(sess / "res50_amn.pth"),
            "--irn_weights_name", str(sess / "res50_irn.pth"), "--result_dir", str(out),
            "--cam_out_dir", str(out / "cam"), "--ir_label_out_dir", str(out / "ir_label"),
            "--amn_cam_out_dir", str(out / "amn_cam"), "--amn_ir_label_out_dir", str(out / "amn_ir_label"),
            "--sem_seg_out_dir", str(out / "sem_seg"), "--log_name", str(tmp_path / "log"),
            "--report_images", "3", *extra]


def test_every_step_runs_and_writes_its_outputs(toy, tmp_path):
    passes = [f"--{flag}" for flag, _ in run_sample.STEPS]
    run_sample.main(_argv(toy, tmp_path, *[x for p in passes for x in (p, "True")]))
    res = tmp_path / "result"
    names = (toy.meta / "train.txt").read_text().split()
    for sub, suffix in (("cam", ".npz"), ("ir_label", ".png"), ("amn_cam", ".npz"), ("amn_ir_label", ".png"),
                        ("sem_seg", ".png")):
        assert sorted(p.stem for p in (res / sub).glob(f"*{suffix}")) == sorted(names), sub
    cam = load_cam(res / "cam" / f"{names[0]}.npz")
    assert cam["high_res"].shape[1:] == (64, 64) and cam["cam"].shape[1:] == (16, 16)
    assert cam["high_res"].max() <= 1.0
    amn = load_cam(res / "amn_cam" / f"{names[0]}.npz")
    np.testing.assert_array_equal(amn["keys"], cam["keys"])
    seed = np.asarray(Image.open(res / "amn_ir_label" / f"{names[0]}.png"))
    assert set(np.unique(seed)) <= {0, 255} | {int(k) + 1 for k in cam["keys"]}
    for stage in ("cam", "amn_cam", "sem_seg"):
        rec = json.loads((res / f"{stage}.json").read_text())
        assert rec["n_images"] == 16 and 0 <= rec["miou"] <= 1
        assert set(rec) >= {"eval_set", "ground_truth", "per_class_iou", "bg_fp", "bg_fn", "fg_fp", "fg_fn"}
    assert len(json.loads((res / "cam.json").read_text())["sweep"]["miou"]) == 61
    report = res / "report"
    assert Image.open(report / "threshold_curve.png").size == (640, 400)
    rows = sorted((report / "overlays").glob("*.png"))
    assert len(rows) == 3 and Image.open(rows[0]).size == (6 * 160, 160 + 18)
    assert "Threshold-robustness report" in (report / "summary.md").read_text()
    assert (tmp_path / "sess" / "res50_irn.pth").is_file() and not (tmp_path / "sess" / "res50_irn.pth.resume").exists()


def test_make_steps_skip_existing_outputs_and_overwrite_redoes_them(toy, tmp_path):
    argv = _argv(toy, tmp_path, "--train_cam_pass", "True", "--make_cam_pass", "True")
    run_sample.main(argv)
    target = tmp_path / "result" / "cam" / (toy.meta / "train.txt").read_text().split()[0]
    target = target.with_suffix(".npz")
    stamp = target.stat().st_mtime_ns
    run_sample.main(_argv(toy, tmp_path, "--make_cam_pass", "True"))
    assert target.stat().st_mtime_ns == stamp
    run_sample.main(_argv(toy, tmp_path, "--make_cam_pass", "True", "--overwrite", "True"))
    assert target.stat().st_mtime_ns != stamp


def test_training_resumes_from_its_checkpoint(toy, tmp_path, capsys, monkeypatch):
    from step import training

    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "save_final", killed)
    with pytest.raises(KeyboardInterrupt):
        run_sample.main(_argv(toy, tmp_path, "--train_cam_pass", "True"))
    sess = tmp_path / "sess"
    assert (sess / "res50_cam.pth.resume").is_file() and not (sess / "res50_cam.pth").exists()
    monkeypatch.undo()
    run_sample.main(_argv(toy, tmp_path, "--train_cam_pass", "True"))
    assert "resuming from" in capsys.readouterr().out
    assert (sess / "res50_cam.pth").is_file() and not (sess / "res50_cam.pth.resume").exists()


def test_driver_requires_a_dataset():
    with pytest.raises(SystemExit):
        run_sample.main([])
