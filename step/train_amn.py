"""Train AMN per pixel on the CAM seeds, with label conditioning, label smoothing and a
balanced cross-entropy."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from dataset import checks, registry
from dataset.datasets import ClassificationDataset, SeedDataset
from engine import checkpoints, devices, inference, losses, planner, precision, training
from misc import evaluation, imutils
from misc.settings import declared
from step._training import train_run, training_record

# The flags this step reads: its own, and those of the engines it calls (misc/settings.py).
SETTINGS = declared(training.SETTINGS, checks.SETTINGS, (
    "amn_backbone_lr", "amn_backbone_weights", "amn_batch_size", "amn_crop_size", "amn_dropout_at_inference",
    "amn_eval_every_epoch", "amn_network", "amn_new_lr", "amn_num_epoches", "amn_rescale", "amn_weight_decay",
    "amn_weights_name", "backbone_weights", "eps", "infer_list", "ir_label_out_dir", "train_list",
))

RESULT_FLAGS = ("dataset", "train_list", "cls_labels", "amn_network", "amn_crop_size", "amn_batch_size",
                "amn_num_epoches", "amn_backbone_lr", "amn_new_lr", "amn_weight_decay", "amn_rescale", "eps", "seed",
                "amp", "amn_dropout_at_inference")


def amn_prediction(logit: torch.Tensor, label_cls: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """VOC label map: argmax over background plus the image's classes of the upsampled softmax."""
    up = F.interpolate(logit, imutils.get_strided_up_size(size, 16), mode="bilinear", align_corners=False)
    up = up[0, :, :size[0], :size[1]]
    keys = np.pad(torch.nonzero(label_cls)[:, 0].cpu().numpy() + 1, (1, 0))
    prob = F.softmax(up, dim=0)[torch.from_numpy(keys).to(up.device)]
    return keys[prob.argmax(0).cpu().numpy()]


def eval_names(args) -> list[str] | None:
    """The --infer_list images that have ground truth (the per-epoch eval), checked before training."""
    if not args.amn_eval_every_epoch:
        return None
    spec, root, names = checks.check_inputs(args, "infer_list")
    names = [n for n in names if spec.gt_path(root, n).is_file()]
    if not names:
        print("train_amn: no ground truth for --infer_list, the per-epoch evaluation is skipped")
    return names or None


def evaluate(model, args, device, names: list[str]) -> float:
    """mIoU of AMN's own predictions on ``names`` (images of --infer_list with ground truth)."""
    spec = registry.get_dataset(args)
    root = registry.dataset_root(args)
    dataset = ClassificationDataset(names, root=root, cls_labels=args.cls_labels, spec=spec)
    n_class = spec.n_classes + 1
    confusion = np.zeros((n_class, n_class), np.int64)
    model.eval()
    with torch.no_grad():
        for pack in tqdm(DataLoader(dataset, batch_size=1, num_workers=args.num_workers,
                                    worker_init_fn=inference.init_worker), desc="eval amn", dynamic_ncols=True):
            img = pack["img"].to(device)
            pred = amn_prediction(model(img, pack["label"].to(device)), pack["label"][0], img.shape[-2:])
            gt = spec.load_gt(root, pack["name"][0], tuple(pred.shape))
            confusion += evaluation.confusion_matrix(pred, gt, n_class)
    model.train()
    return evaluation.mean_iou(evaluation.iou_from_confusion(confusion))


def run(args) -> None:
    spec, root, names = checks.check_inputs(args, "train_list")
    seeds = planner.upstream_digest(args.ir_label_out_dir, names, ".png", "cam_to_ir_label")
    val_names = eval_names(args)
    init = args.amn_backbone_weights or args.backbone_weights
    record = training_record(args, RESULT_FLAGS, seeds=seeds, backbone=checkpoints.init_digest(init))
    device = devices.training_device(args.device, args.dist_timeout_min)
    model = checkpoints.build_network(args.amn_network, "Net", n_classes=spec.n_classes,
                                      dropout_at_inference=args.amn_dropout_at_inference)
    checkpoints.init_backbone(model, init)
    dataset = SeedDataset(names, label_dir=args.ir_label_out_dir, root=root,
                          hor_flip=True, crop_size=args.amn_crop_size, crop_method="random",
                          rescale=tuple(args.amn_rescale), cls_labels=args.cls_labels,
                          spec=spec)
    loader = training.train_loader(dataset, args.amn_batch_size, args.num_workers, device, args.seed)
    backbone_params, new_params = model.trainable_parameters()
    optimizer = torch.optim.Adam([
        {"params": backbone_params, "lr": args.amn_backbone_lr, "weight_decay": args.amn_weight_decay},
        {"params": new_params, "lr": args.amn_new_lr, "weight_decay": args.amn_weight_decay},
    ])
    model.to(device)
    precision.use_channels_last(model, args.channels_last)

    def train_step(net, pack):
        with precision.autocast(device, args.amp):
            logit = net(precision.batch_input(pack["img"], device, args.channels_last), pack["label_cls"].to(device))
        label = losses.resize_labels(pack["label"], logit.shape[-2:]).to(device)
        target = losses.smoothed_target(label, logit.size(1), args.eps)
        loss = losses.balanced_soft_cross_entropy(logit.float(), label, target)
        return loss, {"loss": loss.item()}

    def after_epoch(ep):
        if val_names:
            miou = evaluate(model, args, device, val_names)
            print(f"[{ep + 1}/{args.amn_num_epoches}] AMN mIoU on {args.infer_list}: {100 * miou:.2f}")
            return {"miou": miou}
        return None

    run = train_run(args, args.amn_weights_name, "train_amn", record, device)
    training.train(model, optimizer, loader, training.Epochs(args.amn_num_epoches), run, train_step,
                   hooks=[training.Validation(after_epoch)])
    checkpoints.save_final(args.amn_weights_name, model)
