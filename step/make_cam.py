"""Multi-scale, flip-averaged CAMs of the classifier, as IRN's make_cam computes them."""
from __future__ import annotations

import functools

import torch

from engine import checkpoints, map_stages
from misc import imutils
from misc.settings import declared
from postprocess import cam_maps
from step._config import DATA_FLAGS, INFERENCE_FLAGS, data_config, inference_config

# The flags this step reads, its own and those of the config objects it builds (misc/settings.py).
SETTINGS = declared(DATA_FLAGS, INFERENCE_FLAGS, (
    "cam_network", "cam_out_dir", "cam_scales", "cam_weights_name", "train_list",
))


def _forward(model, img, label):
    return model(img)


def _postprocess(outputs, pack):
    size = pack["size"]
    strided = cam_maps.resize_sum(outputs, imutils.get_strided_size(size, 4))
    # Full-size maps are upsampled to the stride-16 grid and cropped, as the official code does.
    high_res = cam_maps.resize_sum(outputs, imutils.get_strided_up_size(size, 16))[:, :size[0], :size[1]]
    valid_cat = torch.nonzero(pack["label"])[:, 0]
    strided = cam_maps.max_normalize(strided[valid_cat.to(strided.device)])
    high_res = cam_maps.max_normalize(high_res[valid_cat.to(high_res.device)])
    return valid_cat.numpy(), strided.cpu().numpy(), high_res.cpu().numpy()


MAKER = map_stages.MapMaker(forward=_forward, postprocess=_postprocess)


def build_cam(network: str, checkpoint: str, n_classes: int) -> torch.nn.Module:
    """The CAM network with the trained weights (each inference worker builds its own)."""
    model = checkpoints.build_network(network, "CAM", n_classes=n_classes)
    print(f"loaded {checkpoints.load_weights(model, checkpoint, 'a CAM network', '--cam_weights_name')}")
    return model


def run(args) -> None:
    checkpoint = checkpoints.checkpoint_path(args.cam_weights_name, "--cam_weights_name", "train_cam")
    data = data_config(args)
    build = functools.partial(build_cam, args.cam_network, str(checkpoint), data.spec().n_classes)
    task = map_stages.MakeTask("make_cam", args.train_list, "--train_list", args.cam_out_dir, checkpoint, build,
                               MAKER, tuple(args.cam_scales))
    map_stages.run_make(task, data, inference_config(args))
