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


@pytest.mark.parametrize("case", ["recorded", "palette", "unrecorded", "compressed", "international", "after_idat"])
def test_the_header_read_of_a_record_equals_the_full_decode(tmp_path, case):
    from PIL import Image, PngImagePlugin

    from misc import fileio

    label = np.arange(64 * 48, dtype=np.uint8).reshape(48, 64) % 21
    path = tmp_path / "x.png"
    if case in ("recorded", "palette", "unrecorded"):
        palette = np.arange(768, dtype=np.uint8) if case == "palette" else None
        fileio.save_png(path, label, palette, record=None if case == "unrecorded" else "0123456789abcdef")
    elif case == "after_idat":  # a text chunk behind the pixels: PIL finds it only after decoding them
        fileio.save_png(path, label)
        body = path.read_bytes()
        import struct
        import zlib as z

        data = b"record\x00feedface"
        chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", z.crc32(b"tEXt" + data))
        end = body.rindex(b"IEND") - 4
        path.write_bytes(body[:end] + chunk + body[end:])
    else:
        info = PngImagePlugin.PngInfo()
        if case == "compressed":
            info.add_text("record", "abc" * 400, zip=True)
        else:
            info.add_itxt("record", "café ☕ digest", lang="fr", tkey="empreinte", zip=True)
        Image.fromarray(label).save(path, pnginfo=info)
    with Image.open(path) as img:
        img.load()
        expected = img.text.get("record")
    assert fileio.read_record(path) == expected
    assert (expected is None) == (case == "unrecorded")


def test_a_truncated_or_foreign_png_is_unreadable(tmp_path):
    from misc import fileio

    path = tmp_path / "x.png"
    fileio.save_png(path, np.zeros((8, 8), np.uint8), record="r")
    path.write_bytes(b"GIF89a" + path.read_bytes()[6:])
    with pytest.raises(ValueError):
        fileio.read_record(path)
    fileio.save_png(path, np.zeros((8, 8), np.uint8), record="r")
    path.write_bytes(path.read_bytes()[:40] + path.read_bytes()[-12:])  # chunks cut, IEND kept
    with pytest.raises(ValueError):
        fileio.read_record(path)


class _FullDisk:
    """A file whose writes fail as on a full file system (ENOSPC) once ``room`` bytes are written."""

    def __init__(self, path, mode="wb", room=100, **kwargs):
        import builtins

        self.file, self.room = builtins.open(path, mode, **kwargs), room

    def write(self, data):
        import errno

        self.room -= len(data)
        if self.room < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


@pytest.mark.parametrize("writer", ["torch", "npz", "png"])
def test_a_write_on_a_full_disk_is_one_line_and_leaves_no_partial_file(tmp_path, monkeypatch, writer):
    import torch

    from misc.errors import PipelineError

    monkeypatch.setattr(fileio, "open", _FullDisk, raising=False)
    target = tmp_path / "out" / "weights.pth"
    write = {"torch": lambda: fileio.save_torch(target, {"w": torch.zeros(1000)}),
             "npz": lambda: fileio.save_arrays(target, x=np.zeros(1000)),
             "png": lambda: fileio.save_png(target, np.random.default_rng(0).integers(0, 20, (64, 64)))}[writer]
    with pytest.raises(PipelineError) as err:
        write()
    message = str(err.value)
    assert message.startswith(f"no space left on device while writing {target} (") and "free)" in message
    assert "\n" not in message and "enforce fail" not in message
    assert list(tmp_path.rglob("*")) == [tmp_path / "out"]  # nothing partial, no temporary left
    monkeypatch.undo()
    write()  # with room again the same call writes the file
    assert target.is_file()


def test_a_step_says_early_when_its_outputs_will_not_fit(tmp_path, monkeypatch, capsys):
    import collections
    import shutil

    from engine import planner

    monkeypatch.setattr(planner, "SPACE_POLL_S", 0.01)
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 0, 50_000))
    names = [f"im{i:04d}" for i in range(1000)]
    _, todo = planner.plan_outputs("make_x", tmp_path, names, ".bin", {"step": "make_x"}, overwrite=False)
    watch = next(t for t in __import__("threading").enumerate() if t.name == "space-watch-make_x")
    for name in names[:16]:  # written whole, then renamed, as every output is
        (tmp_path / "part").write_bytes(b"x" * 1000)
        (tmp_path / "part").rename(tmp_path / f"{name}.bin")
    watch.join(timeout=10)
    out = capsys.readouterr().out
    assert ("warning: make_x: the 984 outputs still to come need about 984.0 KB in " + str(tmp_path)) in out
    assert "(1.0 KB each), but its disk has 50.0 KB free" in out
