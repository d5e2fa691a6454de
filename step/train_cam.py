"""Train the multi-label classifier whose class activation maps start the pipeline."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from misc import pyutils, torchutils
from step import training
from voc12 import dataloader as vocdata


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
    device = torchutils.resolve_device(args.device)
    model = training.build_network(args.cam_network, "Net")
    training.init_backbone(model, args.backbone_weights)
    train_dataset = vocdata.VOC12ClassificationDataset(
        args.train_list, voc12_root=args.voc12_root, resize_long=tuple(args.cam_resize_long), hor_flip=True,
        crop_size=args.cam_crop_size, crop_method="random", cls_labels=args.cls_labels)
    loader = training.train_loader(train_dataset, args.cam_batch_size, args.num_workers, device)
    val_dataset = vocdata.VOC12ClassificationDataset(args.val_list, voc12_root=args.voc12_root,
                                                     crop_size=args.cam_crop_size, cls_labels=args.cls_labels)
    val_loader = DataLoader(val_dataset, batch_size=args.cam_batch_size, shuffle=False,
                            num_workers=args.num_workers, drop_last=len(val_dataset) >= args.cam_batch_size)
    max_step = (len(train_dataset) // args.cam_batch_size) * args.cam_num_epoches
    optimizer = training.poly_optimizer(model.trainable_parameters(), args.cam_learning_rate, args.cam_weight_decay,
                                        max_step)
    model.to(device)

    def train_step(pack):
        with training.autocast(device, args.amp):
            x = model(pack["img"].to(device, non_blocking=True))
        loss = F.multilabel_soft_margin_loss(x.float(), pack["label"].to(device))
        return loss, {"loss": loss.item(), "lr": optimizer.param_groups[0]["lr"]}

    training.fit(model, optimizer, loader, args.cam_num_epoches, args.cam_weights_name, args, device, "train_cam",
                 train_step, after_epoch=lambda ep: validate(model, val_loader, device))
    training.save_final(args.cam_weights_name, model)
