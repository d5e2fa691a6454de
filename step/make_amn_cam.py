"""AMN activation maps: multi-scale, flip-averaged softmax over background + the image's classes,
min-max normalised where the seed is not background (official make_amn_cam)."""
from __future__ import annotations

import functools

import torch

from engine import checkpoints, map_stages
from misc import imutils
from misc.fileio import load_png, png_path
from misc.settings import declared
from postprocess import cam_maps
from step._config import DATA_FLAGS, INFERENCE_FLAGS, data_config, inference_config

# The flags this step reads, its own and those of the config objects it builds (misc/settings.py).
SETTINGS = declared(DATA_FLAGS, INFERENCE_FLAGS, (
    "amn_cam_out_dir", "amn_dropout_at_inference", "amn_network", "amn_weights_name", "cam_scales",
    "ir_label_out_dir", "train_list",
))


def _forward(model, img, label):
    return model(img, label.unsqueeze(0).expand(img.size(0), label.numel()))


def _postprocess(outputs, pack, seed_dir: str):
    size = pack["size"]
    strided = cam_maps.resize_sum(outputs, imutils.get_strided_size(size, 4)) / len(outputs)
    high_res = cam_maps.resize_sum(outputs, tuple(size))[:, :size[0], :size[1]] / len(outputs)
    seed = load_png(png_path(seed_dir, pack["name"]))
    return cam_maps.amn_postprocess(strided, high_res, pack["label"], seed)


def maker(seed_dir: str, dropout_at_inference: bool) -> map_stages.MapMaker:
    """AMN's maker: its postprocessing reads the CAM seeds of ``seed_dir`` (--ir_label_out_dir), and inference
    dropout changes its maps."""
    return map_stages.MapMaker(forward=_forward, postprocess=functools.partial(_postprocess, seed_dir=seed_dir),
                               upstream={seed_dir: (".png", "cam_to_ir_label")},
                               params={"dropout_at_inference": dropout_at_inference})


def build_amn(network: str, checkpoint: str, n_classes: int, dropout_at_inference: bool) -> torch.nn.Module:
    """AMN with the trained weights (each inference worker builds its own)."""
    model = checkpoints.build_network(network, "CAM", n_classes=n_classes, dropout_at_inference=dropout_at_inference)
    print(f"loaded {checkpoints.load_weights(model, checkpoint, 'AMN', '--amn_weights_name')}")
    return model


def run(args) -> None:
    checkpoint = checkpoints.checkpoint_path(args.amn_weights_name, "--amn_weights_name", "train_amn")
    data = data_config(args)
    build = functools.partial(build_amn, args.amn_network, str(checkpoint), data.spec().n_classes,
                              args.amn_dropout_at_inference)
    task = map_stages.MakeTask("make_amn_cam", args.train_list, "--train_list", args.amn_cam_out_dir, checkpoint,
                               build, maker(args.ir_label_out_dir, args.amn_dropout_at_inference),
                               tuple(args.cam_scales))
    map_stages.run_make(task, data, inference_config(args))
