"""StepSettings: a step sees only the flags it declares."""
import pickle

import pytest

from misc.settings import StepSettings, UndeclaredSetting, declared


def test_only_declared_names_are_kept_and_readable():
    s = StepSettings("make_cam", ["a", "b", "missing"], {"a": 1, "b": 2, "c": 3})
    assert vars(s) == {"a": 1, "b": 2}
    with pytest.raises(UndeclaredSetting, match="make_cam reads --c"):
        s.c
    with pytest.raises(UndeclaredSetting):  # a default cannot hide an undeclared read
        getattr(s, "c", None)
    with pytest.raises(AttributeError):  # declared but absent from the values: an ordinary missing attribute
        s.missing


def test_settings_pickle_to_spawned_workers():
    s = StepSettings("make_cam", ["a"], {"a": [1, 2]})
    again = pickle.loads(pickle.dumps(s))
    assert vars(again) == {"a": [1, 2]} and again._step == "make_cam"
    with pytest.raises(UndeclaredSetting, match="make_cam"):
        again.b


def test_declared_joins_lists_in_order_without_repeats():
    assert declared(("a", "b"), ("b", "c"), ("a",)) == ("a", "b", "c")
