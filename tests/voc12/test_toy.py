import hashlib

import numpy as np
from PIL import Image

from dataset.spec import load_cls_labels, load_img_name_list
from voc12 import toy


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def test_generation_is_deterministic(tmp_path):
    a = toy.generate(tmp_path / "a", seed=3, num_train=3, num_val=1, size=48)
    b = toy.generate(tmp_path / "b", seed=3, num_train=3, num_val=1, size=48)
    c = toy.generate(tmp_path / "c", seed=4, num_train=3, num_val=1, size=48)
    assert _digest(a) == _digest(b) != _digest(c)


def test_layout_labels_and_annotations_agree(toy):
    names = load_img_name_list(toy.root / "ImageSets/Segmentation/train.txt")
    assert len(names) == 16
    labels = load_cls_labels(toy.meta / "cls_labels.npy")
    for name in names:
        with Image.open(toy.root / "SegmentationClass" / f"{name}.png") as png:
            assert png.mode == "P"
            seg = np.asarray(png)
        present = {int(c) for c in np.unique(seg)} - {0, 255}
        assert present == {int(i) + 1 for i in np.flatnonzero(labels[name])}
        assert (seg == 255).any()  # the void band at object borders
        assert np.asarray(Image.open(toy.root / "JPEGImages" / f"{name}.jpg")).shape == (64, 64, 3)


def test_void_band_separates_objects_from_background():
    seg = np.zeros((20, 20), np.uint8)
    seg[5:15, 5:15] = 3
    out = toy._void_band(seg, 1)
    assert out[10, 10] == 3 and out[0, 0] == 0
    assert out[5, 10] == 255 and out[4, 10] == 255 and out[6, 10] == 3


def test_classes_share_bodies_in_pairs_and_parts_are_unique():
    # Part-only CAMs need each body to be evidence for two classes; the part alone tells them apart.
    styles = [toy.class_style(c, i) for i, c in enumerate(toy.DEFAULT_CLASSES)]
    bodies = [s.body_rgb for s in styles]
    assert all(bodies.count(b) == 2 for b in bodies)
    assert len({(s.part_rgb, s.part_pattern) for s in styles}) == len(styles)


def test_bodies_stand_out_from_every_background():
    # IRN learns boundaries from colour alone here; a body close to a background (light grey on the lower sky,
    # dull purple on the road) let the walk spread that class over the background.
    rng = np.random.default_rng(0)
    for name in toy.DEFAULT_CLASSES:
        body = np.asarray(toy.class_style(name, 0).body_rgb, np.float64)
        for kind in toy.BACKGROUNDS:
            pixels = toy._background(kind, 64, rng).reshape(-1, 3)
            assert np.percentile(np.linalg.norm(pixels - body, axis=1), 1) > 90, (name, kind)
