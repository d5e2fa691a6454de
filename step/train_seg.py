"""Train the segmentation network (DeepLab-v2 MSC) on the final pseudo masks, with AdvCAM's settings on
deeplab-pytorch's training protocol."""
from __future__ import annotations

from pathlib import Path

import torch

from dataset import checks
from dataset.datasets import PseudoMaskDataset
from engine import checkpoints, devices, losses, planner, precision, training
from misc import distributed
from misc.errors import PipelineError
from misc.settings import declared
from net import deeplab_v2
from step._training import train_run, training_record

# The flags this step reads: its own, and those of the engines it calls (misc/settings.py).
SETTINGS = declared(training.SETTINGS, checks.SETTINGS, (
    "seg_batch_size", "seg_crop_size", "seg_depth", "seg_init_weights", "seg_input_norm", "seg_iter_max",
    "seg_iter_size", "seg_loss", "seg_lr", "seg_lr_decay", "seg_momentum", "seg_poly_power", "seg_save_interval",
    "seg_scales", "seg_train_list", "seg_weight_decay", "seg_weights_name", "sem_seg_out_dir",
))

# Flags whose change makes a saved .resume file unusable.
RESULT_FLAGS = ("dataset", "seg_train_list", "cls_labels", "seg_depth", "seg_batch_size", "seg_iter_size",
                "seg_iter_max", "seg_lr", "seg_momentum", "seg_weight_decay", "seg_poly_power", "seg_lr_decay",
                "seg_crop_size", "seg_scales", "seg_loss", "seed", "amp")
LR_MULTS = (1, 10, 20)


def seg_optimizer(model: torch.nn.Module, args) -> torch.optim.SGD:
    """SGD over deeplab-pytorch's three groups: backbone convs (lr), ASPP weights (10x), ASPP biases (20x, no
    weight decay)."""
    backbone, aspp_w, aspp_b = deeplab_v2.param_groups(model)
    return torch.optim.SGD([
        {"params": backbone, "lr": args.seg_lr, "weight_decay": args.seg_weight_decay},
        {"params": aspp_w, "lr": LR_MULTS[1] * args.seg_lr, "weight_decay": args.seg_weight_decay},
        {"params": aspp_b, "lr": LR_MULTS[2] * args.seg_lr, "weight_decay": 0.0},
    ], lr=args.seg_lr, momentum=args.seg_momentum)


def set_learning_rate(optimizer: torch.optim.Optimizer, iteration: int, args) -> None:
    """The poly schedule of 1-based ``iteration`` on every group, keeping the groups' multipliers."""
    for group, mult in zip(optimizer.param_groups, LR_MULTS):
        group["lr"] = deeplab_v2.poly_lr(mult * args.seg_lr, iteration, args.seg_iter_max, args.seg_poly_power,
                                         args.seg_lr_decay)


def input_norm_for(kind: str, flag: str) -> str:
    """The input normalisation: the flag's, or the one the initial weights were trained with."""
    return kind if flag == "auto" else flag


def check_init(args) -> Path:
    if not args.seg_init_weights:
        raise PipelineError("train_seg needs initial weights: pass --seg_init_weights PATH, e.g. deeplab-pytorch's "
                            "data/models/imagenet/deeplabv1_resnet101-imagenet.pth (converted Caffe ImageNet model) "
                            "or torchvision's resnet101-63fe2227.pth (from ~/.cache/torch/hub/checkpoints/)")
    path = Path(args.seg_init_weights)
    if not path.is_file():
        raise PipelineError(f"--seg_init_weights {path} does not exist; put deeplab-pytorch's converted Caffe model "
                            "(deeplabv1_resnet101-imagenet.pth / deeplabv1_resnet101-coco.pth) or torchvision's "
                            "resnet101-63fe2227.pth there, or name the file you have")
    return path


def run(args) -> None:
    spec, root, names = checks.check_inputs(args, "seg_train_list")
    labels = planner.upstream_digest(args.sem_seg_out_dir, names, ".png", "make_sem_seg (with --infer_list = "
                                   "--seg_train_list)")
    init = check_init(args)
    if args.seg_batch_size % args.seg_iter_size:
        raise PipelineError(f"--seg_batch_size {args.seg_batch_size} does not split into --seg_iter_size "
                            f"{args.seg_iter_size} equal batches")
    model = deeplab_v2.deeplabv2_msc(spec.n_classes + 1, depth=args.seg_depth)
    try:
        kind, described = deeplab_v2.load_init_weights(model, init)
    except (ValueError, KeyError) as err:
        raise PipelineError(f"--seg_init_weights: {err}") from err
    norm = input_norm_for(kind, args.seg_input_norm)
    print(f"train_seg: init {described}; input normalisation {norm}")
    record = training_record(args, RESULT_FLAGS, labels=labels, init=checkpoints.init_digest(str(init)),
                                         input_norm=norm)
    device = devices.training_device(args.device, args.dist_timeout_min)
    dataset = PseudoMaskDataset(names, args.sem_seg_out_dir, root, args.seg_crop_size, args.seg_scales, norm,
                                flip=True, spec=spec)
    loader = training.train_loader(dataset, args.seg_batch_size // args.seg_iter_size, args.num_workers, device,
                                   args.seed)
    optimizer = seg_optimizer(model, args)
    model.to(device)
    precision.use_channels_last(model, args.channels_last)
    frozen_bn = model.base.freeze_bn

    def train_step(net, pack):
        frozen_bn()  # the engine's train() turned BatchNorm back on
        with precision.autocast(device, args.amp):
            outputs = net(precision.batch_input(pack["img"], device, args.channels_last))
        loss = losses.msc_loss([o.float() for o in outputs], pack["label"], args.seg_loss)
        return loss, {"loss": loss.item(), "lr": optimizer.param_groups[0]["lr"]}

    schedule = training.Iterations(args.seg_iter_max, args.seg_iter_size, args.seg_save_interval)
    lr = training.LearningRate(lambda it: set_learning_rate(optimizer, it, args))
    run = train_run(args, args.seg_weights_name, "train_seg", record, device)
    training.train(model, optimizer, loader, schedule, run, train_step, hooks=[lr])
    checkpoints.save_final(args.seg_weights_name, model)
    distributed.save_on_master(checkpoints.write_seg_meta, args.seg_weights_name, {
        "network": "deeplabv2_msc", "depth": args.seg_depth, "n_classes": spec.n_classes + 1, "input_norm": norm,
        "init": str(init), "init_kind": kind, "iterations": args.seg_iter_max, "loss": args.seg_loss})
