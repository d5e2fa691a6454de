"""Train the multi-label classifier whose class activation maps start the pipeline."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from dataset import checks
from dataset.datasets import ClassificationDataset
from engine import checkpoints, devices, precision, training
from misc import pyutils
from misc.settings import declared
from step._training import train_run, training_record

# The flags this step reads: its own, and those of the engines it calls (misc/settings.py).
SETTINGS = declared(training.SETTINGS, checks.SETTINGS, (
    "backbone_weights", "cam_batch_size", "cam_crop_size", "cam_learning_rate", "cam_network", "cam_num_epoches",
    "cam_resize_long", "cam_weight_decay", "cam_weights_name", "train_list", "val_list",
))

# Flags whose change makes a saved .resume file unusable.
RESULT_FLAGS = ("dataset", "train_list", "cls_labels", "cam_network", "cam_crop_size", "cam_resize_long",
                "cam_batch_size", "cam_num_epoches", "cam_learning_rate", "cam_weight_decay", "seed", "amp")


def validate(model, data_loader, device) -> float:
    """Mean multilabel soft-margin loss on the validation list."""
    meter = pyutils.AverageMeter()
    model.eval()
    with torch.no_grad():
        for pack in data_loader:
            x = model(pack["img"].to(device))
            meter.add({"loss": F.multilabel_soft_margin_loss(x, pack["label"].to(device)).item()})
    model.train()
    loss = meter.pop("loss")
    print(f"validation loss: {loss:.4f}", flush=True)
    return loss


def run(args) -> None:
    spec, root, names = checks.check_inputs(args, "train_list")
    _, _, val_names = checks.check_inputs(args, "val_list")
    record = training_record(args, RESULT_FLAGS, backbone=checkpoints.init_digest(args.backbone_weights))
    device = devices.training_device(args.device, args.dist_timeout_min)
    model = checkpoints.build_network(args.cam_network, "Net", n_classes=spec.n_classes)
    checkpoints.init_backbone(model, args.backbone_weights)
    train_dataset = ClassificationDataset(
        names, root=root, resize_long=tuple(args.cam_resize_long), hor_flip=True,
        crop_size=args.cam_crop_size, crop_method="random", cls_labels=args.cls_labels, spec=spec)
    loader = training.train_loader(train_dataset, args.cam_batch_size, args.num_workers, device, args.seed)
    val_dataset = ClassificationDataset(val_names, root=root, crop_size=args.cam_crop_size,
                                        cls_labels=args.cls_labels, spec=spec)
    val_loader = DataLoader(val_dataset, batch_size=args.cam_batch_size, shuffle=False,
                            num_workers=args.num_workers, drop_last=len(val_dataset) >= args.cam_batch_size)
    max_step = (len(train_dataset) // args.cam_batch_size) * args.cam_num_epoches
    optimizer = training.poly_optimizer(model.trainable_parameters(), args.cam_learning_rate, args.cam_weight_decay,
                                        max_step)
    model.to(device)
    precision.use_channels_last(model, args.channels_last)

    def train_step(net, pack):
        with precision.autocast(device, args.amp):
            x = net(precision.batch_input(pack["img"], device, args.channels_last))
        loss = F.multilabel_soft_margin_loss(x.float(), pack["label"].to(device))
        return loss, {"loss": loss.item(), "lr": optimizer.param_groups[0]["lr"]}

    validation = training.Validation(lambda ep: {"loss": validate(model, val_loader, device)})
    run = train_run(args, args.cam_weights_name, "train_cam", record, device)
    training.train(model, optimizer, loader, training.Epochs(args.cam_num_epoches), run, train_step, hooks=[validation])
    checkpoints.save_final(args.cam_weights_name, model)
