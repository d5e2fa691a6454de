"""Multi-scale, flip-averaged CAMs of the classifier, as IRN's make_cam computes them."""
from __future__ import annotations

import torch

from step import stage
from misc import imutils
from step import training


def _forward(model, img, label):
    return model(img)


def _postprocess(outputs, pack, args):
    size = pack["size"]
    strided = stage.resize_sum(outputs, imutils.get_strided_size(size, 4))
    # Full-size maps are upsampled to the stride-16 grid and cropped, as the official code does.
    high_res = stage.resize_sum(outputs, imutils.get_strided_up_size(size, 16))[:, :size[0], :size[1]]
    valid_cat = torch.nonzero(pack["label"])[:, 0]
    strided = stage.max_normalize(strided[valid_cat.to(strided.device)])
    high_res = stage.max_normalize(high_res[valid_cat.to(high_res.device)])
    return valid_cat.numpy(), strided.cpu().numpy(), high_res.cpu().numpy()


MAKER = stage.MapMaker(forward=_forward, postprocess=_postprocess)


def run(args) -> None:
    model = training.build_network(args.cam_network, "CAM")
    print(f"loaded {training.load_weights(model, args.cam_weights_name)}")
    stage.run_make(model, MAKER, args, args.cam_out_dir, "make_cam")
