"""The driver's flags: every official flag with its official default, grouped as ``--help`` shows them; each
help says which steps read the flag. Every boolean also takes ``--flag`` alone and ``--no_flag``."""
from __future__ import annotations

import argparse

from dataset import registry
from misc import pyutils
from step import STAGES, STEPS

# Which steps read the flags that several steps share.
LISTS_HELP = {
    "train_list": "images to train on and to make CAMs/seeds for [train_cam, make_cam, cam_to_ir_label, train_amn, "
                  "make_amn_cam, amn_cam_to_ir_label, train_irn]",
    "val_list": "validation images of the classifier [train_cam]",
    "infer_list": "images to make final and instance masks for, to evaluate AMN on after each epoch and to estimate "
                  "IRN's mean displacement on [make_sem_seg, make_ins_seg, train_amn, train_irn]; "
                  "voc12/train_aug.txt to train a "
                  "segmentation model, voc12/train.txt or voc12/val.txt to check the masks quickly",
}

STEP_HELP = {
    "train_cam_pass": "train the multi-label classifier (CAM network)",
    "make_cam_pass": "multi-scale CAMs of --train_list into --cam_out_dir",
    "eval_cam_pass": "mIoU of the CAMs at --cam_eval_thres and over the threshold sweep",
    "cam_to_ir_label_pass": "CRF-refined seeds of the CAMs into --ir_label_out_dir",
    "train_amn_pass": "train AMN on the CAM seeds",
    "make_amn_cam_pass": "AMN maps of --train_list into --amn_cam_out_dir",
    "eval_amn_cam_pass": "mIoU of the AMN maps at --cam_eval_thres and over the sweep",
    "amn_cam_to_ir_label_pass": "CRF-refined seeds of the AMN maps into --amn_ir_label_out_dir",
    "train_irn_pass": "train IRN's boundary and displacement branches on the seeds",
    "make_ins_seg_pass": "IRN's instance masks of --infer_list from the CAMs in --cam_out_dir into --ins_seg_out_dir",
    "export_ins_coco_pass": "the instance masks as a COCO instances file (--ins_coco_json) for Mask R-CNN, and the "
                            "eval list's instance ground truth (--ins_gt_coco_json)",
    "eval_ins_seg_pass": "instance AP of the instance masks: VOC mAP at IoU 0.5 (SegmentationObject/ ground truth) "
                         "and COCO's mask AP (pycocotools; also on COCO)",
    "make_sem_seg_pass": "final masks of --infer_list by IRN's random walk into --sem_seg_out_dir",
    "eval_sem_seg_pass": "mIoU of the final masks, and over the sweep of --sem_seg_bg_thres (from --sem_seg_map_dir)",
    "train_seg_pass": "train the segmentation network (DeepLab-v2) on the final masks of --seg_train_list",
    "make_seg_pass": "its masks of --seg_eval_list (and --seg_test_list) before and after the CRF, into --seg_out_dir",
    "eval_seg_pass": "mIoU of the segmentation network on --seg_eval_list, before and after the CRF",
    "make_report_pass": "threshold curve, summary and overlays into <result_dir>/report",
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the description's layout and shows every flag's default."""


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    """The driver's parser: every official flag and default, grouped as in --help."""
    p = argparse.ArgumentParser(description=description, formatter_class=HelpFormatter)
    _environment_flags(p)
    _dataset_flags(p)
    _cam_flags(p)
    _amn_flags(p)
    _seeds_flags(p)
    _irn_flags(p)
    _random_walk_flags(p)
    _segmentation_flags(p)
    _output_paths_flags(p)
    _run_folder_flags(p)
    _steps_flags(p)
    _bare_and_negated_booleans(p)
    _show_dataset_defaults(p)
    return p


def _environment_flags(p: argparse.ArgumentParser) -> None:
    """The "environment" flags."""
    b = pyutils.str2bool
    g = p.add_argument_group("environment")
    g.add_argument("--num_workers", default=None, type=int,
                   help="data-loader workers and the processes of CPU work (CRFs, evaluations, make_ins_seg's "
                        "centroid search, the COCO export, the report's figures). None: on the CPU half the cores, "
                        "at most 4 (the "
                        "network computes there too); on GPUs the cores divided among torchrun's local processes, "
                        "at most 16 (inference splits them over its devices) [every step]")
    g.add_argument("--device", default="auto",
                   help="auto (CUDA if available), cpu, cuda (every visible GPU), cuda:N, or a comma-separated list "
                        "(cuda:0,cuda:2; cpu,cpu runs two CPU workers through the multi-GPU path). Inference "
                        "steps spawn one worker per listed device; training uses the first; under torchrun local "
                        "rank r takes the r-th (modulo the list) [every network step]")
    g.add_argument("--dist_timeout_min", default=120, type=float,
                   help="collective timeout of torchrun's process group, in minutes: rank 0 alone evaluates, "
                        "validates and estimates IRN's mean shift while the others wait, which outlasts NCCL's "
                        "10-minute default on COCO-sized lists [every step under torchrun]")
    g.add_argument("--amp", default=False, type=b,
                   help="bfloat16 autocast of the backbones for training and inference, on CUDA or the CPU; heads, "
                        "losses and saved maps stay float32 [train_*, make_*]")
    g.add_argument("--channels_last", default=False, type=b,
                   help="NHWC memory format for the networks and their inputs [train_*, make_cam, make_amn_cam]")
    g.add_argument("--tf32", default=None, type=pyutils.str2bool_or_auto,
                   help="True: TF32 matrix products and convolutions on Ampere and later GPUs; False: neither (full "
                        "fp32); auto (None): PyTorch's defaults, TF32 convolutions only [every network step]")
    g.add_argument("--deterministic", default=False, type=b,
                   help="also use torch's deterministic algorithms (and cuDNN's on CUDA); slower [every step]")
    g.add_argument("--backbone_weights", default=None,
                   help="ImageNet ResNet-50 file (None: resnet50-19c8e357.pth or resnet50-0676ba61.pth in the "
                        "torch hub cache). 'none' trains from scratch; BatchNorm then trains too [train_*]")
    g.add_argument("--overwrite", default=False, type=b,
                   help="redo every output, even up-to-date ones, recompute evaluations whose inputs did not "
                        "change, and ignore .resume files [every step]")
    g.add_argument("--demo", action="store_true",
                   help="generate the toy dataset under data/ and run every step with a CPU preset; flags you give "
                        "override the preset, dataset flags are refused")
    g.add_argument("--seed", default=0, type=int,
                   help="seeds Python, NumPy and torch at the start of every step and in every process "
                        "(so a step run on its "
                        "own gives what it gives inside the pipeline); with it the batches and every sample's "
                        "augmentation depend on (seed, epoch, index) alone [train_*]")
    g.add_argument("--seeds", default=None, type=str,
                   help="comma-separated seeds (0,1,2): run the chosen steps once per seed (as --seed k) into "
                        "<work_dir>/seed_<k>/, one after another, each resumable, then write the mean, std, min "
                        "and max of every evaluated stage to <work_dir>/seeds.json and seeds.md; needs --work_dir "
                        "[driver]")
    g.add_argument("--debug", action="store_true", help="show the full traceback of an error")


def _dataset_flags(p: argparse.ArgumentParser) -> None:
    """The "dataset" flags."""
    g = p.add_argument_group("dataset")
    g.add_argument("--dataset", default="voc12", choices=registry.names(),
                   help="which dataset; it sets the lists, labels, class count and seed defaults [every step]")
    g.add_argument("--voc12_root", default=None, type=str,
                   help="VOC 2012 devkit folder that holds JPEGImages/ (with --dataset voc12)")
    g.add_argument("--coco14_root", default=None, type=str,
                   help="COCO 2014 folder with train2014/, val2014/ and annotations/ (with --dataset coco14)")
    g.add_argument("--folder_root", default=None, type=str,
                   help="the --out_dir of python -m dataset.folder (with --dataset folder)")
    g.add_argument("--gt_dir", default=None, type=str,
                   help="folder of ground-truth PNGs <id>.png to evaluate against instead of the dataset's own "
                        "[eval_*, make_report, train_amn]")
    for flag, default in (("train_list", "voc12/train_aug.txt"), ("val_list", "voc12/val.txt"),
                          ("infer_list", "voc12/train.txt")):
        g.add_argument(f"--{flag}", default=default, type=str, help=LISTS_HELP[flag])
    g.add_argument("--chainer_eval_set", default="train", type=str,
                   help="split the eval steps score: VOC ImageSets/Segmentation/<set>.txt, COCO coco14/<set>14.txt, "
                        "folder <root>/<set>.txt [eval_*, make_report]")
    g.add_argument("--cls_labels", default="voc12/cls_labels.npy",
                   help="image-level labels written by the dataset's prepare command [every step]")


def _cam_flags(p: argparse.ArgumentParser) -> None:
    """The "class activation map" flags."""
    g = p.add_argument_group("class activation map")
    g.add_argument("--cam_network", default="net.resnet50_cam", type=str, help="the CAM network: a name in "
                   "net.registry (resnet50_cam) or the official module path [train_cam, make_cam]")
    g.add_argument("--cam_crop_size", default=512, type=int, help="training crop [train_cam]")
    g.add_argument("--cam_resize_long", default=(320, 640), type=int, nargs=2,
                   help="random resize range of the long side before cropping [train_cam]")
    g.add_argument("--cam_batch_size", default=16, type=int, help="batch size [train_cam]")
    g.add_argument("--cam_num_epoches", default=5, type=int, help="epochs [train_cam]")
    g.add_argument("--cam_learning_rate", default=0.1, type=float, help="learning rate of the backbone; the "
                   "classifier gets 10x [train_cam]")
    g.add_argument("--cam_weight_decay", default=1e-4, type=float, help="weight decay [train_cam]")
    g.add_argument("--cam_eval_thres", default=0.25, type=float,
                   help="background threshold of the reported mIoU [eval_cam, eval_amn_cam]")
    g.add_argument("--cam_scales", default=(1.0, 0.5, 1.5, 2.0), type=float, nargs="+",
                   help="multi-scale inference [make_cam, make_amn_cam]")
    g.add_argument("--sweep_thresholds", default=[round(0.01 * i, 2) for i in range(61)], type=float, nargs="+",
                   help="background thresholds of the eval sweep, 0.00 to 0.60 by 0.01 [eval_cam, eval_amn_cam]")


def _amn_flags(p: argparse.ArgumentParser) -> None:
    """The "AMN" flags."""
    b = pyutils.str2bool
    g = p.add_argument_group("AMN")
    g.add_argument("--amn_network", default="net.resnet50_amn", type=str, help="AMN's network: a name in net.registry "
                   "(resnet50_amn) or the official module path [train_amn, make_amn_cam]")
    g.add_argument("--amn_crop_size", default=512, type=int, help="training crop [train_amn]")
    g.add_argument("--amn_batch_size", default=16, type=int, help="batch size [train_amn]")
    g.add_argument("--amn_num_epoches", default=5, type=int, help="epochs [train_amn]")
    g.add_argument("--amn_backbone_lr", default=5e-6, type=float, help="learning rate of the backbone [train_amn]")
    g.add_argument("--amn_new_lr", default=1e-4, type=float, help="learning rate of label_enc and the ASPP head "
                   "[train_amn]")
    g.add_argument("--amn_weight_decay", default=1e-4, type=float, help="weight decay [train_amn]")
    g.add_argument("--amn_rescale", default=(0.5, 1.5), type=float, nargs=2, help="random rescale range "
                   "[train_amn]")
    g.add_argument("--amn_backbone_weights", default=None,
                   help="initial backbone for AMN (None: --backbone_weights); may be a CAM checkpoint [train_amn]")
    g.add_argument("--amn_eval_every_epoch", default=True, type=b,
                   help="score AMN on --infer_list after each epoch, as the official code does [train_amn]")
    g.add_argument("--amn_dropout_at_inference", default=False, type=b,
                   help="keep dropout on in make_amn_cam, as the official code (unintentionally) does "
                        "[train_amn, make_amn_cam]")
    g.add_argument("--eps", default=0.4, type=float, help="label smoothing of the AMN target [train_amn]")


def _seeds_flags(p: argparse.ArgumentParser) -> None:
    """The "seeds (mining inter-pixel relations)" flags."""
    g = p.add_argument_group("seeds (mining inter-pixel relations)")
    g.add_argument("--conf_fg_thres", default=None, type=float,
                   help="foreground threshold; None: 0.30 for cam_to_ir_label (IRN) and 0.45 for "
                        "amn_cam_to_ir_label (AMN) on VOC, 0.45 for both on COCO [cam_to_ir_label, "
                        "amn_cam_to_ir_label]")
    g.add_argument("--conf_bg_thres", default=None, type=float,
                   help="background threshold; None: 0.05 for cam_to_ir_label and 0.15 for amn_cam_to_ir_label on "
                        "VOC, 0.15 for both on COCO [cam_to_ir_label, amn_cam_to_ir_label]")


def _irn_flags(p: argparse.ArgumentParser) -> None:
    """The "inter-pixel relation network (IRN)" flags."""
    g = p.add_argument_group("inter-pixel relation network (IRN)")
    g.add_argument("--irn_network", default="net.resnet50_irn", type=str, help="IRN's network: a name in "
                   "net.registry (resnet50_irn) or the official module path [train_irn]")
    g.add_argument("--irn_crop_size", default=512, type=int, help="training crop; also sizes the path index of "
                   "make_sem_seg [train_irn, make_sem_seg]")
    g.add_argument("--irn_batch_size", default=32, type=int, help="batch size [train_irn]")
    g.add_argument("--irn_num_epoches", default=3, type=int, help="epochs [train_irn]")
    g.add_argument("--irn_learning_rate", default=0.1, type=float, help="learning rate [train_irn]")
    g.add_argument("--irn_weight_decay", default=1e-4, type=float, help="weight decay [train_irn]")
    g.add_argument("--irn_rescale", default=(0.5, 1.5), type=float, nargs=2, help="random rescale range "
                   "[train_irn]")
    g.add_argument("--irn_backbone_weights", default=None,
                   help="IRN's frozen backbone (None: --backbone_weights); may be a CAM checkpoint [train_irn]")
    g.add_argument("--irn_seeds", default="amn", choices=("amn", "cam"),
                   help="use the AMN seeds and maps (the AMN recipe) or the CAM ones (plain IRN) "
                        "[train_irn, make_sem_seg]")


def _random_walk_flags(p: argparse.ArgumentParser) -> None:
    """The "random walk" flags."""
    g = p.add_argument_group("random walk")
    g.add_argument("--beta", default=10, type=float, help="sharpness of the affinities [make_sem_seg]")
    g.add_argument("--exp_times", default=8, type=int,
                   help="the random walk is performed 2^exp_times times [make_sem_seg]")
    g.add_argument("--sem_seg_bg_thres", default=0.25, type=float,
                   help="background threshold of the walked maps; 0.22 on COCO [make_sem_seg]")
    g.add_argument("--sem_seg_power", default=1.3, type=float, help="CAMs are raised to this power before the walk "
                   "[make_sem_seg]")
    g.add_argument("--ins_seg_bg_thres", default=0.25, type=float,
                   help="background threshold of the walked instance maps [make_ins_seg]")


def _segmentation_flags(p: argparse.ArgumentParser) -> None:
    """The "segmentation network (DeepLab-v2 on the pseudo masks; AdvCAM's settings)" flags."""
    b = pyutils.str2bool
    g = p.add_argument_group("segmentation network (DeepLab-v2 on the pseudo masks; AdvCAM's settings)")
    g.add_argument("--seg_train_list", default="voc12/train_aug.txt", type=str,
                   help="images whose final masks (--sem_seg_out_dir; make them with --infer_list set to this list) "
                        "train the network [train_seg]")
    g.add_argument("--seg_eval_list", default="voc12/val.txt", type=str,
                   help="images to segment and score against the ground truth [make_seg, eval_seg]")
    g.add_argument("--seg_test_list", default=None, type=str,
                   help="images without ground truth to segment too (VOC: voc12/test.txt, with VOC2012test "
                        "extracted into --voc12_root), written for the evaluation server [make_seg]")
    g.add_argument("--seg_init_weights", default=None, type=str,
                   help="initial backbone, never downloaded: deeplab-pytorch's converted Caffe model "
                        "(deeplabv1_resnet101-imagenet.pth, as AdvCAM; or the COCO-trained "
                        "deeplabv1_resnet101-coco.pth) or torchvision's ImageNet resnet101-63fe2227.pth; our CAM/AMN "
                        "checkpoints work with --seg_depth 50. Never torchvision's COCO-trained segmentation "
                        "weights: they have seen pixel labels, which voids a weakly supervised claim [train_seg]")
    g.add_argument("--seg_input_norm", default="auto", choices=("auto", "caffe", "torchvision"),
                   help="input normalisation: caffe = BGR minus the mean pixel, torchvision = RGB with ImageNet "
                        "mean and std; auto = the init's (train_seg) or the one recorded beside the weights, else "
                        "caffe (make_seg) [train_seg, make_seg]")
    g.add_argument("--seg_depth", default=101, type=int, choices=(50, 101),
                   help="ResNet depth of DeepLab-v2 (101 as released; 50 for the CPU demo) [train_seg, make_seg]")
    g.add_argument("--seg_batch_size", default=10, type=int, help="images per optimizer step [train_seg]")
    g.add_argument("--seg_iter_size", default=1, type=int,
                   help="split each step's batch into this many accumulated batches, to save memory (deeplab-pytorch "
                        "uses 5 x 2) [train_seg]")
    g.add_argument("--seg_iter_max", default=30000, type=int, help="optimizer steps; 100000 on COCO [train_seg]")
    g.add_argument("--seg_lr", default=2.5e-4, type=float,
                   help="learning rate of the backbone; ASPP weights get 10x, its biases 20x; 2e-4 on COCO "
                        "[train_seg]")
    g.add_argument("--seg_momentum", default=0.9, type=float, help="SGD momentum [train_seg]")
    g.add_argument("--seg_weight_decay", default=5e-4, type=float, help="weight decay (none on the ASPP biases) "
                   "[train_seg]")
    g.add_argument("--seg_poly_power", default=0.9, type=float, help="power of the poly schedule [train_seg]")
    g.add_argument("--seg_lr_decay", default=10, type=int,
                   help="the poly learning rate is recomputed every this many steps (deeplab-pytorch's LR_DECAY) "
                        "[train_seg]")
    g.add_argument("--seg_crop_size", default=321, type=int, help="training crop [train_seg]")
    g.add_argument("--seg_scales", default=(0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0), type=float, nargs="+",
                   help="training rescale factors, one drawn per image [train_seg]")
    g.add_argument("--seg_loss", default="balanced", choices=("balanced", "ce"),
                   help="balanced: DSRG's balanced cross-entropy (background and foreground pixels weigh equally), "
                        "as AdvCAM; ce: plain pixel-averaged cross-entropy [train_seg]")
    g.add_argument("--seg_save_interval", default=1000, type=int,
                   help="write a resumable checkpoint every this many steps [train_seg]")
    g.add_argument("--seg_test_scales", default=(1.0,), type=float, nargs="+",
                   help="input scales averaged at inference, on top of the network's own 1/0.5/0.75 [make_seg]")
    g.add_argument("--seg_flip", default=True, type=b, help="average with the mirrored image [make_seg]")
    g.add_argument("--seg_crf", default=True, type=b, help="also write dense-CRF refined masks [make_seg, eval_seg]")
    g.add_argument("--seg_crf_iter_max", default=10, type=int, help="CRF iterations [make_seg]")
    g.add_argument("--seg_crf_pos_w", default=3, type=float, help="CRF Gaussian kernel weight [make_seg]")
    g.add_argument("--seg_crf_pos_xy_std", default=1, type=float, help="CRF Gaussian kernel xy std [make_seg]")
    g.add_argument("--seg_crf_bi_w", default=4, type=float, help="CRF bilateral kernel weight [make_seg]")
    g.add_argument("--seg_crf_bi_xy_std", default=67, type=float, help="CRF bilateral kernel xy std [make_seg]")
    g.add_argument("--seg_crf_bi_rgb_std", default=3, type=float, help="CRF bilateral kernel rgb std [make_seg]")
    g.add_argument("--seg_crf_labels", default="all", choices=("all", "present"),
                   help="classes the CRF runs over: all (the official CRF: every class of the dataset, 81 on COCO, "
                        "about 6 s an image there) or present (background and the classes whose probability "
                        "exceeds 1e-3 somewhere in the image; see docs/benchmarks.md for its agreement) [make_seg]")


def _output_paths_flags(p: argparse.ArgumentParser) -> None:
    """The "output paths (COCO and folder datasets append _coco / _folder)" flags."""
    g = p.add_argument_group("output paths (COCO and folder datasets append _coco / _folder)")
    g.add_argument("--log_name", default="sample_train_eval", type=str, help="log file, without .log")
    g.add_argument("--cam_weights_name", default="sess/res50_cam.pth", type=str,
                   help="CAM network weights; also finds the released sess/res50_cam.pth.pth [train_cam, make_cam]")
    g.add_argument("--amn_weights_name", default="sess/res50_amn.pth", type=str,
                   help="AMN weights; also finds the released sess/res50_amn.pth.pth [train_amn, make_amn_cam]")
    g.add_argument("--irn_weights_name", default="sess/res50_irn.pth", type=str,
                   help="IRN weights [train_irn, make_sem_seg]")
    g.add_argument("--seg_weights_name", default="sess/deeplabv2_resnet101_msc.pth", type=str,
                   help="segmentation network weights (a plain state dict in deeplab-pytorch's layout, with "
                        "<name>.json beside it) [train_seg, make_seg]")
    g.add_argument("--result_dir", default="result", type=str, help="eval JSON files and the report go here")
    g.add_argument("--cam_out_dir", default="result/cam", type=str, help="CAM files [make_cam and its readers]")
    g.add_argument("--ir_label_out_dir", default="result/ir_label", type=str,
                   help="CAM seeds [cam_to_ir_label, train_amn, make_amn_cam]")
    g.add_argument("--amn_cam_out_dir", default="result/amn_cam", type=str,
                   help="AMN maps [make_amn_cam and its readers]")
    g.add_argument("--amn_ir_label_out_dir", default="result/amn_ir_label", type=str,
                   help="AMN seeds [amn_cam_to_ir_label, train_irn]")
    g.add_argument("--sem_seg_out_dir", default="result/sem_seg", type=str, help="final masks [make_sem_seg, "
                   "eval_sem_seg]")
    g.add_argument("--sem_seg_map_dir", default="result/sem_seg_maps", type=str,
                   help="walked stride-4 maps <id>.npz that make_sem_seg keeps for the threshold sweep of the final "
                        "masks; none keeps none [make_sem_seg, eval_sem_seg]")
    g.add_argument("--ins_seg_out_dir", default="result/ins_seg", type=str,
                   help="instance masks <id>.npz [make_ins_seg, eval_ins_seg, make_report]")
    g.add_argument("--seg_out_dir", default="result/seg", type=str,
                   help="logits and masks of the segmentation network, eval/ and test/ [make_seg, eval_seg]")
    g.add_argument("--ins_coco_json", default=None, type=str,
                   help="COCO instances file of the instance pseudo labels (None: <result_dir>/ins_seg_coco.json) "
                        "[export_ins_coco]")
    g.add_argument("--ins_gt_coco_json", default=None, type=str,
                   help="COCO instances file of the eval list's instance ground truth (None: "
                        "<result_dir>/ins_gt_coco.json) [export_ins_coco]")
    g.add_argument("--ins_coco_min_score", default=0.0, type=float,
                   help="leave out instances scoring below this; 0.01 drops IRN's small fragments, which score 0 "
                        "[export_ins_coco]")
    g.add_argument("--ins_coco_min_area", default=0, type=int,
                   help="leave out instances smaller than this many pixels [export_ins_coco]")
    g.add_argument("--report_images", default=12, type=int, help="overlay rows in the report [make_report]")


def _run_folder_flags(p: argparse.ArgumentParser) -> None:
    """The "run folder, config and step choice" flags."""
    b = pyutils.str2bool
    g = p.add_argument_group("run folder, config and step choice")
    g.add_argument("--work_dir", default=None,
                   help="one folder for everything the run writes: weights, maps, seeds, masks, evals, the report, "
                        "run.log, config.yaml and metrics.jsonl (explicit path flags still win); locked while a run "
                        "uses it. None: the official sess/ and result/ layout")
    g.add_argument("--config", default=None,
                   help="YAML file of flag values by name (without dashes); the command line overrides it "
                        "(configs/ ships voc12, coco14, folder and demo)")
    g.add_argument("--print_config", action="store_true",
                   help="print the resolved settings, each marked with where it came from, and exit writing nothing")
    g.add_argument("--steps", default=None,
                   help=f"comma-separated stages ({', '.join(STAGES)}) or step names (train_cam, make_sem_seg, ...) "
                        "to run, besides any --<step>_pass True")
    g.add_argument("--start", default=None, choices=tuple(STAGES),
                   help="run every stage from this one (to --stop, else to the end), as the recipe's START")
    g.add_argument("--stop", default=None, choices=tuple(STAGES), help="last stage of --start (or from the first)")
    g.add_argument("--log_every", default=50, type=int,
                   help="a training line (smoothed losses, lr, images/s, ETA, peak memory) and a metrics.jsonl "
                        "record every this many iterations [train_*]")
    g.add_argument("--tensorboard", default=False, type=b,
                   help="also write TensorBoard events under <run folder>/tb/ (needs the tensorboard package) "
                        "[train_*]")


def _steps_flags(p: argparse.ArgumentParser) -> None:
    """The "steps (each runs when set to True)" flags."""
    b = pyutils.str2bool
    g = p.add_argument_group("steps (each runs when set to True)")
    for flag, _ in STEPS:
        g.add_argument(f"--{flag}", type=b, default=False, help=STEP_HELP[flag])


def _bare_and_negated_booleans(p: argparse.ArgumentParser) -> None:
    """Every ``--flag True/False`` also takes ``--flag`` alone and ``--no_flag`` (or ``--no-flag``)."""
    for action in list(p._actions):
        if action.type is pyutils.str2bool:
            action.nargs, action.const = "?", True
            p.add_argument(f"--no_{action.dest}", f"--no-{action.dest}", dest=action.dest, action="store_false",
                           help=argparse.SUPPRESS)


def _show_dataset_defaults(p: argparse.ArgumentParser) -> None:
    """Append each dataset's own default to the help of the flags it changes."""
    defaults = {a.dest: a.default for a in p._actions}
    per_dataset = {name: registry.step_defaults(name, defaults, "<folder_root>") for name in ("coco14", "folder")}
    for action in p._actions:
        shown = [f"{name}: {values[action.dest]}" for name, values in per_dataset.items() if action.dest in values]
        if shown and action.help:
            action.help += f" ({'; '.join(shown)})"
