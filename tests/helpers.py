"""Helpers the tests import (pytest.ini puts tests/ on the path)."""
import contextlib

from engine import checkpoints


def pipeline_argv(toy, tmp_path, *extra):
    """Driver flags that run the pipeline on the toy VOC fixture with tiny CPU settings."""
    return ["--voc12_root", str(toy.root), "--train_list", str(toy.meta / "train.txt"),
            "--val_list", str(toy.meta / "val.txt"), "--infer_list", str(toy.meta / "train.txt"),
            "--cls_labels", str(toy.meta / "cls_labels.npy"), "--seg_train_list", str(toy.meta / "train.txt"),
            "--seg_eval_list", str(toy.meta / "val.txt"), *tiny_settings(tmp_path), *extra]


def tiny_settings(tmp_path) -> list[str]:
    """Small crops, one epoch, every output under ``tmp_path``."""
    out = tmp_path / "result"
    sess = tmp_path / "sess"
    return ["--device", "cpu", "--num_workers", "0",
            "--backbone_weights", "none", "--cam_scales", "1.0", "0.5",
            "--cam_crop_size", "64", "--cam_resize_long", "56", "72", "--cam_batch_size", "8", "--cam_num_epoches", "1",
            "--amn_crop_size", "64", "--amn_batch_size", "8", "--amn_num_epoches", "1",
            "--amn_backbone_weights", str(sess / "res50_cam.pth"),
            "--irn_backbone_weights", str(sess / "res50_cam.pth"),
            "--irn_crop_size", "96", "--irn_batch_size", "8", "--irn_num_epoches", "1", "--exp_times", "4",
            "--cam_weights_name", str(sess / "res50_cam.pth"), "--amn_weights_name", str(sess / "res50_amn.pth"),
            "--irn_weights_name", str(sess / "res50_irn.pth"), "--result_dir", str(out),
            "--cam_out_dir", str(out / "cam"), "--ir_label_out_dir", str(out / "ir_label"),
            "--amn_cam_out_dir", str(out / "amn_cam"), "--amn_ir_label_out_dir", str(out / "amn_ir_label"),
            "--sem_seg_out_dir", str(out / "sem_seg"), "--sem_seg_map_dir", str(out / "sem_seg_maps"),
            "--ins_seg_out_dir", str(out / "ins_seg"),
            "--seg_depth", "50", "--seg_init_weights", str(sess / "res50_cam.pth"), "--seg_crop_size", "48",
            "--seg_batch_size", "2", "--seg_iter_max", "2", "--seg_weights_name", str(sess / "deeplab.pth"),
            "--seg_out_dir", str(out / "seg"),
            "--log_name", str(tmp_path / "log"),
            "--report_images", "3"]


def _ddp_child(rank: int, world: int, port: int, argv: list[str], stop_after_epoch, threads: int) -> None:
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world))
    import torch
    torch.set_num_threads(threads)  # the parent's count, so float reductions run in the same order
    if stop_after_epoch is not None:
        from misc import distributed
        real = distributed.save_on_master
        saved = []

        def stop(fn, *args, **kwargs):
            real(fn, *args, **kwargs)
            if fn is checkpoints.save_resume:
                saved.append(1)
                if len(saved) == stop_after_epoch:
                    raise SystemExit(0)

        distributed.save_on_master = stop
    import run_sample
    run_sample.main(argv)


def run_ddp(argv: list[str], world: int = 2, stop_after_epoch: int | None = None) -> None:
    """Run the driver in ``world`` gloo processes, as torchrun would (optionally stopping after an epoch)."""
    import socket

    import torch
    import torch.multiprocessing as tmp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with passive_openmp():
        tmp.spawn(_ddp_child, args=(world, port, argv, stop_after_epoch, torch.get_num_threads()), nprocs=world,
                  join=True)


@contextlib.contextmanager
def passive_openmp():
    """Processes spawned meanwhile let their idle OpenMP threads sleep: several processes, each with the
    parent's thread count (for bit-equal reductions), share the cores, and spinning threads then wait on each
    other for seconds at every parallel region (a DDP test took 24-36 s spinning, 17 s sleeping). The parent's
    threads were started already and keep spinning, which is faster in one process."""
    import os

    old = os.environ.get("OMP_WAIT_POLICY")
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        yield
    finally:
        if old is None:
            del os.environ["OMP_WAIT_POLICY"]
        else:
            os.environ["OMP_WAIT_POLICY"] = old


def fake_imagenet_weights(path) -> str:
    """A random ResNet-50 trunk saved like an ImageNet file, so BatchNorm stays frozen as with real weights."""
    import torch

    from net import resnet50

    torch.manual_seed(123)
    torch.save(resnet50.resnet50(strides=(2, 2, 2, 1)).state_dict(), path)
    return str(path)
