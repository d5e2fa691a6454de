"""The segmentation network at inference: the trained DeepLab-v2 and how to feed it (from the metadata
train_seg writes beside the weights), multi-scale flip logits on every device, and masks with the CRF."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from dataset.spec import voc_palette
from engine import checkpoints, inference, precision
from misc import imutils
from misc.fileio import load_arrays, save_arrays, save_png
from misc.settings import declared
from net import deeplab_v2

# The flags the segmentation network's inference reads.
SETTINGS = declared(inference.SETTINGS, precision.SETTINGS, ("seg_weights_name", "seg_depth", "seg_input_norm",
                                                             "seg_test_scales", "seg_flip"))


def read_meta(weights: Path) -> dict:
    """What train_seg wrote beside the weights (depth, input normalisation); {} for a released checkpoint."""
    path = checkpoints.seg_meta_path(str(weights))
    return json.loads(path.read_text()) if path.is_file() else {}


def seg_model_settings(args) -> tuple[int, str, Path]:
    """The trained network's depth, input normalisation and checkpoint path."""
    checkpoint = checkpoints.checkpoint_path(args.seg_weights_name, "--seg_weights_name", "train_seg")
    meta = read_meta(checkpoint)
    depth = meta.get("depth", args.seg_depth)
    norm = args.seg_input_norm if args.seg_input_norm != "auto" else meta.get("input_norm", "caffe")
    if not meta and args.seg_input_norm == "auto":
        print(f"make_seg: {checkpoint} has no {checkpoint}.json beside it (a released deeplab-pytorch model?); "
              "assuming Caffe input normalisation (BGR minus the mean); set --seg_input_norm otherwise")
    return depth, norm, checkpoint


def build_seg_model(n_classes: int, depth: int, checkpoint: str) -> deeplab_v2.MSC:
    """The trained network in eval mode (each inference worker builds its own)."""
    model = deeplab_v2.deeplabv2_msc(n_classes, depth=depth)
    checkpoints.load_weights(model, checkpoint, expected=f"DeepLab-v2 ResNet-{depth} MSC", flag="--seg_weights_name",
                             producer="train_seg")
    return model.eval()


def load_seg_model(args, n_classes: int) -> tuple[deeplab_v2.MSC, str, Path]:
    """The trained network in eval mode, its input normalisation and checkpoint path."""
    depth, norm, checkpoint = seg_model_settings(args)
    return build_seg_model(n_classes, depth, str(checkpoint)), norm, checkpoint


def predict_logits(model: torch.nn.Module, img: torch.Tensor, scales, flip: bool) -> torch.Tensor:
    """Logits (C, h, w) at the size of the first scale's output: the mean over ``scales`` and, with ``flip``,
    the mirrored image (each MSC output is already the max over its 1, 0.5 and 0.75 copies)."""
    outputs, size = [], None
    for s in scales:
        x = img if s == 1.0 else F.interpolate(img, scale_factor=s, mode="bilinear", align_corners=False)
        for mirrored in ((False, True) if flip else (False,)):
            out = model(x.flip(-1) if mirrored else x)
            out = out.flip(-1) if mirrored else out
            size = size or out.shape[-2:]
            outputs.append(F.interpolate(out, size=size, mode="bilinear", align_corners=False))
    return torch.stack(outputs).mean(0)[0]


def network_work(process_id, device, shard, build_model, args, logit_dir, n_devices, digest) -> None:
    loader = DataLoader(shard, shuffle=False, collate_fn=inference.first_item, worker_init_fn=inference.init_worker,
                        num_workers=inference.worker_count(args.num_workers, n_devices))
    model = build_model().to(device)
    with torch.inference_mode(), precision.autocast(device, args.amp):
        for pack in tqdm(loader, desc=f"make_seg[{process_id}]", position=process_id, dynamic_ncols=True):
            logit = predict_logits(model, pack["img"][None].to(device), args.seg_test_scales, args.seg_flip)
            save_arrays(Path(logit_dir) / f"{pack['name']}.npz", record=digest,
                        logit=logit.float().cpu().numpy().astype(np.float16), size=np.asarray(pack["size"]))


def masks_from_logits(img: np.ndarray, logit: np.ndarray, crf: dict | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(argmax of the upsampled softmax, the CRF-refined argmax or None), as uint8 label maps."""
    h, w = img.shape[:2]
    up = F.interpolate(torch.from_numpy(logit.astype(np.float32))[None], size=(h, w), mode="bilinear",
                       align_corners=False)
    prob = torch.softmax(up, dim=1)[0].numpy()
    raw = prob.argmax(0).astype(np.uint8)
    refined = None if crf is None else imutils.crf_inference_prob(img, prob, **crf).argmax(0).astype(np.uint8)
    return raw, refined


def mask_job(job) -> str:
    name, image, logit_path, raw_out, crf_out, crf, digests = job
    logit = load_arrays(logit_path, ("logit",))["logit"]
    raw, refined = masks_from_logits(image.read(), logit, crf if crf_out else None)
    if raw_out:
        save_png(raw_out, raw, palette=voc_palette(), record=digests[0])
    if crf_out:
        save_png(crf_out, refined, palette=voc_palette(), record=digests[1])
    return name
