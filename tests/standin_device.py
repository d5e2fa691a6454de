"""A stand-in accelerator, so device-placement bugs show up on a machine without a GPU.

Under :func:`standin_accelerator` the ``meta`` device plays the GPU: tensors sent there (``.to(device)``,
``torch.zeros(..., device=device)``, a module's ``.to(device)``) are real CPU tensors wrapped in
:class:`OnAccelerator`, which reports ``device.type == "meta"`` and computes on the CPU. Every aten op is
checked as CUDA would check it, only stricter: an op that mixes accelerator tensors with host tensors raises
:class:`DevicePlacementError`, CPU scalars included (CUDA kernels such as logaddexp reject them), except the
ops that move data between devices. Host-only code (``.cpu().numpy()``) runs as usual; calling ``.numpy()``
on an accelerator tensor fails, as it does on CUDA.

With deterministic algorithms on, ops whose CUDA kernels raise under ``torch.use_deterministic_algorithms``
(their backward uses atomics) raise here too, so ``--deterministic`` is checked as well.
"""
from __future__ import annotations

import contextlib
import weakref

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

STANDIN = torch.device("meta")

# aten ops whose CUDA kernels call alertNotDeterministic (PyTorch's use_deterministic_algorithms list).
CUDA_NONDETERMINISTIC = {
    "aten.upsample_bilinear2d_backward.default", "aten.upsample_linear1d_backward.default",
    "aten.upsample_bicubic2d_backward.default", "aten.upsample_trilinear3d_backward.default",
    "aten.nll_loss2d_forward.default", "aten.nll_loss_forward.default", "aten.adaptive_avg_pool2d_backward.default",
    "aten._adaptive_avg_pool2d_backward.default", "aten.adaptive_max_pool2d_backward.default",
    "aten.reflection_pad2d_backward.default", "aten.replication_pad2d_backward.default",
    "aten.histc.default", "aten.kthvalue.default", "aten.median.dim", "aten.grid_sampler_2d_backward.default",
}

# Ops that legitimately take tensors on two devices.
TRANSFERS = {"aten._to_copy.default", "aten.copy_.default", "aten._copy_from.default",
             "aten._copy_from_and_resize.default"}


COUNTS = {"device_ops": 0}  # ops that ran on the stand-in, so a test can tell it was used


class DevicePlacementError(RuntimeError):
    """An op received tensors on the accelerator and on the host."""


class NondeterministicOnCuda(RuntimeError):
    """An op that raises on CUDA under torch.use_deterministic_algorithms(True)."""


class OnAccelerator(torch.Tensor):
    """A CPU tensor that claims to live on the stand-in accelerator."""

    @staticmethod
    def __new__(cls, elem: torch.Tensor):
        kwargs = {"dtype": elem.dtype, "device": STANDIN, "requires_grad": elem.requires_grad, "layout": elem.layout}
        if elem.layout == torch.strided:
            kwargs["strides"] = elem.stride()
        return torch.Tensor._make_wrapper_subclass(cls, elem.shape, **kwargs)

    def __init__(self, elem: torch.Tensor):
        self.elem = elem

    def __repr__(self) -> str:
        return f"OnAccelerator({self.elem!r})"

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        return _dispatch(func, args, kwargs or {})


# Sparse tensors cannot be wrapped (wrapper subclasses are strided), so sparse results of accelerator ops stay
# plain CPU tensors and are remembered here as being on the accelerator.
_SPARSE_ON_DEVICE: dict[int, bool] = {}


def _on_device(t) -> bool:
    return isinstance(t, OnAccelerator) or (isinstance(t, torch.Tensor) and id(t) in _SPARSE_ON_DEVICE)


def _mark_sparse(t: torch.Tensor) -> torch.Tensor:
    _SPARSE_ON_DEVICE[id(t)] = True
    weakref.finalize(t, _SPARSE_ON_DEVICE.pop, id(t), None)
    return t


def _wrap(o):
    if not isinstance(o, torch.Tensor) or isinstance(o, OnAccelerator):
        return o
    return _mark_sparse(o) if o.layout != torch.strided else OnAccelerator(o)


def _is_standin(device) -> bool:
    return device is not None and torch.device(device).type == STANDIN.type


def _dispatch(func, args, kwargs):
    name = str(func)
    flat, _ = tree_flatten((args, kwargs))
    on_device = [a for a in flat if _on_device(a)]
    on_host = [a for a in flat if isinstance(a, torch.Tensor) and not _on_device(a)]
    moves = name.startswith(("aten.to.", "aten._to_copy."))  # inference mode dispatches aten.to itself
    if on_device and on_host and name not in TRANSFERS and not moves:
        raise DevicePlacementError(f"{name} mixes accelerator tensors with host tensors of shapes "
                                   f"{[tuple(t.shape) for t in on_host]}")
    if on_device:
        COUNTS["device_ops"] += 1
    if on_device and torch.are_deterministic_algorithms_enabled() and name in CUDA_NONDETERMINISTIC:
        raise NondeterministicOnCuda(f"{name} has no deterministic CUDA kernel")
    to_standin = _is_standin(kwargs.get("device"))
    unwrapped_kwargs = tree_map(_unwrap, kwargs)
    if to_standin:
        unwrapped_kwargs["device"] = torch.device("cpu")
    out = func(*tree_map(_unwrap, args), **unwrapped_kwargs)
    if moves:
        wrap = to_standin or (bool(on_device) and kwargs.get("device") is None)
    elif name == "aten.copy_.default":
        wrap = isinstance(args[0], OnAccelerator)
    else:
        wrap = bool(on_device) or to_standin
    if not wrap:
        return out
    if func.overloadpacket.__name__.endswith("_") and _on_device(args[0]):
        return args[0]  # in-place: the op's result is its first argument itself
    if func.is_view and not torch.is_inference(args[0]):
        # A view of a tensor made outside inference mode (a module's buffer) must not be an inference tensor.
        with torch.inference_mode(False):
            return tree_map(_wrap, out)
    return tree_map(_wrap, out)


def _unwrap(x):
    return x.elem if isinstance(x, OnAccelerator) else x


class _StandInMode(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return _dispatch(func, args, kwargs or {})


# Tensors built from Python or NumPy data skip the dispatcher's factory ops, so they are caught where Python
# calls them.
_FROM_DATA = {torch.tensor, torch.as_tensor, torch.asarray, torch.Tensor.new_tensor}


class _FromDataMode(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in (torch.sparse_coo_tensor, torch.sparse_csr_tensor):
            flat, _ = tree_flatten((args, kwargs))
            if any(_on_device(a) for a in flat) or _is_standin(kwargs.get("device")):
                kwargs.pop("device", None)
                return _mark_sparse(func(*tree_map(_unwrap, args), **tree_map(_unwrap, kwargs)))
        if func not in _FROM_DATA:
            return func(*args, **kwargs)
        if func is torch.Tensor.new_tensor:
            owner, data = args[0], args[1]
            device = kwargs.pop("device", owner.device)
            kwargs.setdefault("dtype", owner.dtype)
            if not _is_standin(device):
                return torch.tensor(data, device=device, **kwargs)
            return OnAccelerator(torch.tensor(data, **kwargs))
        if not _is_standin(kwargs.get("device")):
            return func(*args, **kwargs)
        kwargs["device"] = torch.device("cpu")
        return OnAccelerator(func(*args, **kwargs))


@contextlib.contextmanager
def standin_accelerator():
    """Within, ``torch.device("meta")`` is a checked stand-in accelerator; yields that device."""
    with _FromDataMode(), _StandInMode():
        yield STANDIN


def to_host(tree):
    """Plain CPU tensors in place of accelerator ones (for saving), anywhere in a nested structure."""
    return tree_map(lambda t: t.elem.detach().clone() if isinstance(t, OnAccelerator) else t, tree)
