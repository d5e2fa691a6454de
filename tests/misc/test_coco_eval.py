"""The streaming COCO mask AP equals pycocotools' COCOeval on made-up sets: crowds, empty images, several
categories, detections of categories without ground truth, ties in score and all three area ranges."""
import contextlib
import io

import numpy as np
import pytest

from misc import coco_eval, coco_format


def _blob(rng, h, w, scale):
    """A random rectangle-ish boolean mask whose area lands around ``scale`` pixels."""
    side = max(2, int(np.sqrt(scale)))
    y, x = rng.integers(0, max(1, h - side)), rng.integers(0, max(1, w - side))
    m = np.zeros((h, w), bool)
    m[y:y + side + rng.integers(-1, 2), x:x + side + rng.integers(-1, 2)] = True
    return m


def _made_up_set(seed, n_images=14, h=120, w=140):
    rng = np.random.default_rng(seed)
    cats = [1, 3, 7, 18]
    images, gts, dets = [], [], []
    for i in range(n_images):
        iid = 1000 + 7 * i if i % 3 else 900_000 - i  # ids out of list order: COCOeval sorts them
        images.append({"id": iid, "file_name": f"{iid}.jpg", "height": h, "width": w})
        if i % 5 == 4:
            continue  # an empty image: no ground truth and no detections
        truth = []
        for _ in range(rng.integers(0, 4)):
            mask = _blob(rng, h, w, rng.choice([200, 2000, 12000]))  # small, medium and large
            ann = coco_format.mask_annotation(mask, int(rng.choice(cats[:3])), iid, 0)
            if rng.random() < 0.2:
                ann["iscrowd"] = 1
            truth.append((mask, ann))
        gts += [a for _, a in truth]
        for mask, ann in truth:  # detections near the truth, some shifted, plus false positives
            for _ in range(rng.integers(0, 3)):
                moved = np.roll(mask, int(rng.integers(-6, 7)), axis=int(rng.integers(0, 2)))
                score = float(rng.choice([0.9, 0.5, 0.5, 0.3, rng.random()]))  # ties in score
                dets.append(coco_format.mask_annotation(moved, ann["category_id"], iid, 0, score))
        for _ in range(rng.integers(0, 3)):
            dets.append(coco_format.mask_annotation(_blob(rng, h, w, rng.choice([100, 3000])),
                                                    int(rng.choice(cats)), iid, 0, float(rng.choice([0.5, 0.2]))))
    gt = coco_format.instances_file(images, gts, coco_format.categories(cats[:3] + [5], ["a", "b", "c", "d"]))
    return gt, dets


def _pycocotools(gt, dets):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        ground = COCO()
        ground.dataset = {k: gt[k] for k in ("images", "annotations", "categories")}
        ground.createIndex()
        ev = COCOeval(ground, ground.loadRes([dict(d) for d in dets]), iouType="segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def _streamed(gt, dets):
    ev = coco_eval.StreamingCocoEval([c["id"] for c in gt["categories"]])
    for img in reversed(gt["images"]):  # any order of images gives the same result
        truth = [a for a in gt["annotations"] if a["image_id"] == img["id"]]
        found = [d for d in dets if d["image_id"] == img["id"]]
        ev.add_image(img["id"], coco_eval.ground_truth_of(truth, img["height"], img["width"]),
                     coco_eval.detections_of(found, img["height"], img["width"]))
    return ev


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_streaming_coco_ap_equals_cocoeval(seed):
    gt, dets = _made_up_set(seed)
    assert any(a["iscrowd"] for a in gt["annotations"]) and len({d["score"] for d in dets}) < len(dets)
    reference = _pycocotools(gt, dets)
    ev = _streamed(gt, dets)
    np.testing.assert_allclose(ev.precision(), reference.eval["precision"][..., -1], atol=1e-12)
    out = ev.summarize({c["id"]: c["name"] for c in gt["categories"]})
    stats = [out[k] for k in ("ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large")]
    expected = [None if s == -1 else s for s in reference.stats[:6]]
    assert [s is None for s in stats] == [e is None for e in expected]
    np.testing.assert_allclose([s for s in stats if s is not None], [e for e in expected if e is not None],
                               atol=1e-6)
    assert out["per_class"]["d"] is None  # a category without ground truth
    old = coco_format.coco_ap(gt, dets)  # the whole-set evaluation eval_ins_seg used before
    assert out["ap"] == pytest.approx(old["ap"], abs=1e-6) and out["per_class"] == pytest.approx(old["per_class"])


def test_no_detections_scores_zero_and_no_ground_truth_scores_none():
    gt, dets = _made_up_set(5)
    ev = _streamed(gt, [])
    assert ev.summarize()["ap"] == 0.0
    empty = dict(gt, annotations=[])
    assert _streamed(empty, dets).summarize()["ap"] is None


def test_more_than_100_detections_of_a_class_keep_the_best_100():
    h = w = 40
    mask = np.zeros((h, w), bool)
    mask[5:25, 5:25] = True
    gt = coco_format.instances_file([{"id": 1, "file_name": "x", "height": h, "width": w}],
                                    [coco_format.mask_annotation(mask, 1, 1, 0)], coco_format.categories([1], ["a"]))
    dets = [coco_format.mask_annotation(np.roll(mask, i % 9, 0), 1, 1, 0, 0.001 * (i % 37)) for i in range(130)]
    reference = _pycocotools(gt, dets)
    np.testing.assert_allclose(_streamed(gt, dets).precision(), reference.eval["precision"][..., -1], atol=1e-12)
