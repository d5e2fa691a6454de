"""Label sources of own folders: CSVs as spreadsheets save them, JSON, class folders, and IDs."""
import pytest
from PIL import Image

from dataset import folder_labels
from misc.errors import PipelineError


def test_a_spreadsheet_csv_with_bom_crlf_quotes_and_repeated_rows(tmp_path):
    path = tmp_path / "labels.csv"
    text = ('image,labels\r\n"dinner, with friends.jpg",person;dining table\r\nsolo.jpg,person\r\n'
            "solo.jpg,dog\r\n\r\n")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    labels, declared = folder_labels.read_label_file(path)
    assert declared is None
    assert labels == {"dinner, with friends.jpg": ["person", "dining table"], "solo.jpg": ["person", "dog"]}


def test_a_csv_with_classes_in_several_cells(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("file,class1,class2\na.jpg,cat,dog\nb.jpg,dog,\n")
    assert folder_labels.read_label_file(path)[0] == {"a.jpg": ["cat", "dog"], "b.jpg": ["dog"]}


def test_json_with_and_without_declared_classes(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text('{"classes": ["b", "a"], "labels": {"x": ["a"]}}')
    assert folder_labels.read_label_file(path) == ({"x": ["a"]}, ["b", "a"])
    path.write_text('{"x": "a"}')
    with pytest.raises(PipelineError, match="must map each image to a list of class names"):
        folder_labels.read_label_file(path)


def test_a_label_file_that_is_not_utf8_says_how_to_save_it(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_bytes("caf\xe9.jpg,cat\n".encode("latin-1"))
    with pytest.raises(PipelineError, match="is not UTF-8 text"):
        folder_labels.read_label_file(path)


@pytest.mark.parametrize("rel, expected", [("cats/001.jpg", "cats/001"), ("a.b.c.png", "a.b.c"),
                                           ("café photo.JPEG", "café photo"), ("noext", "noext")])
def test_image_id_is_the_relative_path_without_the_extension(rel, expected):
    assert folder_labels.image_id(rel) == expected


def test_an_id_that_would_not_read_back_from_a_list_is_a_problem(tmp_path):
    d = tmp_path / "imgs"
    (d / "x").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(d / "x" / "y.png.jpg", format="JPEG")  # ID x/y.png reads as a path line
    (tmp_path / "l.csv").write_text("x/y.png.jpg,cat\n")
    found = folder_labels.from_label_file(d, tmp_path / "l.csv")
    assert not found.files and found.problems[0][0] == "x/y.png.jpg" and "would not read back" in found.problems[0][1]


def test_unlabelled_images_and_non_images_are_reported_not_dropped_silently(tmp_path):
    d = tmp_path / "root" / "cats"
    d.mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(d / "a.jpg")
    (d / "b.heic").write_bytes(b"\x00")
    found = folder_labels.from_class_folders(tmp_path / "root")
    assert found.files == {"cats/a": "cats/a.jpg"}
    assert found.notes == [f"1 files in {tmp_path / 'root'} are not images by their extension and are not "
                           "imported (first: cats/b.heic)"]
    (tmp_path / "l.csv").write_text("cats/a,cat\n")
    Image.new("RGB", (4, 4)).save(d / "c.png")
    found = folder_labels.from_label_file(tmp_path / "root", tmp_path / "l.csv")
    assert "1 images in" in found.notes[0] and "(first: cats/c.png)" in found.notes[0]


def test_a_many_row_csv_resolves_every_row_to_its_file(tmp_path):
    images = tmp_path / "images"
    (images / "nested").mkdir(parents=True)
    rows = ["image,labels"]
    for i in range(3000):
        rel = f"nested/img {i:05d}.jpg" if i % 3 == 0 else f"img {i:05d}.png"
        (images / rel).touch()
        key = rel if i % 2 else folder_labels.image_id(rel)  # with and without the extension
        rows.append(f'"{key}",class{i % 7}')
        if i % 5 == 0:
            rows.append(f'"{key}",extra')  # a repeated row adds its class
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    found = folder_labels.from_label_file(images, tmp_path / "labels.csv")
    assert not found.problems and len(found.files) == 3000
    assert found.files["nested/img 00003"] == "nested/img 00003.jpg"
    assert found.classes["img 00010"] == ["class3", "extra"] and found.classes["img 00011"] == ["class4"]
