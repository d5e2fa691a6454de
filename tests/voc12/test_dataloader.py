import numpy as np
import pytest
import torch
from PIL import Image

from dataset.spec import load_cls_labels, load_img_name_list, save_cls_labels, voc_palette
from dataset.transforms import GetAffinityLabelFromIndices, TorchvisionNormalize
from misc.errors import PipelineError
from voc12 import dataloader as vocdata


def test_ids_are_strings_and_paths_are_accepted(tmp_path):
    lst = tmp_path / "l.txt"
    lst.write_text("2007_000032\n\nJPEGImages/2008_000002.jpg SegmentationClassAug/2008_000002.png\n")
    assert load_img_name_list(lst) == ["2007_000032", "2008_000002"]


def test_cls_labels_round_trip_without_pickle(tmp_path):
    labels = {"2007_000032": np.eye(20, dtype=np.float32)[0], "2011_003276": np.eye(20, dtype=np.float32)[14]}
    save_cls_labels(tmp_path / "c.npy", labels)
    out = load_cls_labels(tmp_path / "c.npy")
    assert out.keys() == labels.keys()
    np.testing.assert_array_equal(out["2011_003276"], labels["2011_003276"])
    np.save(tmp_path / "pickled.npy", {"a": 1}, allow_pickle=True)
    with pytest.raises(PipelineError, match="pickle"):
        load_cls_labels(tmp_path / "pickled.npy")


def test_classification_dataset_on_toy(toy):
    ds = vocdata.VOC12ClassificationDataset(toy.meta / "train.txt", toy.root, crop_size=48, crop_method="random",
                                            hor_flip=True, resize_long=(40, 80), cls_labels=toy.meta / "cls_labels.npy")
    item = ds[0]
    assert isinstance(item["name"], str) and item["img"].shape == (3, 48, 48)
    assert item["label"].dtype == torch.float32 and item["label"].sum() >= 1


def test_msf_dataset_stacks_flips_per_scale(toy):
    ds = vocdata.VOC12ClassificationDatasetMSF(toy.meta / "train.txt", toy.root, scales=(1.0, 0.5),
                                               cls_labels=toy.meta / "cls_labels.npy")
    item = ds[0]
    assert item["size"] == (64, 64)
    assert [i.shape for i in item["img"]] == [(2, 3, 64, 64), (2, 3, 32, 32)]
    np.testing.assert_array_equal(item["img"][0][1], item["img"][0][0][..., ::-1])


def test_missing_root_and_folder(tmp_path):
    with pytest.raises(PipelineError, match="does not exist"):
        vocdata.VOC12ImageDataset(["a"], tmp_path / "nowhere")
    with pytest.raises(PipelineError, match="JPEGImages"):
        vocdata.VOC12ImageDataset(["a"], tmp_path)


def test_listed_image_missing_or_corrupt(tmp_path):
    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "JPEGImages" / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    ds = vocdata.VOC12ImageDataset(["gone", "bad"], tmp_path)
    with pytest.raises(PipelineError, match="gone.jpg"):
        ds[0]
    with pytest.raises(PipelineError, match="bad.jpg"):
        ds[1]


def test_label_size_must_match_image(toy, tmp_path):
    name = load_img_name_list(toy.meta / "train.txt")[0]
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(tmp_path / f"{name}.png")
    ds = vocdata.VOC12SegmentationDataset([name], tmp_path, 32, toy.root, cls_labels=toy.meta / "cls_labels.npy")
    with pytest.raises(PipelineError, match="12x10"):
        ds[0]


def test_missing_lists_labels_and_seed_folder(toy, tmp_path):
    with pytest.raises(PipelineError, match="voc12.prepare"):
        load_img_name_list(tmp_path / "train_aug.txt")
    with pytest.raises(PipelineError, match="voc12.prepare"):
        load_cls_labels(tmp_path / "cls_labels.npy")
    with pytest.raises(PipelineError, match="no class label"):
        vocdata.VOC12ClassificationDataset(["unknown_id"], toy.root, cls_labels=toy.meta / "cls_labels.npy")
    with pytest.raises(PipelineError, match="seed folder"):
        vocdata.VOC12SegmentationDataset(["x"], tmp_path / "none", 32, toy.root, cls_labels={})


def test_segmentation_dataset_crops_with_ignore(toy, tmp_path):
    name = load_img_name_list(toy.meta / "train.txt")[0]
    Image.fromarray(np.full((64, 64), 3, np.uint8)).save(tmp_path / f"{name}.png")
    ds = vocdata.VOC12SegmentationDataset([name], tmp_path, 96, toy.root, cls_labels=toy.meta / "cls_labels.npy")
    item = ds[0]
    assert item["img"].shape == (3, 96, 96)
    assert set(np.unique(item["label"])) == {3, 255} and (item["label"] == 3).sum() == 64 * 64


def test_palette_matches_voc():
    p = voc_palette()
    assert p[1].tolist() == [128, 0, 0] and p[15].tolist() == [192, 128, 128] and p[255].tolist() == [224, 224, 192]


def test_normalisation_computes_in_float64_as_the_official_code():
    """Every uint8 value of every channel: (v / 255. - mean) / std in float64 with Python floats, then float32."""
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    img = np.repeat(np.arange(256, dtype=np.uint8)[:, None, None], 3, axis=2)
    expected = np.stack([np.array([(v / 255. - mean[c]) / std[c] for v in range(256)]) for c in range(3)], -1)
    out = TorchvisionNormalize()(img)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0], expected.astype(np.float32))
    # The float32 computation this replaces differs in the last bit for some values.
    single = ((img.astype(np.float32) / 255.0 - np.float32(mean)) / np.float32(std)).astype(np.float32)
    assert (single != out).any()


def test_affinity_labels_travel_as_uint8():
    from misc import indexing

    path_index = indexing.PathIndex(radius=10, default_size=(24, 24))
    seg = np.zeros((24, 24), np.uint8)
    seg[5:15, 5:15] = 3
    seg[0, :] = 255
    labels = GetAffinityLabelFromIndices(path_index.src_indices, path_index.dst_indices)(seg)
    assert all(t.dtype == torch.uint8 for t in labels)
    bg, fg, neg = (t.numpy().astype(int) for t in labels)
    assert bg.any() and fg.any() and neg.any() and (bg + fg + neg <= 1).all()


def test_official_names_keep_voc_and_coco_defaults_and_pickle(toy, tmp_path, monkeypatch):
    import pickle

    from coco14 import dataloader as cocodata
    from dataset.datasets import ClassificationDatasetMSF

    ds = vocdata.VOC12ClassificationDatasetMSF(toy.meta / "train.txt", voc12_root=toy.root,
                                               cls_labels=toy.meta / "cls_labels.npy")
    assert isinstance(ds, ClassificationDatasetMSF) and ds.spec is vocdata.VOC12 and ds.voc12_root == ds.root
    again = pickle.loads(pickle.dumps(ds))  # spawned inference workers receive their shard this way
    assert type(again).__name__ == "VOC12ClassificationDatasetMSF" and again[0]["name"] == ds[0]["name"]
    with pytest.raises(PipelineError, match="coco14/cls_labels.npy"):  # COCO's own label file by default
        (tmp_path / "train2014").mkdir()
        monkeypatch.chdir(tmp_path)  # no coco14/cls_labels.npy here
        cocodata.COCO14ClassificationDataset(["000000000009"], coco14_root=tmp_path)
