"""make_cam, make_amn_cam, eval_cam and one optimizer step of train_cam, train_amn and train_irn against the
official steps run on the same image, weights and samples (tests/data/network_voc12.npz, made by
tests/data/make_network_goldens.py, which says what it redirected to run the official code on the CPU)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import run_sample
from dataset.spec import save_cls_labels, voc_palette
from engine import checkpoints
from goldens import det_state, load_det, network_golden
from misc.fileio import load_cam
from net import resnet50_amn, resnet50_cam, resnet50_irn

DROPOUT_SEED = 1234  # the golden script's: a pre-hook reseeds before AMN's dropout draws its mask


@pytest.fixture(scope="module")
def golden():
    return network_golden("voc12")


@pytest.fixture(scope="module")
def made(golden, tmp_path_factory):
    """Our make_cam, make_amn_cam and eval_cam (at each golden threshold) on the golden's image."""
    tmp = tmp_path_factory.mktemp("official_steps")
    name = str(golden["make/image_id"])
    root = tmp / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True)
    (root / "JPEGImages" / f"{name}.jpg").write_bytes(golden["make/jpeg"].tobytes())
    gt = Image.fromarray(golden["make/gt"], mode="P")
    gt.putpalette(voc_palette().reshape(-1).tolist())  # without a palette Pillow writes a 1-bit PNG
    gt.save(root / "SegmentationClass" / f"{name}.png")
    (root / "ImageSets/Segmentation/train.txt").write_text(name + "\n")
    (tmp / "list.txt").write_text(name + "\n")
    save_cls_labels(tmp / "cls_labels.npy", {name: golden["make/label"]})
    (tmp / "ir_label").mkdir()
    Image.fromarray(golden["make/seed_label"]).save(tmp / "ir_label" / f"{name}.png")
    torch.save(det_state("res50_cam"), tmp / "res50_cam.pth")
    torch.save(det_state("res50_amn"), tmp / "res50_amn.pth")
    base = ["--voc12_root", str(root), "--train_list", str(tmp / "list.txt"),
            "--cls_labels", str(tmp / "cls_labels.npy"),
            "--chainer_eval_set", "train", "--device", "cpu", "--num_workers", "0",
            "--cam_weights_name", str(tmp / "res50_cam.pth"), "--amn_weights_name", str(tmp / "res50_amn.pth"),
            "--cam_out_dir", str(tmp / "cam"), "--amn_cam_out_dir", str(tmp / "amn_cam"),
            "--ir_label_out_dir", str(tmp / "ir_label"), "--result_dir", str(tmp / "result"),
            "--log_name", str(tmp / "log")]
    run_sample.main(base + ["--make_cam_pass", "True", "--make_amn_cam_pass", "True"])
    evals = {}
    for t in golden["eval_cam/thresholds"]:
        run_sample.main(base + ["--eval_cam_pass", "True", "--cam_eval_thres", str(float(t))])
        evals[float(t)] = json.loads((tmp / "result" / "cam.json").read_text())
    return {"cam": load_cam(tmp / "cam" / f"{name}.npz"), "amn": load_cam(tmp / "amn_cam" / f"{name}.npz"),
            "eval": evals, "base": base, "result": tmp / "result" / "cam.json"}


def test_make_cam_merges_scales_as_the_official_step(golden, made):
    np.testing.assert_array_equal(made["cam"]["keys"], golden["make_cam/keys"])
    np.testing.assert_allclose(made["cam"]["cam"], golden["make_cam/cam"], atol=1e-5)
    np.testing.assert_allclose(made["cam"]["high_res"], golden["make_cam/high_res"], atol=1e-5)


def test_make_amn_cam_postprocesses_as_the_official_step(golden, made):
    # Our files keep the foreground rows only (docs/differences.md); the official row 0 is the background.
    np.testing.assert_array_equal(made["amn"]["keys"], golden["make_amn_cam/keys"])
    np.testing.assert_allclose(made["amn"]["cam"], golden["make_amn_cam/cam"][1:], atol=1e-5)
    np.testing.assert_allclose(made["amn"]["high_res"], golden["make_amn_cam/high_res"][1:], atol=1e-5)


def test_eval_cam_scores_as_the_official_step_at_each_threshold(golden, made):
    from voc12.dataloader import CAT_LIST

    classes = ["background", *CAT_LIST]
    for t, rec in made["eval"].items():
        official = golden[f"eval_cam/{t}/iou"]
        present = [c for c in range(len(official)) if not np.isnan(official[c])]
        ours = [rec["per_class_iou"][classes[c]] for c in present]
        np.testing.assert_allclose(ours, official[present], atol=1e-9, err_msg=f"threshold {t}")
        assert rec["miou"] == pytest.approx(float(golden[f"eval_cam/{t}/miou"]), abs=1e-9)


# ----------------------------------------------------------------------------- one optimizer step


class FixedSamples(torch.utils.data.Dataset):
    """The golden's samples in place of a step's dataset (augmentations draw differently; see the script, which
    has its own copy: it imports nothing of this project, whose packages share the official names)."""

    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return self.samples[i]


def assert_update_matches(golden, prefix: str, final: dict, init: dict) -> None:
    keys = [str(k) for k in golden[f"{prefix}/keys"]]
    assert set(keys) <= set(final)
    norms = np.array([float((final[k].double() - init[k].double()).norm()) for k in keys])
    heads = np.stack([np.pad((final[k].double() - init[k].double()).flatten()[:16].numpy(),
                             (0, max(0, 16 - final[k].numel()))) for k in keys])
    moved = norms > 0
    assert moved.any()
    np.testing.assert_array_equal(moved, golden[f"{prefix}/delta_norm"] > 0, err_msg="which weights the step moves")
    np.testing.assert_allclose(norms, golden[f"{prefix}/delta_norm"], rtol=1e-3, atol=1e-7)
    np.testing.assert_allclose(heads, golden[f"{prefix}/delta_head"], rtol=1e-3, atol=1e-6)


def _train(monkeypatch, toy, tmp_path, step_module, dataset_names, build, extra):
    """Run one training step through the driver with the golden's network (``build(**kwargs)``, called with the
    step's network arguments) and samples; returns the network's weights before the step."""
    init = {}

    def build_network(module, cls, **kwargs):
        net = build(**kwargs)
        init.update({k: v.clone() for k, v in net.state_dict().items()})
        return net

    monkeypatch.setattr(checkpoints, "build_network", build_network)
    monkeypatch.setattr(checkpoints, "init_backbone", lambda model, spec: None)
    for attr, samples in dataset_names.items():
        monkeypatch.setattr(step_module, attr, lambda *a, _s=samples, **k: FixedSamples(_s))
    run_sample.main(["--voc12_root", str(toy.root), "--train_list", str(toy.meta / "train.txt"),
                     "--infer_list", str(toy.meta / "train.txt"), "--val_list", str(toy.meta / "train.txt"),
                     "--cls_labels", str(toy.meta / "cls_labels.npy"), "--device", "cpu", "--num_workers", "0",
                     "--log_name", str(tmp_path / "log"), *extra])
    return init


def _seed_folder(toy, folder):
    """Seed PNGs for the toy's names: the step checks they exist; the fixed samples replace them."""
    folder.mkdir()
    for n in (toy.meta / "train.txt").read_text().split():
        Image.fromarray(np.zeros((64, 64), np.uint8)).save(folder / f"{n}.png")
    return folder


def test_a_rerun_eval_reuses_its_current_result_until_an_input_or_setting_changes(golden, made, capsys):
    last = float(golden["eval_cam/thresholds"][-1])
    before = made["result"].read_text()
    capsys.readouterr()
    run_sample.main(made["base"] + ["--eval_cam_pass", "True", "--cam_eval_thres", str(last)])
    assert "is current (same images, inputs and settings); not recomputed" in capsys.readouterr().out
    assert made["result"].read_text() == before
    run_sample.main(made["base"] + ["--eval_cam_pass", "True", "--cam_eval_thres", str(last),
                                    "--sweep_thresholds", "0.1", "0.2"])
    assert "not recomputed" not in capsys.readouterr().out
    assert json.loads(made["result"].read_text())["sweep"]["thresholds"] == sorted({0.1, 0.2, last})
    run_sample.main(made["base"] + ["--eval_cam_pass", "True", "--cam_eval_thres", str(last), "--overwrite", "True"])
    assert "not recomputed" not in capsys.readouterr().out
    assert json.loads(made["result"].read_text()) == json.loads(before)  # recomputed, same numbers


def test_one_train_cam_step_equals_the_official_step(golden, toy, tmp_path, monkeypatch):
    from step import train_cam

    imgs, labels = torch.from_numpy(golden["train_cam/img"]), torch.from_numpy(golden["train_cam/label"])
    samples = [{"name": f"s{i}", "img": imgs[i], "label": labels[i]} for i in range(2)]
    weights = tmp_path / "res50_cam.pth"
    init = _train(monkeypatch, toy, tmp_path, train_cam, {"ClassificationDataset": samples},
                  lambda **k: load_det(resnet50_cam.Net(n_classes=20), "res50_cam"),
                  ["--train_cam_pass", "True", "--cam_batch_size", "2", "--cam_num_epoches", "1",
                   "--cam_weights_name", str(weights)])
    assert_update_matches(golden, "train_cam", torch.load(weights, weights_only=True), init)


def test_one_train_amn_step_equals_the_official_step(golden, toy, tmp_path, monkeypatch):
    from step import train_amn

    seeds = _seed_folder(toy, tmp_path / "ir_label")
    sample = {"name": "s0", "img": torch.from_numpy(golden["train_amn/img"]),
              "label": torch.from_numpy(golden["train_amn/seed_label"]),
              "label_cls": torch.from_numpy(golden["train_amn/label_cls"])}

    def build(**kwargs):
        net = load_det(resnet50_amn.Net(n_classes=20), "res50_amn")
        net.classifier[0].register_forward_pre_hook(lambda m, i: torch.manual_seed(DROPOUT_SEED) and None)
        return net

    weights = tmp_path / "res50_amn.pth"
    init = _train(monkeypatch, toy, tmp_path, train_amn, {"SeedDataset": [sample]}, build,
                  ["--train_amn_pass", "True", "--amn_batch_size", "1", "--amn_num_epoches", "1",
                   "--amn_eval_every_epoch", "False", "--ir_label_out_dir", str(seeds),
                   "--amn_backbone_weights", "none", "--amn_weights_name", str(weights)])
    assert_update_matches(golden, "train_amn", torch.load(weights, weights_only=True), init)


def test_one_train_irn_step_and_mean_shift_equal_the_official_ones(golden, toy, tmp_path, monkeypatch):
    from step import train_irn

    seeds = _seed_folder(toy, tmp_path / "amn_ir_label")
    imgs = torch.from_numpy(golden["train_irn/img"])
    train = [{"name": f"s{i}", "img": imgs[i],
              **{f"aff_{k}_label": torch.from_numpy(golden[f"train_irn/aff_{g}/{i}"])
                 for k, g in (("bg_pos", "bg"), ("fg_pos", "fg"), ("neg", "neg"))}} for i in range(2)]
    infer = [{"name": f"s{i}", "img": imgs[i]} for i in range(2)]
    weights = tmp_path / "res50_irn.pth"
    inits = _train(monkeypatch, toy, tmp_path, train_irn, {"AffinityDataset": train, "ImageDataset": infer},
                   lambda path_index: load_det(resnet50_irn.AffinityDisplacementLoss(path_index), "res50_irn"),
                   ["--train_irn_pass", "True", "--irn_crop_size", "96", "--irn_batch_size", "2",
                    "--irn_num_epoches", "1", "--amn_ir_label_out_dir", str(seeds), "--irn_backbone_weights", "none",
                    "--irn_weights_name", str(weights)])
    final = torch.load(weights, weights_only=True)
    assert_update_matches(golden, "train_irn", final, inits)
    np.testing.assert_allclose(final["mean_shift.running_mean"].numpy(), golden["train_irn/mean_shift"], atol=1e-5)
