"""One small end-to-end pass of every step on a tiny toy set (CPU, about a minute)."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

import run_sample
from dataset.spec import load_img_name_list
from engine import checkpoints
from helpers import pipeline_argv, tiny_settings
from misc.fileio import load_cam


@pytest.mark.slow
def test_every_step_runs_and_writes_its_outputs(toy, tmp_path):
    passes = [f"--{flag}" for flag, _ in run_sample.STEPS]
    run_sample.main(pipeline_argv(toy, tmp_path, *[x for p in passes for x in (p, "True")]))
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
    masks = json.loads((res / "sem_seg.json").read_text())
    swept = dict(zip(masks["sweep"]["thresholds"], masks["sweep"]["miou"]))
    assert len(swept) == 61 and abs(swept[0.25] - masks["miou"]) < 0.01  # the kept maps reproduce the masks
    report = res / "report"
    assert Image.open(report / "threshold_curve.png").size == (640, 400)
    rows = sorted((report / "overlays").glob("*.png"))
    assert len(rows) == 3 and Image.open(rows[0]).size == (6 * 160, 160 + 18)
    assert "Threshold-robustness report" in (report / "summary.md").read_text()
    page = (report / "report.html").read_text()
    assert 'id="threshold"' in page and '"sem_seg": {"miou"' in page and '"per_class": [[' in page
    assert (tmp_path / "sess" / "res50_irn.pth").is_file() and not (tmp_path / "sess" / "res50_irn.pth.resume").exists()
    with np.load(res / "ins_seg" / f"{names[0]}.npz", allow_pickle=False) as ins:
        k = len(ins["score"])
        assert ins["score"].dtype == np.float32 and ins["mask"].shape == (k, 64, 64) and ins["mask"].dtype == bool
        assert set(ins["class"].tolist()) <= {int(c) + 1 for c in cam["keys"]}
    rec = json.loads((res / "ins_seg.json").read_text())
    assert set(rec["ap"]) == set(vocdata_classes()) and (rec["map"] is None or 0 <= rec["map"] <= 1)
    assert 0 <= rec["coco"]["ap"] <= rec["coco"]["ap50"] <= 1
    assert set(rec["coco"]["per_class"]) == set(vocdata_classes())
    _assert_coco_exports(res, n_images=16, n_eval=16)
    assert "Instance masks" in (report / "summary.md").read_text() and list((report / "instances").glob("*.png"))
    seg = json.loads((res / "seg.json").read_text())
    assert seg["n_images"] == 4 and 0 <= seg["miou"] <= 1 and 0 <= seg["crf"]["miou"] <= 1
    val = (toy.meta / "val.txt").read_text().split()
    for sub in ("raw", "crf"):
        assert sorted(p.stem for p in (res / "seg" / "eval" / sub).glob("*.png")) == sorted(val)
    assert Image.open(res / "seg" / "eval" / "crf" / f"{val[0]}.png").size == (64, 64)
    assert json.loads((tmp_path / "sess" / "deeplab.pth.json").read_text())["input_norm"] == "torchvision"
    assert "segmentation net + CRF" in (report / "summary.md").read_text()


def _assert_coco_exports(res, n_images: int, n_eval: int) -> None:
    """pycocotools reads both COCO files; the pseudo labels cover --infer_list, the ground truth the eval list."""
    from pycocotools.coco import COCO

    labels, gt = COCO(str(res / "ins_seg_coco.json")), COCO(str(res / "ins_gt_coco.json"))
    assert len(labels.getImgIds()) == n_images and len(gt.getImgIds()) == n_eval and gt.getAnnIds()
    assert all("score" in a for a in labels.loadAnns(labels.getAnnIds()))


@pytest.mark.slow
def test_make_steps_skip_existing_outputs_and_overwrite_redoes_them(toy, tmp_path):
    argv = pipeline_argv(toy, tmp_path, "--train_cam_pass", "True", "--make_cam_pass", "True")
    run_sample.main(argv)
    target = tmp_path / "result" / "cam" / (toy.meta / "train.txt").read_text().split()[0]
    target = target.with_suffix(".npz")
    stamp = target.stat().st_mtime_ns
    run_sample.main(pipeline_argv(toy, tmp_path, "--make_cam_pass", "True"))
    assert target.stat().st_mtime_ns == stamp
    run_sample.main(pipeline_argv(toy, tmp_path, "--make_cam_pass", "True", "--overwrite", "True"))
    assert target.stat().st_mtime_ns != stamp


@pytest.mark.slow
def test_training_resumes_from_its_checkpoint(toy, tmp_path, capsys, monkeypatch):
    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints, "save_final", killed)
    with pytest.raises(KeyboardInterrupt):
        run_sample.main(pipeline_argv(toy, tmp_path, "--train_cam_pass", "True"))
    sess = tmp_path / "sess"
    assert (sess / "res50_cam.pth.resume").is_file() and not (sess / "res50_cam.pth").exists()
    monkeypatch.undo()
    run_sample.main(pipeline_argv(toy, tmp_path, "--train_cam_pass", "True"))
    assert "resuming from" in capsys.readouterr().out
    assert (sess / "res50_cam.pth").is_file() and not (sess / "res50_cam.pth.resume").exists()


@pytest.mark.slow
def test_segmentation_network_resumes_mid_run_to_the_same_weights_and_writes_a_test_submission(toy, tmp_path,
                                                                                               monkeypatch):
    done = tmp_path / "done"
    run_sample.main(pipeline_argv(toy, done, "--train_cam_pass", "True", "--make_cam_pass", "True",
                                  "--cam_to_ir_label_pass", "True", "--train_amn_pass", "True",
                                  "--make_amn_cam_pass", "True", "--amn_cam_to_ir_label_pass", "True",
                                  "--train_irn_pass", "True", "--make_sem_seg_pass", "True"))
    seg_flags = lambda root: ["--seg_iter_max", "4", "--seg_save_interval", "2", "--seg_init_weights",  # noqa: E731
                              str(done / "sess" / "res50_cam.pth"), "--sem_seg_out_dir",
                              str(done / "result" / "sem_seg"), "--seg_weights_name", str(root / "seg.pth")]
    run_sample.main(pipeline_argv(toy, done, "--train_seg_pass", "True", *seg_flags(tmp_path / "a")))
    real = checkpoints.save_resume

    def killed(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints, "save_resume", killed)
    with pytest.raises(KeyboardInterrupt):
        run_sample.main(pipeline_argv(toy, done, "--train_seg_pass", "True", *seg_flags(tmp_path / "b")))
    assert (tmp_path / "b" / "seg.pth.resume").is_file() and not (tmp_path / "b" / "seg.pth").exists()
    monkeypatch.undo()
    run_sample.main(pipeline_argv(toy, done, "--train_seg_pass", "True", *seg_flags(tmp_path / "b")))
    a, b = (torch.load(tmp_path / x / "seg.pth", weights_only=True) for x in "ab")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    out = tmp_path / "seg_out"
    run_sample.main(pipeline_argv(toy, done, "--make_seg_pass", "True",
                                  "--seg_weights_name", str(tmp_path / "a" / "seg.pth"),
                                  "--seg_test_list", str(toy.meta / "val.txt"), "--seg_out_dir", str(out),
                                  "--seg_crf", "False"))
    sub = out / "results" / "VOC2012" / "Segmentation" / "comp6_test_cls"
    val = (toy.meta / "val.txt").read_text().split()
    assert sorted(p.stem for p in sub.glob("*.png")) == sorted(val)
    png = Image.open(sub / f"{val[0]}.png")
    assert png.mode == "P" and png.size == (64, 64)
    np.testing.assert_array_equal(np.asarray(png), np.asarray(Image.open(out / "test" / "raw" / f"{val[0]}.png")))


def test_driver_requires_a_dataset():
    with pytest.raises(SystemExit):
        run_sample.main([])


def vocdata_classes():
    from voc12.dataloader import CAT_LIST
    return CAT_LIST


ALL_STEPS = [x for flag, _ in run_sample.STEPS for x in (f"--{flag}", "True")]


def _assert_pipeline_outputs(tmp_path, names, n_classes):
    res = tmp_path / "result"
    for sub, suffix in (("cam", ".npz"), ("amn_cam", ".npz"), ("amn_ir_label", ".png"), ("sem_seg", ".png")):
        assert sorted(p.stem for p in (res / sub).glob(f"*{suffix}")) == sorted(names), sub
    sd = torch.load(tmp_path / "sess" / "res50_amn.pth", weights_only=True)
    assert sd["label_enc.weight"].shape == (2048, n_classes)


@pytest.mark.slow
def test_coco_pipeline_end_to_end(tmp_path):
    from coco14 import prepare, toy

    root = toy.generate(tmp_path / "coco", num_train=12, num_val=4, size=64)
    meta = tmp_path / "meta"
    prepare.prepare(str(root), str(meta))
    names = (meta / "train14.txt").read_text().split()
    run_sample.main(["--dataset", "coco14", "--coco14_root", str(root), "--train_list", str(meta / "train14.txt"),
                     "--val_list", str(meta / "val14.txt"), "--infer_list", str(meta / "train14.txt"),
                     "--cls_labels", str(meta / "cls_labels.npy"), *tiny_settings(tmp_path), *ALL_STEPS])
    _assert_pipeline_outputs(tmp_path, names, 80)
    rec = json.loads((tmp_path / "result" / "sem_seg.json").read_text())
    assert rec["dataset"] == "coco14" and len(rec["per_class_iou"]) == 81 and "toothbrush" in rec["per_class_iou"]
    ins = json.loads((tmp_path / "result" / "ins_seg.json").read_text())
    assert ins["map"] is None and 0 <= ins["coco"]["ap"] <= 1 and len(ins["coco"]["per_class"]) == 80
    _assert_coco_exports(tmp_path / "result", n_images=12, n_eval=12)  # the eval set is train14 by default
    gt = json.loads((tmp_path / "result" / "ins_gt_coco.json").read_text())
    assert {c["id"] for c in gt["categories"]} >= {1, 90}
    assert gt["images"][0]["file_name"].startswith("train2014/COCO_train2014_")
    empty = load_cam(tmp_path / "result" / "cam" / f"{names[1]}.npz")  # the toy's image without annotation
    assert empty["keys"].size == 0
    assert not np.asarray(Image.open(tmp_path / "result" / "sem_seg" / f"{names[1]}.png")).any()


def _own_folder(toy, tmp_path):
    """The toy's images as users have them: names with spaces, accents and dots in nested folders, repeated
    file names, several file forms, a phone photo stored turned with its EXIF orientation, and a spreadsheet
    CSV (BOM, CRLF, a quoted name with a comma). Returns (images, masks, labels CSV, toy name -> ID)."""
    from voc12.dataloader import CAT_LIST, load_cls_labels

    images, masks = tmp_path / "own images", tmp_path / "own masks"
    labels = load_cls_labels(toy.meta / "cls_labels.npy")
    names = sorted(labels)
    stems = ["café photo", "IMG 0001.v2.final", "日本 写真", "dinner, with friends", "001", "001"]
    forms = [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp"), ("CMYK", ".jpeg"), ("L", ".PNG"), ("P", ".png")]
    ids, rows = {}, ["image,labels"]
    for i, name in enumerate(names):
        folder = ["trip 2024", "cats", "dogs", "ünïcode/deeper"][i % 4]
        iid = f"{folder}/{stems[i % len(stems)]} {i}" if i % 5 else f"{folder}/{stems[i % len(stems)]}"
        form, ext = forms[i % len(forms)]
        img = Image.open(toy.root / "JPEGImages" / f"{name}.jpg").convert("RGB")
        (images / iid).parent.mkdir(parents=True, exist_ok=True)
        if i == 1:  # the phone photo, 64x48 upright: raw pixels turned, displayed upright by EXIF orientation 6
            exif = Image.Exif()
            exif[0x0112] = 6
            img = img.crop((0, 0, 64, 48))
            img.transpose(Image.Transpose.ROTATE_90).save(images / f"{iid}.jpg", exif=exif, quality=95)
            ext = ".jpg"
        elif form == "CMYK":
            img.convert("CMYK").save(images / f"{iid}{ext}", format="JPEG", quality=95)
        elif form in ("L", "P"):
            img.convert(form).save(images / f"{iid}{ext}", format="PNG")
        else:
            img.save(images / f"{iid}{ext}", format=form, **({"lossless": True} if form == "WEBP" else {}))
        (masks / iid).parent.mkdir(parents=True, exist_ok=True)
        mask = Image.open(toy.root / "SegmentationClass" / f"{name}.png")
        (mask.crop((0, 0, 64, 48)) if i == 1 else mask).save(masks / f"{iid}.png")
        classes = ";".join(CAT_LIST[c] for c in np.flatnonzero(labels[name]))
        key = f"{iid}{ext}"
        rows.append(f'"{key}",{classes}' if "," in key else f"{key},{classes}")
        ids[name] = iid
    csv = tmp_path / "labels.csv"
    csv.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode("utf-8") + b"\r\n")
    return images, masks, csv, ids


@pytest.mark.slow
def test_own_images_with_any_name_and_form_run_every_step(toy, tmp_path):
    from dataset import folder
    from voc12.dataloader import CAT_LIST

    images, masks, csv, ids = _own_folder(toy, tmp_path)
    spec = folder.prepare(str(images), str(csv), str(tmp_path / "mine"), masks=str(masks), val_fraction=0.25,
                          classes=list(CAT_LIST))
    assert sorted(spec.files) == sorted(ids.values())
    run_sample.main(["--dataset", "folder", "--folder_root", str(tmp_path / "mine"), *tiny_settings(tmp_path),
                     *ALL_STEPS])
    res, train = tmp_path / "result", load_img_name_list(tmp_path / "mine" / "train.txt")
    assert len(train) == 15 and set(train) < set(ids.values())
    for sub, suffix in (("cam", ".npz"), ("amn_cam", ".npz"), ("ir_label", ".png"), ("amn_ir_label", ".png"),
                        ("sem_seg", ".png"), ("ins_seg", ".npz")):
        for iid in train:
            assert (res / sub / f"{iid}{suffix}").is_file(), (sub, iid)
    phone = sorted(ids)[1]  # the phone photo's outputs have the upright image's size
    assert ids[phone] in train
    assert load_cam(res / "cam" / f"{ids[phone]}.npz")["high_res"].shape[1:] == (48, 64)
    assert np.asarray(Image.open(res / "sem_seg" / f"{ids[phone]}.png")).shape == (48, 64)
    for stage in ("cam", "amn_cam", "sem_seg"):
        rec = json.loads((res / f"{stage}.json").read_text())
        assert rec["n_images"] == len(train) and rec["dataset"] == "folder"
    coco = json.loads((res / "ins_seg_coco.json").read_text())
    assert sorted(im["file_name"] for im in coco["images"]) == sorted(spec.files[i] for i in train)
    page = (res / "report" / "report.html").read_text(encoding="utf-8")
    assert any(json.dumps(iid, ensure_ascii=False)[1:-1] in page for iid in ids.values())


@pytest.mark.slow
def test_a_work_dir_run_leaves_its_settings_log_and_metrics(toy, tmp_path):
    argv = pipeline_argv(toy, tmp_path, "--train_cam_pass", "True", "--make_cam_pass", "True", "--log_every", "1")
    for flag in ("--cam_weights_name", "--cam_out_dir", "--result_dir", "--log_name"):  # leave them to --work_dir
        i = argv.index(flag)
        del argv[i:i + 2]
    work = tmp_path / "exp"
    run_sample.main([*argv, "--work_dir", str(work)])
    assert (work / "res50_cam.pth").is_file() and len(list((work / "cam").glob("*.npz"))) == 16
    log = (work / "run.log").read_text()
    assert "\r" not in log and "=== make_cam" in log and "[train_cam] it 2/2" in log
    assert log.count("train_cam 1/1: 100%") == 1  # the progress bar's final state, once
    config = (work / "config.yaml").read_text()
    assert f"cam_out_dir: {work / 'cam'}  # --work_dir" in config and "train_cam_pass: true  # command line" in config
    records = [json.loads(x) for x in (work / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records if "loss" in r] == [1, 2] and any("val_loss" in r for r in records)
    assert all(r["step"] == "train_cam" for r in records) and records[1]["images_per_s"] > 0
    assert records[1]["lr"] > 0 and records[1]["eta_s"] == 0
    assert not (work / ".lock").exists()


def test_a_second_run_on_a_locked_work_dir_exits_at_once(toy, tmp_path, capsys):
    import os
    import socket

    work = tmp_path / "exp"
    work.mkdir()
    (work / ".lock").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": "now"}))
    with pytest.raises(SystemExit, match=f"{work} is in use by process {os.getpid()}"):
        run_sample.main(pipeline_argv(toy, tmp_path, "--make_cam_pass", "True", "--work_dir", str(work),
                                      "--result_dir", str(work)))
    assert (work / ".lock").exists() and not (work / "cam").exists()
