"""Make the network goldens (``network_<branch>.npz``) by running the official code on the CPU.

    python tests/data/make_network_goldens.py --official PATH/TO/AMN --branch voc12 \
        --chainercv PATH/TO/chainercv --out tests/data/network_voc12.npz
    python tests/data/make_network_goldens.py --official PATH/TO/AMN-coco14 --branch coco14 \
        --out tests/data/network_coco14.npz

``--official`` is a checkout of gaviotas/AMN (branch voc12 or coco14); ``--chainercv`` a checkout of
chainer/chainercv, whose ``calc_semantic_segmentation_confusion`` the official evals call (only that file is
loaded: chainercv itself needs chainer). The script imports the official modules from the checkout and
copies none of their code. It needs imageio (the official data loader reads with it) besides the project's
requirements, and runs nothing of this project (the official packages ``net``, ``misc`` and ``voc12`` would
clash with ours).

What is redirected at run time, and why:

* ``.cuda()`` (tensors, modules), ``torch.cuda.device`` and ``device_count``: the official code is CUDA-only;
  here everything stays on the CPU, one "GPU".
* ``torch.utils.model_zoo.load_url``: the official ``resnet50(pretrained=True)`` downloads ImageNet weights;
  it gets a fresh state instead, and the whole network is then loaded with ``detweights.make_state`` weights
  (the key names and shapes of the released checkpoints, ``state_dict_keys.json``).
* the training steps' dataset classes: they draw augmentations from the global generators, which our
  loader draws per sample, so a step golden feeds fixed samples (stored in the golden) to both.
* AMN's dropout: ``nn.Module.train(model, False)`` for the inference goldens (the official ``train()``
  override leaves dropout on, so its outputs are random); in the training step it stays on and a pre-hook
  reseeds the generator before it draws, so our step can draw the same mask.
* ``chainercv.datasets.VOCSemanticSegmentationDataset``: a stand-in that reads the ground-truth PNGs as
  chainercv's ``read_label`` does (palette indices, 255 -> -1); ``print`` of the official evals is recorded.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import io
import json
import os
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
SEEDS = {"cam": 11, "amn": 12, "irn": 13}  # detweights seeds of the three networks
IMAGE_ID = "2007_000032"  # any id of the official cls_labels.npy; its label is replaced below
DROPOUT_SEED = 1234


def load_file_module(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


detweights = load_file_module("detweights", HERE / "detweights.py")


def redirect_cuda_to_cpu() -> None:
    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.nn.Module.cuda = lambda self, *a, **k: self
    torch.cuda.device = lambda *a, **k: contextlib.nullcontext()
    torch.cuda.device_count = lambda: 1
    torch.cuda.empty_cache = lambda: None


def fake_imagenet_download() -> None:
    """``resnet50(pretrained=True)`` gets the state of a fresh ResNet-50 (overwritten later)."""
    import torch.utils.model_zoo as model_zoo

    def load_url(url, *a, **k):
        from net import resnet50

        state = resnet50.ResNet(resnet50.Bottleneck, [3, 4, 6, 3]).state_dict()
        state.setdefault("fc.weight", torch.zeros(1000, 2048))
        state.setdefault("fc.bias", torch.zeros(1000))
        return state

    model_zoo.load_url = load_url


def aliases_of(model: torch.nn.Module) -> dict[str, str]:
    """Keys that name one tensor -> the alphabetically first of them (make_state gives them one value)."""
    groups: dict[int, list[str]] = {}
    for k, v in model.state_dict(keep_vars=True).items():
        groups.setdefault(v.data_ptr(), []).append(k)
    return {k: min(ks) for ks in groups.values() for k in ks if len(ks) > 1 and k != min(ks)}


def det_state(model: torch.nn.Module, checkpoint: str, seed: int, out: dict) -> dict:
    """make_state weights for ``model``, checked against the released checkpoint's layout."""
    layouts = json.loads((HERE / "state_dict_keys.json").read_text())
    def kept(k):  # IRN's path indices and displacement targets follow the crop size, not the weights
        return not any(s in k for s in detweights.SKIP)

    shapes = {k: list(v.shape) for k, v in model.state_dict().items() if kept(k)}
    released = {k: v for k, v in layouts["shapes"][checkpoint].items() if kept(k)}
    assert shapes == released, f"{checkpoint}: the official network's layout differs from the released one"
    aliases = aliases_of(model)
    out[f"{checkpoint}/aliases"] = np.array(json.dumps(aliases, sort_keys=True))
    return detweights.make_state(shapes, aliases, seed)


def load_det(model: torch.nn.Module, checkpoint: str, seed: int, out: dict) -> torch.nn.Module:
    state = det_state(model, checkpoint, seed, out)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(any(s in k for s in detweights.SKIP) for k in missing), missing
    return model


def synthetic_image(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth colour blobs (JPEG-friendly) as uint8 RGB."""
    g = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.float64)
    for _ in range(4):
        cy, cx, r = g.uniform(0, h), g.uniform(0, w), g.uniform(8, 24)
        img += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))[..., None] * g.uniform(0, 255, 3)
    return np.clip(img + 30, 0, 255).astype(np.uint8)


def jpeg_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def label_map(h: int, w: int, classes: list[int]) -> np.ndarray:
    """Background with a block of each class (1-based) and a 255 band at the top."""
    lab = np.zeros((h, w), np.uint8)
    for i, c in enumerate(classes):
        lab[h // 4 + 4 * i: h // 4 + 4 * i + h // 2, w // 6 + i * w // 3: w // 6 + i * w // 3 + w // 3] = c
    lab[:3] = 255
    return lab


def save_palette_png(path: Path, lab: np.ndarray) -> None:
    im = Image.fromarray(lab, mode="P")
    im.putpalette(sum(([i, (i * 7) % 256, (i * 13) % 256] for i in range(256)), []))
    im.save(path)


class Recorder:
    """Stands for an official module's ``print``: keeps what it was given."""

    def __init__(self):
        self.calls = []

    def __call__(self, *args, **kwargs):
        self.calls.append(args)


def install_chainercv_standin(chainercv: Path) -> None:
    evaluation = load_file_module("chainercv_eval", chainercv / "chainercv/evaluations/eval_semantic_segmentation.py")

    class VOCSemanticSegmentationDataset:
        def __init__(self, split, data_dir):
            self.data_dir = Path(data_dir)
            self.ids = (self.data_dir / "ImageSets/Segmentation" / f"{split}.txt").read_text().split()

        def __len__(self):
            return len(self.ids)

        def get_example_by_keys(self, i, keys):
            label = np.array(Image.open(self.data_dir / "SegmentationClass" / f"{self.ids[i]}.png").convert("P"),
                             dtype=np.int32)
            label[label == 255] = -1
            return (label,)

    pkg = types.ModuleType("chainercv")
    datasets = types.ModuleType("chainercv.datasets")
    datasets.VOCSemanticSegmentationDataset = VOCSemanticSegmentationDataset
    evaluations = types.ModuleType("chainercv.evaluations")
    evaluations.calc_semantic_segmentation_confusion = evaluation.calc_semantic_segmentation_confusion
    sys.modules.update({"chainercv": pkg, "chainercv.datasets": datasets, "chainercv.evaluations": evaluations})


def make_voc_root(root: Path, img: np.ndarray, gt: np.ndarray, seed_label: np.ndarray) -> None:
    (root / "JPEGImages").mkdir(parents=True)
    (root / "SegmentationClass").mkdir()
    (root / "ImageSets/Segmentation").mkdir(parents=True)
    (root / "JPEGImages" / f"{IMAGE_ID}.jpg").write_bytes(jpeg_bytes(img))
    save_palette_png(root / "SegmentationClass" / f"{IMAGE_ID}.png", gt)
    (root / "ImageSets/Segmentation/train.txt").write_text(IMAGE_ID + "\n")
    # The official lists hold "2007_000032", which NumPy 2's loadtxt no longer reads as an int32 (NumPy 1 did,
    # as Python's int() does); the digits alone decode to the same name. Twice: loadtxt makes one line a 0-d array.
    (root / "list.txt").write_text(2 * (IMAGE_ID.replace("_", "") + "\n"))
    (root / "ir_label").mkdir()
    Image.fromarray(seed_label).save(root / "ir_label" / f"{IMAGE_ID}.png")


# ----------------------------------------------------------------------------- network forward passes

def forward_goldens(out: dict, n_classes: int, branch: str) -> None:
    from net import resnet50_amn, resnet50_cam

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 64, 64, generator=g)
    label = torch.zeros(2, n_classes)
    label[0, [1, 5]] = 1
    label[1, [5]] = 1
    out["input"], out["label_cls"] = x.numpy(), label.numpy()
    pair = torch.stack([x[0], x[0].flip(-1)])
    cam_ckpt = "res50_cam" if branch == "voc12" else "res50_cam_coco"
    amn_ckpt = "res50_amn" if branch == "voc12" else "res50_amn_coco"
    kw = {} if branch == "voc12" else {"coco": True}
    with torch.no_grad():
        cam = load_det(resnet50_cam.CAM(**kw), cam_ckpt, SEEDS["cam"], out)
        if branch == "voc12":  # the coco14 branch's Net.forward views 20 classes (docs/differences.md)
            out["cam/net_logits"] = cam_net_logits(cam, x)
        if branch == "coco14":
            torch.nn.Module.train(cam, False)  # its CAM holds an unused Dropout
        out["cam/cam"] = cam(pair).numpy()
        amn = load_det(resnet50_amn.CAM(), amn_ckpt, SEEDS["amn"], out)
        torch.nn.Module.train(amn, False)  # dropout off (the official train() override would keep it on)
        out["amn/net_logits"] = resnet50_amn.Net.forward(amn, x, label).numpy()
        out["amn/cam"] = amn(pair, label[:1].expand(2, n_classes)).numpy()


def cam_net_logits(cam, x):
    from net import resnet50_cam

    return resnet50_cam.Net.forward(cam, x).numpy()


def irn_goldens(out: dict) -> None:
    from misc import indexing
    from net import resnet50_irn

    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 96, 96, generator=g)  # radius 10 needs more than 2 * 9 columns at stride 4
    out["irn/input"] = x.numpy()
    path_index = indexing.PathIndex(radius=10, default_size=(24, 24))
    loss_net = load_det(resnet50_irn.AffinityDisplacementLoss(path_index), "res50_irn", SEEDS["irn"], out)
    loss_net.train()
    with torch.no_grad():
        for name, t in zip(("pos_aff_loss", "neg_aff_loss", "dp_fg_loss", "dp_bg_loss"), loss_net(x, True)):
            out[f"irn/{name}"] = t.numpy()
        edge, dp = loss_net(x, False)
        out["irn/train_edge"], out["irn/train_dp"] = edge.numpy(), dp.numpy()
        infer = load_det(resnet50_irn.EdgeDisplacement(crop_size=96, stride=4), "res50_irn", SEEDS["irn"], out)
        infer.eval()
        img = x[1, :, :56, :60]
        edge, dp = infer(torch.stack([img, img.flip(-1)]))
        out["irn/infer_input"] = img.numpy()
        out["irn/infer_edge"], out["irn/infer_dp"] = edge.numpy(), dp.numpy()


# ----------------------------------------------------------------------------- make_cam, make_amn_cam, eval

def make_and_eval_goldens(out: dict, root: Path, chainercv: Path | None) -> None:
    import voc12.dataloader
    from misc import torchutils
    from net import resnet50_amn, resnet50_cam
    from step import make_amn_cam, make_cam

    scales = (1.0, 0.5, 1.5, 2.0)  # the official --cam_scales
    args = argparse.Namespace(num_workers=0, cam_out_dir=str(root / "cam"), amn_cam_out_dir=str(root / "amn_cam"),
                              ir_label_out_dir=str(root / "ir_label"), cam_eval_thres=0.25,
                              voc12_root=str(root), chainer_eval_set="train")
    os.makedirs(args.cam_out_dir)
    os.makedirs(args.amn_cam_out_dir)
    dataset = voc12.dataloader.VOC12ClassificationDatasetMSF(str(root / "list.txt"), voc12_root=str(root),
                                                             scales=scales)
    dataset.label_list = np.stack([out["make/label"]] * 2)
    shards = torchutils.split_dataset(dataset, 1)
    cam = load_det(resnet50_cam.CAM(), "res50_cam", SEEDS["cam"], {})
    torch.cuda.device_count = lambda: 2  # its progress print divides by len(data) // 20 on the last "GPU"
    make_cam._work(0, cam, shards, args)
    torch.cuda.device_count = lambda: 1
    saved = np.load(root / "cam" / f"{IMAGE_ID}.npy", allow_pickle=True).item()  # the official output format
    out["make_cam/keys"], out["make_cam/cam"] = np.asarray(saved["keys"]), saved["cam"].numpy()
    out["make_cam/high_res"] = saved["high_res"]
    amn = load_det(resnet50_amn.CAM(), "res50_amn", SEEDS["amn"], {})
    torch.nn.Module.train(amn, False)
    make_amn_cam.tqdm = quiet_tqdm
    make_amn_cam._work(0, amn, shards, args)
    saved = np.load(root / "amn_cam" / f"{IMAGE_ID}.npy", allow_pickle=True).item()
    out["make_amn_cam/keys"], out["make_amn_cam/cam"] = np.asarray(saved["keys"]), saved["cam"].numpy()
    out["make_amn_cam/high_res"] = saved["high_res"]
    if chainercv is not None:
        from step import eval_cam

        # The official default, and two that split these maps (untrained weights: flat and high).
        out["eval_cam/thresholds"] = np.array([0.25, 0.8, 0.9])
        for thres in out["eval_cam/thresholds"]:
            eval_cam.print = rec = Recorder()
            args.cam_eval_thres = float(thres)
            eval_cam.run(args)
            out[f"eval_cam/{thres}/iou"] = np.asarray(rec.calls[-1][0]["iou"], np.float64)
            out[f"eval_cam/{thres}/miou"] = np.float64(rec.calls[-1][0]["miou"])


# ----------------------------------------------------------------------------- one optimizer step each

def quiet_tqdm(*args, **kwargs):
    import tqdm

    return tqdm.tqdm(*args, **dict(kwargs, disable=True))


class TorchWithListLongTensor:
    """torch, but ``LongTensor`` of a list of float arrays (official ``resize_labels``; current torch refuses
    the list) gives the same values as the torch the official code was written for."""

    def __getattr__(self, name):
        return getattr(torch, name)

    @staticmethod
    def LongTensor(data):
        return torch.as_tensor(np.array(data)).long()


def reseed_dropout(module, inputs) -> None:
    """Forward pre-hook: the dropout mask depends on nothing drawn before it."""
    torch.manual_seed(DROPOUT_SEED)


class FixedSamples(torch.utils.data.Dataset):
    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return self.samples[i]


def shim_module(name: str, **classes) -> str:
    sys.modules[name] = types.SimpleNamespace(**classes)
    return name


def param_digest(prefix: str, init: dict, final: dict, out: dict) -> None:
    """Per key: the update's norm and its first 16 values (the full weights would be 100 MB)."""
    keys = sorted(k for k in final if final[k].is_floating_point() and k in init)
    out[f"{prefix}/keys"] = np.array(keys)
    out[f"{prefix}/delta_norm"] = np.array([float((final[k].double() - init[k].double()).norm()) for k in keys])
    out[f"{prefix}/delta_head"] = np.stack([np.pad((final[k].double() - init[k].double()).flatten()[:16].numpy(),
                                                   (0, max(0, 16 - final[k].numel()))) for k in keys])


def train_cam_golden(out: dict, root: Path) -> None:
    from net import resnet50_cam
    from step import train_cam

    g = torch.Generator().manual_seed(2)
    imgs = torch.randn(2, 3, 64, 64, generator=g)
    labels = torch.zeros(2, 20)
    labels[0, [3, 7]] = 1
    labels[1, 12] = 1
    out["train_cam/img"], out["train_cam/label"] = imgs.numpy(), labels.numpy()
    samples = [{"name": f"s{i}", "img": imgs[i], "label": labels[i]} for i in range(2)]
    init = {}

    def net():
        model = load_det(resnet50_cam.Net(), "res50_cam", SEEDS["cam"], {})
        init.update({k: v.clone() for k, v in model.state_dict().items()})
        return model

    train_cam.voc12.dataloader.VOC12ClassificationDataset = lambda *a, **k: FixedSamples(samples)
    train_cam.print = Recorder()
    args = argparse.Namespace(cam_network=shim_module("golden_cam", Net=net), train_list="", val_list="",
                              voc12_root=str(root), cam_batch_size=2, num_workers=0, cam_num_epoches=1,
                              cam_learning_rate=0.1, cam_weight_decay=1e-4,
                              cam_weights_name=str(root / "res50_cam"))
    train_cam.run(args)
    param_digest("train_cam", init, torch.load(str(root / "res50_cam.pth"), weights_only=True), out)


def train_amn_golden(out: dict, root: Path) -> None:
    from net import resnet50_amn
    from step import train_amn

    g = torch.Generator().manual_seed(3)
    img = torch.randn(3, 64, 64, generator=g)  # square, as the official random crops are
    seed_label = np.zeros((64, 64), np.int64)
    seed_label[10:40, 8:30], seed_label[30:60, 34:60], seed_label[:4] = 4, 9, 255
    label_cls = torch.zeros(20)
    label_cls[[3, 8]] = 1
    out["train_amn/img"], out["train_amn/seed_label"], out["train_amn/label_cls"] = \
        img.numpy(), seed_label, label_cls.numpy()
    sample = {"name": 0, "img": img, "label": torch.from_numpy(seed_label), "label_cls": label_cls}
    init = {}

    def net():
        model = load_det(resnet50_amn.Net(), "res50_amn", SEEDS["amn"], {})
        model.classifier[0].register_forward_pre_hook(reseed_dropout)
        init.update({k: v.clone() for k, v in model.state_dict().items()})
        return model

    # The epoch's evaluation scores an image of the ground truth's size (make_voc_root).
    val = dict(sample, img=torch.randn(3, 56, 72, generator=g))
    train_amn.voc12.dataloader.VOC12SegmentationDataset = \
        lambda *a, crop_method, **k: FixedSamples([val if crop_method == "none" else sample])
    train_amn.tqdm = quiet_tqdm
    train_amn.torch = TorchWithListLongTensor()
    train_amn.print = Recorder()
    args = argparse.Namespace(amn_network=shim_module("golden_amn", Net=net), train_list="", infer_list="",
                              ir_label_out_dir="", voc12_root=str(root), amn_crop_size=64, amn_batch_size=1,
                              num_workers=0, amn_num_epoches=1, eps=0.4, chainer_eval_set="train",
                              amn_weights_name=str(root / "res50_amn"))
    train_amn.run(args)
    param_digest("train_amn", init, torch.load(str(root / "res50_amn.pth"), weights_only=True), out)


def train_irn_golden(out: dict, root: Path) -> None:
    from misc import imutils
    from net import resnet50_irn
    from step import train_irn
    import voc12.dataloader

    g = torch.Generator().manual_seed(4)
    imgs = torch.randn(2, 3, 96, 96, generator=g)
    labels = np.zeros((2, 96, 96), np.uint8)
    labels[0, 8:60, 10:70], labels[0, 80:] = 5, 255
    labels[1, 20:90, 4:40], labels[1, 20:90, 40:90], labels[1, :6] = 2, 17, 255
    out["train_irn/img"], out["train_irn/label"] = imgs.numpy(), labels
    init, holder = {}, {}

    def net(path_index):
        model = load_det(resnet50_irn.AffinityDisplacementLoss(path_index), "res50_irn", SEEDS["irn"], {})
        init.update({k: v.clone() for k, v in model.state_dict().items()})
        holder["path_index"] = path_index
        return model

    def affinity_dataset(*a, indices_from, indices_to, **k):
        aff = voc12.dataloader.GetAffinityLabelFromIndices(indices_from, indices_to)
        samples = []
        for i in range(2):
            bg, fg, neg = aff(imutils.pil_rescale(labels[i], 0.25, 0))
            samples.append({"name": i, "img": imgs[i], "aff_bg_pos_label": bg, "aff_fg_pos_label": fg,
                            "aff_neg_label": neg})
            for k_, v in (("bg", bg), ("fg", fg), ("neg", neg)):
                out[f"train_irn/aff_{k_}/{i}"] = v.numpy()
        return FixedSamples(samples)

    train_irn.voc12.dataloader.VOC12AffinityDataset = affinity_dataset
    train_irn.voc12.dataloader.VOC12ImageDataset = lambda *a, **k: FixedSamples(
        [{"name": i, "img": imgs[i]} for i in range(2)])
    train_irn.print = Recorder()
    args = argparse.Namespace(irn_network=shim_module("golden_irn", AffinityDisplacementLoss=net), train_list="",
                              infer_list="", amn_ir_label_out_dir="", voc12_root=str(root), irn_crop_size=96,
                              irn_batch_size=2, num_workers=0, irn_num_epoches=1, irn_learning_rate=0.1,
                              irn_weight_decay=1e-4, irn_weights_name=str(root / "res50_irn.pth"))
    train_irn.run(args)
    final = torch.load(str(root / "res50_irn.pth"), weights_only=True)
    param_digest("train_irn", init, final, out)
    out["train_irn/mean_shift"] = final["mean_shift.running_mean"].numpy()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--official", required=True, type=Path, help="a checkout of gaviotas/AMN (voc12 or coco14)")
    p.add_argument("--branch", required=True, choices=("voc12", "coco14"))
    p.add_argument("--chainercv", type=Path, help="a checkout of chainer/chainercv (for the eval golden)")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    official = args.official.resolve()
    out_path = args.out.resolve()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    redirect_cuda_to_cpu()
    if args.chainercv:
        install_chainercv_standin(args.chainercv.resolve())
    sys.path.insert(0, str(official))
    os.chdir(official)  # the official data loader reads voc12/cls_labels.npy relative to the working folder
    fake_imagenet_download()
    out = {"source": np.array(f"gaviotas/AMN {args.branch}"), "detweights_seeds": np.array(json.dumps(SEEDS))}
    n_classes = 20 if args.branch == "voc12" else 80
    forward_goldens(out, n_classes, args.branch)
    if args.branch == "voc12":
        irn_goldens(out)
        img = synthetic_image(56, 72, seed=5)
        label = np.zeros(20, np.float32)
        label[[4, 14]] = 1
        gt, seed_label = label_map(56, 72, [5, 15]), label_map(56, 72, [5, 15])
        seed_label[40:, :10] = 0
        out.update({"make/jpeg": np.frombuffer(jpeg_bytes(img), np.uint8), "make/label": label,
                    "make/gt": gt, "make/seed_label": seed_label, "make/image_id": np.array(IMAGE_ID)})
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "VOC2012"
            make_voc_root(root, img, gt, seed_label)
            make_and_eval_goldens(out, root, args.chainercv)
            train_cam_golden(out, root)
            train_amn_golden(out, root)
            train_irn_golden(out, root)
    np.savez_compressed(out_path, **out)
    print(f"wrote {out_path} ({out_path.stat().st_size // 1024} KiB, {len(out)} arrays)")


if __name__ == "__main__":
    main()
