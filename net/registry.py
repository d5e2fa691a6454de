"""The network registry (timm's ``register_model``): each network class registers where it is defined, under
its network's name and its class name, so ``--cam_network resnet50_cam`` (or the official module path
``net.resnet50_cam``) with the class a step needs (``Net``, ``CAM``, ...) finds it without importing by
string. Another module path still works by import, with a DeprecationWarning.
"""
from __future__ import annotations

import importlib
import warnings
from typing import Callable

MODELS: dict[str, dict[str, Callable]] = {}
# Where the registered networks are defined: importing them registers them (the registry itself lists no class).
_MODULES = ("net.resnet50_cam", "net.resnet50_amn", "net.resnet50_irn", "net.deeplab_v2")


def register_model(network: str) -> Callable:
    """Decorator: register a network class (or factory) under ``network`` and its own ``__name__``."""
    def register(fn: Callable) -> Callable:
        MODELS.setdefault(network, {})[fn.__name__] = fn
        return fn
    return register


def _load_registered() -> None:
    for module in _MODULES:
        importlib.import_module(module)


def list_models() -> tuple[str, ...]:
    """The registered network names."""
    _load_registered()
    return tuple(sorted(MODELS))


def resolve(network: str, class_name: str) -> Callable:
    """The class ``class_name`` of ``network``: a registered name (``resnet50_amn``), the official module path of
    one (``net.resnet50_amn``), or, deprecated, any importable module path that defines ``class_name``."""
    _load_registered()
    name = network[len("net."):] if network.startswith("net.") else network
    if name in MODELS and class_name in MODELS[name]:
        return MODELS[name][class_name]
    if name in MODELS:
        raise ValueError(f"network {network!r} has no {class_name} (it has {', '.join(sorted(MODELS[name]))})")
    try:
        module = importlib.import_module(network)
    except ImportError:
        raise ValueError(f"unknown network {network!r}; registered: {', '.join(sorted(MODELS))} (or a module "
                         "path that defines the class)") from None
    warnings.warn(f"network {network!r} is found by its module path; register its classes with "
                  "@net.registry.register_model(name) where they are defined and pass the name", DeprecationWarning,
                  stacklevel=2)
    return getattr(module, class_name)


def create_model(network: str, class_name: str, **kwargs):
    """Build ``network``'s ``class_name`` with ``kwargs`` (touches no file)."""
    return resolve(network, class_name)(**kwargs)
