import numpy as np
import torch

from postprocess import instances
from postprocess.random_walk import Walk


def _two_blob_field(h=12, w=24):
    """Every pixel points halfway to the centre of its half: (5, 4) on the left, (5, 19) on the right."""
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    cy = np.full((h, w), 5.0, np.float32)
    cx = np.where(xx < w / 2, 4.0, 19.0).astype(np.float32)
    return np.stack([(cy - yy) * 0.5, (cx - xx) * 0.5])


def test_centroids_converge_to_their_blob_centre():
    c = instances.find_centroids_with_refinement(_two_blob_field())
    assert set(map(tuple, c.reshape(2, -1).T)) == {(5, 4), (5, 19)}
    assert (c[1][:, :12] == 4).all() and (c[1][:, 12:] == 19).all()


def test_two_blobs_give_two_clusters():
    field = _two_blob_field()
    clusters = instances.cluster_centroids(instances.find_centroids_with_refinement(field), field)
    # strength |d| < 2.5 within 5 pixels of a centre: two separate weak regions, one per blob
    assert clusters.shape == (2, 12, 24) and (clusters.sum(0) == 1).all()
    assert clusters[0][:, :12].all() and clusters[1][:, 12:].all()


def test_detection_splits_fragments_and_scores_small_ones_zero():
    mask = np.zeros((1, 10, 10), bool)
    mask[0, 0:4, 0:4] = True   # 16 pixels
    mask[0, 8, 8] = True        # 1 pixel: under 2 % of the image
    score = np.zeros((1, 10, 10), np.float32)
    score[0, 1, 1], score[0, 8, 8] = 0.7, 0.9
    out = instances.detect_instance(score, mask, np.array([3]), max_fragment_size=2)
    assert out["score"].dtype == np.float32 and out["score"].tolist() == [np.float32(0.7), 0.0]
    assert out["class"].tolist() == [3, 3] and out["mask"].sum((1, 2)).tolist() == [16, 1]


def test_an_image_without_classes_gets_an_empty_file(tmp_path):
    out = instances.instances_from_cams(np.zeros((0, 4, 5)), np.zeros(0, np.int64), torch.zeros(1, 4, 5),
                                        np.zeros((2, 4, 5), np.float32), (16, 20), Walk(exp_times=2), 0.25)
    assert out["mask"].shape == (0, 16, 20) and out["score"].shape == (0,) and out["class"].shape == (0,)
    instances.save_instances(tmp_path / "a.npz", out, "r")
    with np.load(tmp_path / "a.npz", allow_pickle=False) as data:
        assert data["mask"].shape == (0, 16, 20)


def test_instances_follow_the_class_and_the_blob():
    field = _two_blob_field(8, 24)
    cams = np.zeros((1, 8, 24), np.float32)
    cams[0, 2:6, 1:3] = 1.0   # left blob only
    out = instances.instances_from_cams(cams, np.array([6]), torch.zeros(1, 8, 24), field, (32, 96),
                                        Walk(exp_times=1), 0.25)
    # two clusters give two instance planes of class 7; only the left one has CAM, so only it survives
    assert set(out["class"].tolist()) == {7} and out["mask"].any() and out["mask"][:, :, 48:].sum() == 0


def test_centroid_positions_stay_float32_as_in_the_official_code():
    """A field of 0.1 downwards: each step adds float32(0.1) = 0.100000001490116 to a float32 position. After
    5 steps rows 0, 1, 2 sit at exactly 0.5, 1.5, 2.5 in float32 (the excess is under half an ulp), which round
    half to even to 0, 2, 2; row 3 is clipped at 3. Float64 positions (0.50000001...) would round to 1, 2, 3."""
    field = np.zeros((2, 4, 3), np.float32)
    field[0] = 0.1
    centroids = instances.find_centroids_with_refinement(field, iterations=5)
    assert centroids[0].tolist() == [[0] * 3, [2] * 3, [2] * 3, [3] * 3]
    assert centroids[1].tolist() == [[0, 1, 2]] * 4


def test_the_centroid_pool_writes_what_the_inference_loop_writes_in_place(tmp_path):
    """make_ins_seg's writer with its centroid search in a 2-process pool behind the loop gives the same files,
    in the same order, as the search in place."""
    from engine.irn_inference import InstanceWriter
    from misc.fileio import save_cam

    rng = np.random.default_rng(0)
    names = [f"im{i}" for i in range(7)]
    for i, name in enumerate(names):
        cams = rng.random((2, 8, 24)).astype(np.float32) * (rng.random((2, 8, 24)) > 0.5)
        save_cam(tmp_path / "cam" / f"{name}.npz", np.array([3, 6]) if i != 2 else np.zeros(0, np.int64),
                 cams if i != 2 else np.zeros((0, 8, 24)), np.zeros((0, 1, 1)))
    packs = [{"name": n, "size": (32, 96)} for n in names]
    fields = [torch.from_numpy(_two_blob_field(8, 24) * rng.uniform(0.5, 1.5)) for _ in names]
    edges = [torch.from_numpy(rng.random((1, 8, 24)).astype(np.float32)) for _ in names]
    for workers in (0, 2):
        writer = InstanceWriter(str(tmp_path / "cam"), str(tmp_path / f"ins{workers}"), Walk(exp_times=2), 0.25,
                                ("r",), centroid_workers=workers)
        with torch.inference_mode():
            for pack, edge, field in zip(packs, edges, fields):
                writer.use(pack, edge, field)
        writer.result()
    for name in names:
        assert (tmp_path / "ins0" / f"{name}.npz").read_bytes() == (tmp_path / "ins2" / f"{name}.npz").read_bytes()
