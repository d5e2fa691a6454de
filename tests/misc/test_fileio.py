import os

import numpy as np
import pytest

from misc import fileio


def test_atomic_open_leaves_nothing_when_killed_mid_write(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with fileio.atomic_open(target) as f:
            f.write(b"partial")
            raise RuntimeError("killed")
    assert os.listdir(tmp_path) == []


def test_atomic_open_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with fileio.atomic_open(target, "w") as f:
            f.write("new")
            raise RuntimeError
    assert target.read_text() == "old"
    with fileio.atomic_open(target, "w") as f:
        f.write("new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["out.txt"]


def test_cam_files_round_trip_without_pickle(tmp_path):
    path = fileio.cam_path(tmp_path, "2007_000032")
    keys = np.array([0, 14])
    cam = np.random.rand(2, 4, 5).astype(np.float32)
    fileio.save_cam(path, keys, cam, cam * 2)
    out = fileio.load_cam(path)
    np.testing.assert_array_equal(out["keys"], keys)
    np.testing.assert_array_equal(out["high_res"], cam * 2)
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == ["cam", "high_res", "keys"]


def test_png_round_trip_and_missing_file(tmp_path):
    label = np.array([[0, 255], [3, 20]], np.uint8)
    fileio.save_png(tmp_path / "a.png", label)
    np.testing.assert_array_equal(fileio.load_png(tmp_path / "a.png"), label)
    with pytest.raises(FileNotFoundError, match="b.png"):
        fileio.load_png(tmp_path / "b.png")
    (tmp_path / "c.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="c.png"):
        fileio.load_png(tmp_path / "c.png")


def test_resolve_weights_accepts_the_official_doubled_suffix(tmp_path):
    official = tmp_path / "res50_amn.pth.pth"
    official.write_bytes(b"x")
    assert fileio.resolve_weights(tmp_path / "res50_amn.pth") == official
    with pytest.raises(FileNotFoundError, match="res50_cam.pth"):
        fileio.resolve_weights(tmp_path / "res50_cam.pth")
