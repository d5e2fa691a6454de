"""Numerics: bfloat16 autocast (``--amp``), channels-last memory (``--channels_last``), TF32 and deterministic
kernels (``--tf32``, ``--deterministic``). Heads switch autocast off with ``misc.torchutils.full_precision``."""
from __future__ import annotations

import contextlib
import os

import torch

# The flags this module reads (see misc/settings.py).
SETTINGS = ("amp", "channels_last")


def autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast for ``--amp`` on any device (on the CPU too: slower, but the same code path)."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def configure_kernels(deterministic: bool, tf32: bool | None) -> None:
    """Deterministic kernels, and TF32 on Ampere and later GPUs (None leaves PyTorch's defaults: TF32 for
    cuDNN convolutions, full fp32 for matrix products)."""
    if deterministic:
        # cuBLAS reads this when its first handle is made, so it must be set before any CUDA matrix product.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    if tf32 is not None:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = bool(tf32)


def use_channels_last(model: torch.nn.Module, channels_last: bool) -> None:
    """``--channels_last True``: NHWC weights (faster convolutions on recent GPUs)."""
    if channels_last:
        model.to(memory_format=torch.channels_last)


def batch_input(img: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """A batch on ``device``, NHWC with ``--channels_last True``."""
    img = img.to(device, non_blocking=True)
    return img.contiguous(memory_format=torch.channels_last) if channels_last else img
