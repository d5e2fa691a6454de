"""The settings a step sees: the driver's flags limited to the names the step declares in its ``SETTINGS``.

Every ``step/<name>.py`` lists the flags it reads, directly or through the engines it calls (each engine
module lists its own in ``SETTINGS``). The driver hands a step a :class:`StepSettings` of exactly those, so
reading an undeclared flag fails at once instead of hiding a dependency; benches and tests build the same
object from the driver's defaults (``cli.config.step_settings``) instead of faking a namespace.
"""
from __future__ import annotations

import argparse
from typing import Iterable, Mapping


class UndeclaredSetting(LookupError):
    """A step read a flag that its ``SETTINGS`` do not list (not an AttributeError, so ``getattr`` with a
    default cannot hide it)."""


class StepSettings(argparse.Namespace):
    """A namespace holding only the declared ``names`` of ``values``; reading any other flag raises
    :class:`UndeclaredSetting` naming the step. It pickles like a namespace (to spawned inference workers)."""

    __slots__ = ("_step", "_declared")

    def __init__(self, step: str, names: Iterable[str], values: Mapping):
        names = tuple(dict.fromkeys(names))
        super().__init__(**{name: values[name] for name in names if name in values})
        self._step, self._declared = step, frozenset(names)

    def __getattr__(self, name: str):
        if name.startswith("_") or name in self._declared:
            raise AttributeError(name)
        raise UndeclaredSetting(f"{self._step} reads --{name}, which its SETTINGS do not list; add it there")


def declared(*groups: Iterable[str]) -> tuple[str, ...]:
    """The union of settings lists, in order, without repeats (a step's own flags plus its engines')."""
    return tuple(dict.fromkeys(name for group in groups for name in group))


def flag_names(config_class) -> tuple[str, ...]:
    """The flags a config dataclass is read from: its field names, which are the flags' names."""
    import dataclasses

    return tuple(f.name for f in dataclasses.fields(config_class))


def from_flags(config_class, args, **values):
    """``config_class`` filled from the flags of the same names (``values`` given instead where named), at the
    edge: the defaults are the flags' own, defined once in ``cli/flags.py``."""
    return config_class(**{name: values[name] if name in values else getattr(args, name)
                           for name in flag_names(config_class)})
