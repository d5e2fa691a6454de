"""Train AMN per pixel on the CAM seeds, with label conditioning, label smoothing and a
balanced cross-entropy."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader
from tqdm import tqdm

from misc import distributed, evaluation, imutils, torchutils
from misc.fileio import load_png
from step import datasets, stage, training
from voc12 import dataloader as vocdata

RESULT_FLAGS = ("dataset", "train_list", "cls_labels", "amn_network", "amn_crop_size", "amn_batch_size",
                "amn_num_epoches", "amn_backbone_lr", "amn_new_lr", "amn_weight_decay", "amn_rescale", "eps", "seed",
                "amp", "amn_dropout_at_inference")


def balanced_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, one_hot_labels: torch.Tensor) -> torch.Tensor:
    """Mean of the background-pixel and foreground-pixel averages of -sum(target * log_softmax).

    ``labels`` (N, H, W) selects the groups (0 background, 1..C-1 foreground, 255 ignored);
    ``one_hot_labels`` (N, C, H, W) is the smoothed target. A group with no pixel in the
    batch is left out of the mean (the official code would return NaN). Under torchrun the
    batch is the global one.
    """
    n, c = logits.shape[:2]
    if one_hot_labels.shape[:2] != (n, c):
        raise ValueError(f"target shape {tuple(one_hot_labels.shape)} does not match logits {tuple(logits.shape)}")
    per_pixel = -torch.sum(F.log_softmax(logits, dim=1) * one_hot_labels, dim=1)
    masks = [(labels == 0), (labels != 0) & (labels != 255)]
    if distributed.world_size() == 1:
        terms = [per_pixel[m].mean() for m in masks if m.any()]
        return torch.stack(terms).mean() if terms else per_pixel.sum() * 0
    # Under DDP the group sizes are those of the global batch, so the averaged gradients equal one process's.
    counts = distributed.global_sum(torch.stack([m.sum() for m in masks]).float())
    terms = [per_pixel[m].sum() / n for m, n in zip(masks, counts) if n > 0]
    if not terms:
        return per_pixel.sum() * 0
    return torch.stack(terms).sum() / len(terms) * distributed.gradient_scale()


def smoothed_target(label: torch.Tensor, n_classes: int, eps: float) -> torch.Tensor:
    """eps/(C-1) everywhere and 1-eps at the seed's class; 255 maps to class 0 (the loss ignores it)."""
    index = torch.where(label == 255, torch.zeros_like(label), label)
    target = torch.full((label.size(0), n_classes) + tuple(label.shape[1:]), eps / (n_classes - 1),
                        device=label.device)
    return target.scatter_(1, index.unsqueeze(1), 1 - eps)


def resize_labels(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest (PIL) downsampling of seed labels to the logit size (height, width)."""
    out = [np.asarray(Image.fromarray(l.numpy().astype(np.float32)).resize((size[1], size[0]), Image.NEAREST))
           for l in labels]
    return torch.from_numpy(np.stack(out)).long()


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
    spec, root, names = stage.check_inputs(args, "infer_list")
    names = [n for n in names if spec.gt_path(root, n).is_file()]
    if not names:
        print("train_amn: no ground truth for --infer_list, the per-epoch evaluation is skipped")
    return names or None


def evaluate(model, args, device, names: list[str]) -> float:
    """mIoU of AMN's own predictions on ``names`` (images of --infer_list with ground truth)."""
    spec = datasets.get_dataset(args)
    root = datasets.dataset_root(args)
    dataset = vocdata.VOC12ClassificationDataset(names, voc12_root=root, cls_labels=args.cls_labels, spec=spec)
    n_class = spec.n_classes + 1
    confusion = np.zeros((n_class, n_class), np.int64)
    model.eval()
    with torch.no_grad():
        for pack in tqdm(DataLoader(dataset, batch_size=1, num_workers=args.num_workers,
                                    worker_init_fn=torchutils.init_worker), desc="eval amn", dynamic_ncols=True):
            img = pack["img"].to(device)
            pred = amn_prediction(model(img, pack["label"].to(device)), pack["label"][0], img.shape[-2:])
            gt = load_png(spec.gt_path(root, pack["name"][0]))
            confusion += evaluation.confusion_matrix(pred, gt, n_class)
    model.train()
    return evaluation.mean_iou(evaluation.iou_from_confusion(confusion))


def run(args) -> None:
    spec, root, names = stage.check_inputs(args, "train_list")
    seeds = stage.upstream_digest(args.ir_label_out_dir, names, ".png", "cam_to_ir_label")
    val_names = eval_names(args)
    init = args.amn_backbone_weights or args.backbone_weights
    record = training.training_record(args, RESULT_FLAGS, seeds=seeds, backbone=training.init_digest(init))
    device = training.training_device(args)
    model = training.build_network(args.amn_network, "Net", n_classes=spec.n_classes,
                                   dropout_at_inference=args.amn_dropout_at_inference)
    training.init_backbone(model, init)
    dataset = vocdata.VOC12SegmentationDataset(names, label_dir=args.ir_label_out_dir, voc12_root=root,
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
    training.use_channels_last(model, args)

    def train_step(net, pack):
        with training.autocast(device, args.amp):
            logit = net(training.batch_input(pack["img"], device, args), pack["label_cls"].to(device))
        label = resize_labels(pack["label"], logit.shape[-2:]).to(device)
        loss = balanced_cross_entropy(logit.float(), label, smoothed_target(label, logit.size(1), args.eps))
        return loss, {"loss": loss.item()}

    def after_epoch(ep):
        if val_names:
            miou = evaluate(model, args, device, val_names)
            print(f"[{ep + 1}/{args.amn_num_epoches}] AMN mIoU on {args.infer_list}: {100 * miou:.2f}")
            return {"miou": miou}
        return None

    training.fit(model, optimizer, loader, args.amn_num_epoches, args.amn_weights_name, args, device, "train_amn",
                 train_step, record, after_epoch)
    training.save_final(args.amn_weights_name, model)
