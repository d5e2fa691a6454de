"""Train IRN's class-boundary and displacement branches on the seeds' pixel-pair labels."""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from dataset import checks
from dataset.datasets import AffinityDataset, ImageDataset
from engine import checkpoints, devices, inference, losses, planner, precision, training
from misc import distributed, indexing
from misc.settings import declared
from step._training import train_run, training_record

# The flags this step reads: its own, and those of the engines it calls (misc/settings.py).
SETTINGS = declared(training.SETTINGS, checks.SETTINGS, (
    "amn_ir_label_out_dir", "backbone_weights", "infer_list", "ir_label_out_dir", "irn_backbone_weights",
    "irn_batch_size", "irn_crop_size", "irn_learning_rate", "irn_network", "irn_num_epoches", "irn_rescale",
    "irn_seeds", "irn_weight_decay", "irn_weights_name", "train_list",
))

RESULT_FLAGS = ("dataset", "train_list", "cls_labels", "irn_network", "irn_crop_size", "irn_batch_size",
                "irn_num_epoches", "irn_learning_rate", "irn_weight_decay", "irn_rescale", "irn_seeds", "seed", "amp")


def estimate_mean_shift(model, args, device, names, root, spec) -> torch.Tensor:
    """Mean displacement over ``names`` (--infer_list, top-left crops), subtracted at inference."""
    dataset = ImageDataset(names, root=root, crop_size=args.irn_crop_size,
                           crop_method="top_left", spec=spec)
    loader = DataLoader(dataset, batch_size=args.irn_batch_size, shuffle=False, num_workers=args.num_workers,
                        drop_last=len(dataset) >= args.irn_batch_size, worker_init_fn=inference.init_worker)
    model.eval()
    means = []
    with torch.no_grad():
        for pack in tqdm(loader, desc="displacement mean", dynamic_ncols=True):
            _, dp = model(pack["img"].to(device), False)
            means.append(torch.mean(dp, dim=(0, 2, 3)).cpu())
    return torch.mean(torch.stack(means), dim=0)


def run(args) -> None:
    spec, root, names = checks.check_inputs(args, "train_list")
    label_dir = args.amn_ir_label_out_dir if args.irn_seeds == "amn" else args.ir_label_out_dir
    producer = "amn_cam_to_ir_label" if args.irn_seeds == "amn" else "cam_to_ir_label"
    seeds = planner.upstream_digest(label_dir, names, ".png", producer)
    _, _, infer_names = checks.check_inputs(args, "infer_list")
    init = args.irn_backbone_weights or args.backbone_weights
    record = training_record(args, RESULT_FLAGS, seeds=seeds, backbone=checkpoints.init_digest(init))
    device = devices.training_device(args.device, args.dist_timeout_min)
    path_index = indexing.PathIndex(radius=10, default_size=(args.irn_crop_size // 4, args.irn_crop_size // 4))
    model = checkpoints.build_network(args.irn_network, "AffinityDisplacementLoss", path_index=path_index)
    checkpoints.init_backbone(model, init)
    dataset = AffinityDataset(names, label_dir=label_dir, root=root,
                              indices_from=path_index.src_indices, indices_to=path_index.dst_indices,
                              hor_flip=True, crop_size=args.irn_crop_size, crop_method="random",
                              rescale=tuple(args.irn_rescale), cls_labels=args.cls_labels, spec=spec)
    loader = training.train_loader(dataset, args.irn_batch_size, args.num_workers, device, args.seed)
    max_step = (len(dataset) // args.irn_batch_size) * args.irn_num_epoches
    optimizer = training.poly_optimizer(model.trainable_parameters(), args.irn_learning_rate, args.irn_weight_decay,
                                        max_step)
    model.to(device)
    precision.use_channels_last(model, args.channels_last)
    print(f"train_irn: seeds from {label_dir}")

    def train_step(net, pack):
        with precision.autocast(device, args.amp):
            out = net(precision.batch_input(pack["img"], device, args.channels_last), True)
        return losses.irn_losses([o.float() for o in out], pack, device)

    run = train_run(args, args.irn_weights_name, "train_irn", record, device)
    training.train(model, optimizer, loader, training.Epochs(args.irn_num_epoches), run, train_step)
    if distributed.is_main():
        model.mean_shift.running_mean = estimate_mean_shift(model, args, device, infer_names, root, spec).to(device)
    checkpoints.save_final(args.irn_weights_name, model)
