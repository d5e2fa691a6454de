"""AMN activation maps: multi-scale, flip-averaged softmax over background + the image's classes,
min-max normalised where the seed is not background (official make_amn_cam)."""
from __future__ import annotations

import functools

import torch

from dataset import registry
from engine import checkpoints, map_stages
from misc import imutils
from misc.fileio import load_png, png_path
from misc.settings import declared
from postprocess import cam_maps

# The flags this step reads: its own, and those of the engines it calls (misc/settings.py).
SETTINGS = declared(map_stages.MAKE_SETTINGS, (
    "amn_cam_out_dir", "amn_dropout_at_inference", "amn_network", "amn_weights_name", "ir_label_out_dir",
))


def _forward(model, img, label):
    return model(img, label.unsqueeze(0).expand(img.size(0), label.numel()))


def _postprocess(outputs, pack, seed_dir: str):
    size = pack["size"]
    strided = cam_maps.resize_sum(outputs, imutils.get_strided_size(size, 4)) / len(outputs)
    high_res = cam_maps.resize_sum(outputs, tuple(size))[:, :size[0], :size[1]] / len(outputs)
    seed = load_png(png_path(seed_dir, pack["name"]))
    return cam_maps.amn_postprocess(strided, high_res, pack["label"], seed)


def maker(args) -> map_stages.MapMaker:
    """AMN's maker: its postprocessing reads the CAM seeds of --ir_label_out_dir, and inference dropout changes
    its maps."""
    return map_stages.MapMaker(forward=_forward, postprocess=functools.partial(_postprocess,
                                                                                seed_dir=args.ir_label_out_dir),
                               upstream={args.ir_label_out_dir: (".png", "cam_to_ir_label")},
                               params={"dropout_at_inference": args.amn_dropout_at_inference})


def build_amn(network: str, checkpoint: str, n_classes: int, dropout_at_inference: bool) -> torch.nn.Module:
    """AMN with the trained weights (each inference worker builds its own)."""
    model = checkpoints.build_network(network, "CAM", n_classes=n_classes, dropout_at_inference=dropout_at_inference)
    print(f"loaded {checkpoints.load_weights(model, checkpoint, 'AMN', '--amn_weights_name')}")
    return model


def run(args) -> None:
    checkpoint = checkpoints.checkpoint_path(args.amn_weights_name, "--amn_weights_name", "train_amn")
    n_classes = registry.get_dataset(args).n_classes
    build = functools.partial(build_amn, args.amn_network, str(checkpoint), n_classes, args.amn_dropout_at_inference)
    map_stages.run_make(args, maker(args), args.amn_cam_out_dir, "make_amn_cam", checkpoint, build)
