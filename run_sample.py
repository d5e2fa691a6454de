"""AMN pipeline driver: turn on steps with --<step>_pass True, as in the official run_sample.py.

  python run_sample.py --voc12_root VOCdevkit/VOC2012 --train_cam_pass True --make_cam_pass True ...
  python run_sample.py --demo          # toy dataset, every step, CPU preset, a few minutes

Steps run in pipeline order: CAM -> seeds -> AMN -> AMN seeds -> IRN -> masks -> report.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

from misc import pyutils
from step import STEPS



def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    b = pyutils.str2bool

    g = p.add_argument_group("environment")
    g.add_argument("--num_workers", default=min(os.cpu_count() or 1, 8) // 2 or 1, type=int,
                   help="data-loader workers and CRF processes (default: half the cores, at most 4)")
    g.add_argument("--voc12_root", default=None, type=str,
                   help="VOC 2012 devkit folder that holds JPEGImages/ (required unless --demo)")
    g.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda or cuda:N; "
                   "inference steps use every visible GPU, training uses one device")
    g.add_argument("--amp", default=False, type=b, help="bfloat16 autocast for training on CUDA")
    g.add_argument("--backbone_weights", default=None,
                   help="ImageNet ResNet-50 file (default: resnet50-19c8e357.pth or resnet50-0676ba61.pth in the "
                        "torch hub cache). 'none' trains from scratch; BatchNorm then trains too, since with "
                        "frozen random statistics nothing learns")
    g.add_argument("--overwrite", default=False, type=b, help="redo images whose outputs exist already")
    g.add_argument("--demo", action="store_true",
                   help="generate the toy dataset under data/ and run every step with a CPU preset")
    g.add_argument("--seed", default=0, type=int, help="random seed for training")

    g = p.add_argument_group("dataset")
    g.add_argument("--train_list", default="voc12/train_aug.txt", type=str)
    g.add_argument("--val_list", default="voc12/val.txt", type=str)
    g.add_argument("--infer_list", default="voc12/train.txt", type=str,
                   help="voc12/train_aug.txt to train a fully supervised model, "
                        "voc12/train.txt or voc12/val.txt to quickly check the quality of the labels")
    g.add_argument("--chainer_eval_set", default="train", type=str,
                   help="ImageSets/Segmentation split that the eval steps score against SegmentationClass/")
    g.add_argument("--cls_labels", default="voc12/cls_labels.npy", help="written by python -m voc12.prepare")

    g = p.add_argument_group("class activation map")
    g.add_argument("--cam_network", default="net.resnet50_cam", type=str)
    g.add_argument("--cam_crop_size", default=512, type=int)
    g.add_argument("--cam_resize_long", default=(320, 640), type=int, nargs=2,
                   help="random resize range of the long side before cropping")
    g.add_argument("--cam_batch_size", default=16, type=int)
    g.add_argument("--cam_num_epoches", default=5, type=int)
    g.add_argument("--cam_learning_rate", default=0.1, type=float)
    g.add_argument("--cam_weight_decay", default=1e-4, type=float)
    g.add_argument("--cam_eval_thres", default=0.25, type=float)
    g.add_argument("--cam_scales", default=(1.0, 0.5, 1.5, 2.0), type=float, nargs="+",
                   help="multi-scale inference")
    g.add_argument("--sweep_thresholds", default=[round(0.01 * i, 2) for i in range(61)], type=float, nargs="+",
                   help="background thresholds of the eval sweep (default 0.00 to 0.60 by 0.01)")

    g = p.add_argument_group("AMN")
    g.add_argument("--amn_network", default="net.resnet50_amn", type=str)
    g.add_argument("--amn_crop_size", default=512, type=int)
    g.add_argument("--amn_batch_size", default=16, type=int)
    g.add_argument("--amn_num_epoches", default=5, type=int)
    g.add_argument("--amn_backbone_lr", default=5e-6, type=float)
    g.add_argument("--amn_new_lr", default=1e-4, type=float, help="learning rate of label_enc and the ASPP head")
    g.add_argument("--amn_weight_decay", default=1e-4, type=float)
    g.add_argument("--amn_rescale", default=(0.5, 1.5), type=float, nargs=2)
    g.add_argument("--amn_backbone_weights", default=None,
                   help="initial backbone for AMN (default: --backbone_weights); may be a CAM checkpoint")
    g.add_argument("--amn_eval_every_epoch", default=True, type=b,
                   help="score AMN on --infer_list after each epoch, as the official code does")
    g.add_argument("--amn_dropout_at_inference", default=False, type=b,
                   help="keep dropout on in make_amn_cam, as the official code (unintentionally) does")
    g.add_argument("--eps", default=0.4, type=float, help="label smoothing of the AMN target")

    g = p.add_argument_group("seeds (mining inter-pixel relations)")
    g.add_argument("--conf_fg_thres", default=None, type=float,
                   help="foreground threshold; default 0.30 for cam_to_ir_label (IRN) and 0.45 for "
                        "amn_cam_to_ir_label (AMN)")
    g.add_argument("--conf_bg_thres", default=None, type=float,
                   help="background threshold; default 0.05 for cam_to_ir_label and 0.15 for amn_cam_to_ir_label")

    g = p.add_argument_group("inter-pixel relation network (IRN)")
    g.add_argument("--irn_network", default="net.resnet50_irn", type=str)
    g.add_argument("--irn_crop_size", default=512, type=int)
    g.add_argument("--irn_batch_size", default=32, type=int)
    g.add_argument("--irn_num_epoches", default=3, type=int)
    g.add_argument("--irn_learning_rate", default=0.1, type=float)
    g.add_argument("--irn_weight_decay", default=1e-4, type=float)
    g.add_argument("--irn_rescale", default=(0.5, 1.5), type=float, nargs=2)
    g.add_argument("--irn_backbone_weights", default=None,
                   help="IRN's frozen backbone (default: --backbone_weights); may be a CAM checkpoint")
    g.add_argument("--irn_seeds", default="amn", choices=("amn", "cam"),
                   help="train IRN on the AMN seeds (the AMN recipe) or on the CAM seeds (plain IRN)")

    g = p.add_argument_group("random walk")
    g.add_argument("--beta", default=10, type=float)
    g.add_argument("--exp_times", default=8, type=int,
                   help="the random walk is performed 2^exp_times times")
    g.add_argument("--sem_seg_bg_thres", default=0.25, type=float)
    g.add_argument("--sem_seg_power", default=1.3, type=float, help="CAMs are raised to this power before the walk")

    g = p.add_argument_group("output paths")
    g.add_argument("--log_name", default="sample_train_eval", type=str)
    g.add_argument("--cam_weights_name", default="sess/res50_cam.pth", type=str)
    g.add_argument("--amn_weights_name", default="sess/res50_amn.pth", type=str,
                   help="also finds the released sess/res50_amn.pth.pth")
    g.add_argument("--irn_weights_name", default="sess/res50_irn.pth", type=str)
    g.add_argument("--result_dir", default="result", type=str, help="eval JSON files and the report go here")
    g.add_argument("--cam_out_dir", default="result/cam", type=str)
    g.add_argument("--ir_label_out_dir", default="result/ir_label", type=str)
    g.add_argument("--amn_cam_out_dir", default="result/amn_cam", type=str)
    g.add_argument("--amn_ir_label_out_dir", default="result/amn_ir_label", type=str)
    g.add_argument("--sem_seg_out_dir", default="result/sem_seg", type=str)
    g.add_argument("--report_images", default=12, type=int, help="overlay rows in the report")

    g = p.add_argument_group("steps")
    for flag, _ in STEPS:
        g.add_argument(f"--{flag}", type=b, default=False)
    return p


def run_steps(args) -> dict[str, float]:
    """Run the enabled steps in order; returns seconds per step."""
    timings = {}
    for flag, module in STEPS:
        if getattr(args, flag):
            name = module.split(".")[-1]
            print(f"=== {name}", flush=True)
            start = time.time()
            importlib.import_module(module).run(args)
            timings[name] = time.time() - start
            print(f"step.{name}: {timings[name]:.1f}s", flush=True)
    return timings


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    if args.demo:
        from step import demo
        demo.configure(args)
    elif args.voc12_root is None:
        build_parser().error("--voc12_root is required (or use --demo)")
    import torch
    torch.manual_seed(args.seed)
    os.makedirs(os.path.dirname(args.log_name) or ".", exist_ok=True)
    logger = pyutils.Logger(args.log_name + ".log")
    print(" ".join(sys.argv))
    print(vars(args))
    try:
        timings = run_steps(args)
        if args.demo:
            demo.print_summary(args, timings)
    finally:
        logger.close()


if __name__ == "__main__":
    main()
