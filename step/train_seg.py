"""Train the segmentation network (DeepLab-v2 MSC) on the final pseudo masks, with AdvCAM's settings on
deeplab-pytorch's training protocol."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from misc import distributed
from misc.errors import PipelineError
from misc.fileio import atomic_open
from net import deeplab_v2
from step import stage, training
from voc12.segmentation import PseudoMaskDataset

# Flags whose change makes a saved .resume file unusable.
RESULT_FLAGS = ("dataset", "seg_train_list", "cls_labels", "seg_depth", "seg_batch_size", "seg_iter_size",
                "seg_iter_max", "seg_lr", "seg_momentum", "seg_weight_decay", "seg_poly_power", "seg_lr_decay",
                "seg_crop_size", "seg_scales", "seg_loss", "seed", "amp")
LR_MULTS = (1, 10, 20)
MIN_PROB = 1e-4  # DSRG's floor on the softmax probabilities of its balanced seed loss


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


def resize_labels(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Labels (B, H, W) resized to an output's (h, w) with PIL's nearest neighbour, as deeplab-pytorch does
    (``F.interpolate``'s nearest samples other pixels and misaligns the labels)."""
    out = [np.asarray(Image.fromarray(lab.numpy().astype(np.uint8)).resize((size[1], size[0]), Image.NEAREST))
           for lab in labels.cpu()]
    return torch.from_numpy(np.stack(out).astype(np.int64))


def balanced_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    """DSRG's balanced seed loss (its SeedLossLayer3): per image, the mean -log p over background pixels plus
    the mean -log p over foreground pixels, averaged over the batch; p is the softmax floored at 1e-4 and
    renormalised. Background and foreground count equally however unequal their areas."""
    n_class = logits.shape[1]
    log_softmax = F.log_softmax(logits.float(), dim=1)
    # The floor lives on the logits' device: CUDA's logaddexp takes no CPU operand, not even a scalar.
    floor = torch.full((), np.log(MIN_PROB), dtype=log_softmax.dtype, device=log_softmax.device)
    log_p = torch.logaddexp(log_softmax, floor) - np.log1p(n_class * MIN_PROB)
    valid = labels != ignore_index
    nll = -log_p.gather(1, labels.clamp(0, n_class - 1).unsqueeze(1)).squeeze(1) * valid
    bg, fg = valid & (labels == 0), valid & (labels > 0)
    per_image = [(nll * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp(min=MIN_PROB) for m in (bg, fg)]
    return (per_image[0] + per_image[1]).mean()


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    """Pixel-averaged cross-entropy; under DDP averaged over the global batch's labelled pixels.

    Gathered from log_softmax rather than F.cross_entropy(reduction="sum"), whose CUDA kernel (nll_loss2d)
    has no deterministic version and raises under --deterministic."""
    n_class = logits.shape[1]
    valid = labels != ignore_index
    log_p = F.log_softmax(logits.float(), dim=1).gather(1, labels.clamp(0, n_class - 1).unsqueeze(1)).squeeze(1)
    total = -(log_p * valid).sum()
    count = distributed.global_sum((labels != ignore_index).sum().float())
    return total / count.clamp(min=1) * distributed.gradient_scale()


def msc_loss(outputs: list[torch.Tensor], labels: torch.Tensor, kind: str) -> torch.Tensor:
    """The loss summed over the MSC outputs (full, 0.5, 0.75, max), labels resized to each."""
    fn = balanced_cross_entropy if kind == "balanced" else cross_entropy
    resized = {}  # the full-size and max outputs share one size
    for out in outputs:
        size = tuple(out.shape[-2:])
        if size not in resized:
            resized[size] = resize_labels(labels, size).to(out.device)
    return sum(fn(out, resized[tuple(out.shape[-2:])]) for out in outputs)


def input_norm_for(kind: str, flag: str) -> str:
    """The input normalisation: the flag's, or the one the initial weights were trained with."""
    return kind if flag == "auto" else flag


def write_meta(weights_name: str, meta: dict) -> None:
    """How to rebuild and feed the trained network (depth, classes, input normalisation), beside the weights."""
    with atomic_open(meta_path(weights_name), "w") as f:
        json.dump(meta, f, indent=1)


def meta_path(weights_name: str) -> Path:
    return Path(f"{weights_name}.json")


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
    spec, root, names = stage.check_inputs(args, "seg_train_list")
    labels = stage.upstream_digest(args.sem_seg_out_dir, names, ".png", "make_sem_seg (with --infer_list = "
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
    record = training.training_record(args, RESULT_FLAGS, labels=labels, init=training.init_digest(str(init)),
                                      input_norm=norm)
    device = training.training_device(args)
    dataset = PseudoMaskDataset(names, args.sem_seg_out_dir, root, args.seg_crop_size, args.seg_scales, norm,
                                flip=True, spec=spec)
    loader = training.train_loader(dataset, args.seg_batch_size // args.seg_iter_size, args.num_workers, device,
                                   args.seed)
    optimizer = seg_optimizer(model, args)
    model.to(device)
    training.use_channels_last(model, args)
    frozen_bn = model.base.freeze_bn

    def train_step(net, pack):
        frozen_bn()  # the engine's train() turned BatchNorm back on
        with training.autocast(device, args.amp):
            outputs = net(training.batch_input(pack["img"], device, args))
        loss = msc_loss([o.float() for o in outputs], pack["label"], args.seg_loss)
        return loss, {"loss": loss.item(), "lr": optimizer.param_groups[0]["lr"]}

    training.fit_iterations(model, optimizer, loader, args.seg_iter_max, args.seg_iter_size, args.seg_weights_name,
                            args, device, "train_seg", train_step, record, args.seg_save_interval,
                            before_step=lambda it: set_learning_rate(optimizer, it, args))
    training.save_final(args.seg_weights_name, model)
    distributed.save_on_master(write_meta, args.seg_weights_name, {
        "network": "deeplabv2_msc", "depth": args.seg_depth, "n_classes": spec.n_classes + 1, "input_norm": norm,
        "init": str(init), "init_kind": kind, "iterations": args.seg_iter_max, "loss": args.seg_loss})
