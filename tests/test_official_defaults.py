"""Every training and inference hyper-parameter defaults to the official value.

Sources (each value below was read from them):
  VOC  = gaviotas/AMN branch voc12: run_sample.py's flags, and the values its steps hard-code
         (step/train_cam.py, step/train_amn.py, step/train_irn.py, step/make_sem_seg_labels.py)
  COCO = gaviotas/AMN branch coco14: run_sample_coco.py and step/*_coco.py
  IRN  = jiwoon-ahn/irn run_sample.py (IRN's seed thresholds, which the official AMN recipe passes to
         cam_to_ir_label: scripts/generate_pseudo_mask.sh)
The segmentation network's defaults (deeplab-pytorch) are pinned in tests/step/test_train_seg.py.
"""
import inspect

import pytest

import run_sample
from postprocess import random_walk
from step._config import data_config

# (flag, official value, where it is set)
SHARED = [
    # train_cam
    ("cam_network", "net.resnet50_cam", "run_sample.py --cam_network"),
    ("cam_crop_size", 512, "run_sample.py --cam_crop_size; train_cam.py crop_size=512"),
    ("cam_batch_size", 16, "run_sample.py --cam_batch_size"),
    ("cam_num_epoches", 5, "run_sample.py --cam_num_epoches"),
    ("cam_learning_rate", 0.1, "run_sample.py --cam_learning_rate"),
    ("cam_weight_decay", 1e-4, "run_sample.py --cam_weight_decay"),
    ("cam_resize_long", (320, 640), "train_cam.py resize_long=(320, 640)"),
    # make_cam / eval_cam / eval_amn_cam
    ("cam_scales", (1.0, 0.5, 1.5, 2.0), "run_sample.py --cam_scales"),
    ("cam_eval_thres", 0.25, "run_sample.py --cam_eval_thres"),
    # train_amn
    ("amn_network", "net.resnet50_amn", "run_sample.py --amn_network"),
    ("amn_crop_size", 512, "run_sample.py --amn_crop_size"),
    ("amn_batch_size", 16, "run_sample.py --amn_batch_size"),
    ("amn_num_epoches", 5, "run_sample.py --amn_num_epoches"),
    ("eps", 0.4, "run_sample.py --eps (coco14: --EPS)"),
    ("amn_backbone_lr", 5e-6, "train_amn.py Adam group 0 'lr': 5e-06"),
    ("amn_new_lr", 1e-4, "train_amn.py Adam group 1 'lr': 1e-04"),
    ("amn_weight_decay", 1e-4, "train_amn.py 'weight_decay': 1.0e-4 (both groups)"),
    ("amn_rescale", (0.5, 1.5), "train_amn.py rescale=(0.5, 1.5)"),
    ("amn_dropout_at_inference", False, "ours: the official dropout at inference is a bug (docs/differences.md)"),
    # train_irn
    ("irn_network", "net.resnet50_irn", "run_sample.py --irn_network"),
    ("irn_crop_size", 512, "run_sample.py --irn_crop_size"),
    ("irn_batch_size", 32, "run_sample.py --irn_batch_size"),
    ("irn_num_epoches", 3, "run_sample.py --irn_num_epoches"),
    ("irn_learning_rate", 0.1, "run_sample.py --irn_learning_rate"),
    ("irn_weight_decay", 1e-4, "run_sample.py --irn_weight_decay"),
    ("irn_rescale", (0.5, 1.5), "train_irn.py rescale=(0.5, 1.5)"),
    ("irn_seeds", "amn", "train_irn.py label_dir=args.amn_ir_label_out_dir"),
    # make_sem_seg / make_ins_seg
    ("beta", 10, "run_sample.py --beta"),
    ("exp_times", 8, "run_sample.py --exp_times"),
    ("sem_seg_power", 1.3, "make_sem_seg_labels.py np.power(cam, 1.3); coco14 --sem_seg_power 1.3"),
    ("ins_seg_bg_thres", 0.25, "run_sample.py --ins_seg_bg_thres"),
]
PER_DATASET = [
    ("voc12", "sem_seg_bg_thres", 0.25, "VOC run_sample.py --sem_seg_bg_thres"),
    ("coco14", "sem_seg_bg_thres", 0.22, "COCO run_sample_coco.py --sem_seg_bg_thres"),
    ("voc12", "train_list", "voc12/train_aug.txt", "VOC run_sample.py --train_list"),
    ("voc12", "infer_list", "voc12/train.txt", "VOC run_sample.py --infer_list"),
    ("coco14", "train_list", "coco14/train14.txt", "COCO run_sample_coco.py --train_list"),
    ("coco14", "infer_list", "coco14/train14.txt", "COCO run_sample_coco.py --infer_list"),
    ("voc12", "chainer_eval_set", "train", "VOC run_sample.py --chainer_eval_set"),
]
ROOTS = {"voc12": ["--voc12_root", "v"], "coco14": ["--dataset", "coco14", "--coco14_root", "c"]}


@pytest.mark.parametrize("dataset", ["voc12", "coco14"])
@pytest.mark.parametrize("flag,official,source", SHARED, ids=[s[0] for s in SHARED])
def test_shared_default_is_the_official_one(dataset, flag, official, source):
    value = getattr(run_sample.resolve(ROOTS[dataset])[0], flag)
    assert (tuple(value) if isinstance(value, (list, tuple)) else value) == official, source


@pytest.mark.parametrize("dataset,flag,official,source", PER_DATASET, ids=[f"{d}-{f}" for d, f, _, _ in PER_DATASET])
def test_dataset_default_is_the_official_one(dataset, flag, official, source):
    assert getattr(run_sample.resolve(ROOTS[dataset])[0], flag) == official, source


@pytest.mark.parametrize("dataset,kind,official,source", [
    ("voc12", "cam", (0.30, 0.05), "IRN run_sample.py --conf_fg_thres 0.30 --conf_bg_thres 0.05 (AMN's recipe)"),
    ("voc12", "amn", (0.45, 0.15), "VOC run_sample.py --conf_fg_thres 0.45 --conf_bg_thres 0.15"),
    ("coco14", "cam", (0.45, 0.15), "COCO run_sample_coco.py 0.45 / 0.15"),
    ("coco14", "amn", (0.45, 0.15), "COCO run_sample_coco.py 0.45 / 0.15"),
])
def test_seed_thresholds_are_the_official_ones(dataset, kind, official, source):
    args = run_sample.resolve(ROOTS[dataset])[0]
    assert data_config(args).seed_thresholds(kind) == official, source


def test_the_walk_uses_the_official_radius_and_beta():
    """make_sem_seg_labels.py: propagate_to_edge(..., beta=args.beta, exp_times=args.exp_times, radius=5)."""
    params = inspect.signature(random_walk.propagate_to_edge).parameters
    assert params["radius"].default == 5 and params["beta"].default == 10
