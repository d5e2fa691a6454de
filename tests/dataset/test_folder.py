"""The own-folder importer: label sources, IDs, the checked import and the prepared spec."""
import json

import numpy as np
import pytest
from PIL import Image

from dataset import folder
from dataset.spec import load_cls_labels, load_img_name_list
from misc.errors import PipelineError

# Decode in this process: the tests' folders are small.
IN_PROCESS = folder.ImportCheck(workers=0)


@pytest.fixture()
def images(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for i, ext in enumerate([".jpg", ".png", ".jpg", ".jpg"]):
        Image.new("RGB", (8, 6)).save(d / f"im{i}{ext}")
    return d


def _mask(path, values, size=(8, 6)):
    path.parent.mkdir(parents=True, exist_ok=True)
    m = np.zeros(size[::-1], np.uint8)
    m.flat[:len(values)] = values
    Image.fromarray(m, mode="L").save(path)


def test_prepare_from_csv_writes_lists_labels_and_classes(images, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("image,labels\nim0.jpg,dog\nim1,cat;dog\nim2,\nim3.jpg,cat\n")
    spec = folder.prepare(str(images), str(labels), str(tmp_path / "out"), val_fraction=0.5, check=IN_PROCESS)
    assert spec.class_names == ("cat", "dog") and spec.n_classes == 2
    assert load_img_name_list(tmp_path / "out" / "val.txt") == ["im1", "im3"]
    assert load_img_name_list(tmp_path / "out" / "train.txt") == ["im0", "im2"]
    lab = load_cls_labels(tmp_path / "out" / "cls_labels.npy")
    np.testing.assert_array_equal(lab["im1"], [1, 1])
    np.testing.assert_array_equal(lab["im2"], [0, 0])
    assert spec.image_path(tmp_path / "out", "im1").name == "im1.png"
    assert not spec.has_ground_truth(tmp_path / "out")
    assert not (tmp_path / "out" / folder.REJECTED).exists()


def test_prepare_from_json_with_declared_classes_and_masks(images, tmp_path):
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"classes": ["zebra", "cat"], "labels": {"im0": ["cat"], "im2.jpg": ["zebra"]}}))
    for name in ("im0", "im2"):
        _mask(tmp_path / "masks" / f"{name}.png", [0, 1, 2, 255])
    spec = folder.prepare(str(images), str(labels), str(tmp_path / "out"), masks=str(tmp_path / "masks"),
                          check=IN_PROCESS)
    assert spec.class_names == ("zebra", "cat") and spec.has_ground_truth(tmp_path / "out")
    np.testing.assert_array_equal(load_cls_labels(tmp_path / "out" / "cls_labels.npy")["im0"], [0, 1])
    assert spec.load_gt(tmp_path / "out", "im0", (6, 8)).tolist()[0][:4] == [0, 1, 2, 255]


def test_an_unknown_class_or_a_missing_image_is_named(images, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("im0,dog\n")
    with pytest.raises(PipelineError, match="names class 'dog', which is not among the classes"):
        folder.prepare(str(images), str(labels), str(tmp_path / "out"), classes=["cat"], check=IN_PROCESS)
    labels.write_text("im0,dog\nim9,dog\n")
    with pytest.raises(PipelineError, match="im9: named in labels.csv but not in"):
        folder.prepare(str(images), str(labels), str(tmp_path / "out"), check=IN_PROCESS)


def test_names_with_spaces_accents_and_dots_keep_their_whole_id(tmp_path):
    d = tmp_path / "imgs"
    (d / "trip 2024").mkdir(parents=True)
    for name in ("café photo.jpg", "trip 2024/IMG 0001.v2.final.JPG", "日本 写真.png"):
        Image.new("RGB", (8, 6)).save(d / name)
    labels = tmp_path / "labels.csv"
    labels.write_text("café photo.jpg,cat\ntrip 2024/IMG 0001.v2.final,dog\n日本 写真,cat;dog\n", encoding="utf-8")
    spec = folder.prepare(str(d), str(labels), str(tmp_path / "out"), val_fraction=0, check=IN_PROCESS)
    ids = load_img_name_list(tmp_path / "out" / "train.txt")
    assert ids == ["café photo", "trip 2024/IMG 0001.v2.final", "日本 写真"]
    assert spec.image_path(tmp_path / "out", ids[1]) == d / "trip 2024" / "IMG 0001.v2.final.JPG"
    assert spec.image_file_name(tmp_path / "out", ids[1]) == "trip 2024/IMG 0001.v2.final.JPG"
    assert set(load_cls_labels(tmp_path / "out" / "cls_labels.npy")) == set(ids)


def test_the_imported_file_is_the_one_read_even_when_a_sibling_has_the_same_stem(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    Image.new("RGB", (8, 6), (255, 0, 0)).save(d / "a.png")
    Image.new("RGB", (8, 6), (0, 0, 255)).save(d / "a.webp", lossless=True)
    (tmp_path / "labels.csv").write_text("a.webp,cat\n")
    spec = folder.prepare(str(d), str(tmp_path / "labels.csv"), str(tmp_path / "out"), check=IN_PROCESS)
    assert spec.load_image(tmp_path / "out", "a")[0, 0].tolist() == [0, 0, 255]  # not a.png, first in the list


def test_two_labelled_files_with_one_id_are_refused_naming_both(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for name in ("a.jpg", "a.png", "b.jpg"):
        Image.new("RGB", (8, 6)).save(d / name)
    (tmp_path / "labels.csv").write_text("a.jpg,cat\na.png,dog\nb.jpg,cat\n")
    with pytest.raises(PipelineError) as err:
        folder.prepare(str(d), str(tmp_path / "labels.csv"), str(tmp_path / "out"), check=IN_PROCESS)
    assert "a.png: gives the ID 'a', as a.jpg does" in str(err.value)
    assert not (tmp_path / "out").exists()
    (tmp_path / "labels.csv").write_text("a,cat\n")  # the stem alone is ambiguous too
    with pytest.raises(PipelineError, match="a: matches a.jpg and a.png; name the file with its extension"):
        folder.prepare(str(d), str(tmp_path / "labels.csv"), str(tmp_path / "out"), check=IN_PROCESS)


def test_class_folders_without_a_label_file(tmp_path):
    d = tmp_path / "root"
    for cls in ("cats", "dogs"):
        (d / cls).mkdir(parents=True)
        for name in ("001.jpg", "002.jpg"):
            Image.new("RGB", (8, 6)).save(d / cls / name)
    (d / "dogs" / "puppies").mkdir()
    Image.new("RGB", (8, 6)).save(d / "dogs" / "puppies" / "001.jpg")
    (d / "cats" / "notes.txt").write_text("not an image")
    (d / ".DS_Store").write_text("")
    spec = folder.prepare(str(d), None, str(tmp_path / "out"), val_fraction=0, check=IN_PROCESS)
    assert spec.class_names == ("cats", "dogs")
    ids = load_img_name_list(tmp_path / "out" / "train.txt")
    assert ids == ["cats/001", "cats/002", "dogs/001", "dogs/002", "dogs/puppies/001"]
    labels = load_cls_labels(tmp_path / "out" / "cls_labels.npy")
    assert labels["cats/001"].tolist() == [1, 0] and labels["dogs/puppies/001"].tolist() == [0, 1]
    Image.new("RGB", (8, 6)).save(d / "loose.jpg")
    with pytest.raises(PipelineError, match="loose.jpg: lies outside any class folder"):
        folder.prepare(str(d), None, str(tmp_path / "out2"), check=IN_PROCESS)


def _bad_folder(tmp_path):
    """Six labelled images of which four are unusable, with masks for all but one."""
    d, masks = tmp_path / "imgs", tmp_path / "masks"
    d.mkdir()
    for name in ("good", "short mask", "class 7", "no mask"):
        Image.new("RGB", (8, 6)).save(d / f"{name}.jpg")
    good = (d / "good.jpg").read_bytes()
    (d / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (d / "empty.png").write_bytes(b"")
    _mask(masks / "good.png", [0, 1, 2, 255])
    _mask(masks / "short mask.png", [0], size=(8, 5))
    _mask(masks / "class 7.png", [0, 7])
    _mask(masks / "truncated.png", [0])
    _mask(masks / "empty.png", [0])
    (tmp_path / "labels.csv").write_text("".join(f"{p.name},cat\n" for p in sorted(d.iterdir())))
    return d, masks


def test_a_checked_import_refuses_bad_files_one_line_each_and_writes_nothing(tmp_path):
    d, masks = _bad_folder(tmp_path)
    with pytest.raises(PipelineError) as err:
        folder.prepare(str(d), str(tmp_path / "labels.csv"), str(tmp_path / "out"), masks=str(masks),
                       classes=["cat", "dog"], check=IN_PROCESS)
    lines = str(err.value).splitlines()
    assert lines[0].startswith("5 problems in the folder; nothing was imported")
    by_file = {line.split(": ", 1)[0].strip(): line for line in lines[1:]}
    assert set(by_file) == {"no mask.jpg", "class 7.jpg", "empty.png", "short mask.jpg", "truncated.jpg"}
    assert "has no mask" in by_file["no mask.jpg"] and "while 5 other images have one" in by_file["no mask.jpg"]
    assert "holds the value 7 (1 pixels), but the dataset has 2 classes" in by_file["class 7.jpg"]
    assert "is 8x5 pixels but its image is 8x6" in by_file["short mask.jpg"]
    assert "cannot be decoded" in by_file["truncated.jpg"] and "cannot be decoded" in by_file["empty.png"]
    assert not (tmp_path / "out").exists()


def test_skip_invalid_imports_the_rest_and_lists_the_rejected(tmp_path):
    d, masks = _bad_folder(tmp_path)
    spec = folder.prepare(str(d), str(tmp_path / "labels.csv"), str(tmp_path / "out"), masks=str(masks),
                          classes=["cat", "dog"], val_fraction=0,
                          check=folder.ImportCheck(skip_invalid=True, workers=0))
    assert load_img_name_list(tmp_path / "out" / "train.txt") == ["good"]
    rejected = dict(line.split("\t") for line in (tmp_path / "out" / folder.REJECTED).read_text().splitlines())
    assert set(rejected) == {"no mask.jpg", "class 7.jpg", "empty.png", "short mask.jpg", "truncated.jpg"}
    assert spec.files == {"good": "good.jpg"}


def test_a_long_refusal_shows_the_first_problems_and_counts_the_rest(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(12):
        (d / f"x{i:02d}.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "labels.csv").write_text("".join(f"x{i:02d},cat\n" for i in range(12)))
    with pytest.raises(PipelineError) as err:
        folder.prepare(str(d), str(tmp_path / "labels.csv"), str(tmp_path / "out"), check=IN_PROCESS)
    lines = str(err.value).splitlines()
    assert len(lines) == 1 + folder.SHOWN_PROBLEMS + 1 and lines[-1] == "  ... and 4 more"


def test_pool_check_equals_the_in_process_check(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(70):
        Image.new("RGB", (4, 3)).save(d / f"{i:03d}.png")
    for i in (5, 40):
        (d / f"{i:03d}.png").write_bytes(b"\x89PNG broken")
    (tmp_path / "labels.csv").write_text("".join(f"{i:03d},cat\n" for i in range(70)))
    errors = []
    for workers in (0, 2):
        with pytest.raises(PipelineError) as err:
            folder.prepare(str(d), str(tmp_path / "labels.csv"), str(tmp_path / "out"),
                           check=folder.ImportCheck(workers=workers))
        errors.append(str(err.value))
    assert errors[0] == errors[1] and errors[0].startswith("2 problems") and "005.png" in errors[0]


def _phone_photo(path, size=(16, 12)):
    """A JPEG whose raw pixels are ``size`` (w, h) with EXIF orientation 6: displayed turned, (h, w); its raw
    top-left 4x4 corner is green."""
    img = Image.new("RGB", size, (200, 10, 10))
    img.paste((0, 255, 0), (0, 0, 4, 4))
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(path, exif=exif, quality=100)


def test_phone_photos_are_read_as_displayed_and_their_masks_checked_so(tmp_path):
    d, masks = tmp_path / "imgs", tmp_path / "masks"
    d.mkdir()
    _phone_photo(d / "phone.jpg")
    _mask(masks / "phone.png", [0, 1], size=(12, 16))  # drawn on the displayed, upright picture
    (tmp_path / "labels.csv").write_text("phone.jpg,cat\n")
    spec = folder.prepare(str(d), str(tmp_path / "labels.csv"), str(tmp_path / "out"), masks=str(masks),
                          check=IN_PROCESS)
    img = spec.load_image(tmp_path / "out", "phone")
    assert img.shape == (16, 12, 3)
    # Orientation 6 (turn 90 degrees clockwise to display): the raw top-left corner is shown top-right.
    assert img[1:3, 9:11, 1].min() > 200 and img[1:3, 1:3, 1].max() < 60
    _mask(masks / "phone.png", [0, 1], size=(16, 12))  # drawn on the raw pixels
    with pytest.raises(PipelineError, match="is 16x12 pixels but its image is 12x16"):
        folder.prepare(str(d), str(tmp_path / "labels.csv"), str(tmp_path / "out2"), masks=str(masks), check=IN_PROCESS)


@pytest.mark.parametrize("mode", ["RGB", "CMYK", "RGBA", "L", "I;16", "P", "WEBP"])
def test_image_forms_users_have_import_and_read_as_rgb(tmp_path, mode):
    d = tmp_path / "imgs"
    d.mkdir()
    ext = {"RGB": ".jpg", "CMYK": ".jpg", "WEBP": ".webp"}.get(mode, ".png")
    img = Image.new("RGB" if mode == "WEBP" else mode, (8, 6))
    img.save(d / f"x{ext}")
    (tmp_path / "labels.csv").write_text(f"x{ext},cat\n")
    spec = folder.prepare(str(d), str(tmp_path / "labels.csv"), str(tmp_path / "out"), check=IN_PROCESS)
    px = spec.load_image(tmp_path / "out", "x")
    assert px.shape == (6, 8, 3) and px.dtype == np.uint8


def test_long_ids_keep_every_character_in_the_label_file(tmp_path):
    d = tmp_path / "imgs" / ("a very long folder name " * 4).strip()
    d.mkdir(parents=True)
    Image.new("RGB", (8, 6)).save(d / "photo.jpg")
    spec = folder.prepare(str(tmp_path / "imgs"), None, str(tmp_path / "out"), val_fraction=0, check=IN_PROCESS)
    (iid,) = load_img_name_list(tmp_path / "out" / "train.txt")
    assert len(iid) > 64 and list(load_cls_labels(tmp_path / "out" / "cls_labels.npy")) == [iid]
    assert spec.image_path(tmp_path / "out", iid).is_file()


def test_main_prints_one_error_line_block_without_traceback(images, tmp_path, capsys):
    (tmp_path / "labels.csv").write_text("im0,cat\nim9,cat\n")
    with pytest.raises(SystemExit) as exit_:
        folder.main(["--images", str(images), "--labels", str(tmp_path / "labels.csv"), "--out_dir",
                     str(tmp_path / "out"), "--workers", "0"])
    assert str(exit_.value).startswith("error: 1 problem in the folder") and "im9: named in" in str(exit_.value)


def test_the_old_module_path_still_imports_with_a_deprecation_warning():
    import importlib
    import sys

    sys.modules.pop("voc12.folder", None)
    with pytest.warns(DeprecationWarning, match="voc12.folder moved to dataset.folder"):
        old = importlib.import_module("voc12.folder")
    assert old.prepare is folder.prepare
