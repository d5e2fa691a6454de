"""The sparse random walk against the official dense formulation, kept here as the reference."""
import numpy as np
import pytest
import torch

from misc import indexing
from postprocess import random_walk
from voc12.dataloader import GetAffinityLabelFromIndices


def dense_propagate_to_edge(x, edge, radius=5, beta=10, exp_times=8):
    """The official algorithm: dense (HW)x(HW) affinities, squared exp_times times."""
    height, width = x.shape[-2:]
    hor_padded, ver_padded = width + radius * 2, height + radius
    path_index = indexing.PathIndex(radius=radius, default_size=(ver_padded, hor_padded))
    edge_padded = torch.nn.functional.pad(edge, (radius, radius, 0, radius), mode="constant", value=1.0)
    sparse_aff = indexing.edge_to_affinity(edge_padded[None], path_index.path_indices).reshape(-1)
    n = ver_padded * hor_padded
    ind_from = torch.from_numpy(path_index.src_indices).repeat(path_index.dst_indices.shape[0])
    ind_to = torch.from_numpy(path_index.dst_indices).reshape(-1)
    dense = torch.zeros(n, n, dtype=torch.float64)
    dense[ind_from, ind_to] = sparse_aff.double()
    dense[ind_to, ind_from] = sparse_aff.double()
    dense[torch.arange(n), torch.arange(n)] = 1
    dense = dense.view(ver_padded, hor_padded, ver_padded, hor_padded)[:-radius, radius:-radius, :-radius,
                                                                       radius:-radius]
    dense = dense.reshape(height * width, height * width).float()
    trans = dense ** beta
    trans = trans / trans.sum(0, keepdim=True)
    for _ in range(exp_times):
        trans = trans @ trans
    x = x.reshape(-1, height, width) * (1 - edge)
    return (x.reshape(-1, height * width) @ trans).reshape(-1, 1, height, width)


def test_path_index_matches_official(golden):
    pi = indexing.PathIndex(radius=10, default_size=(32, 32))
    np.testing.assert_array_equal(pi.search_dst, golden["pathindex_r10_32x32_search_dst"])
    np.testing.assert_array_equal(pi.src_indices, golden["pathindex_r10_32x32_src"])
    np.testing.assert_array_equal(pi.dst_indices, golden["pathindex_r10_32x32_dst"])
    assert len(pi.path_indices) == 20
    for i, p in enumerate(pi.path_indices):
        np.testing.assert_array_equal(p, golden[f"pathindex_r10_32x32_path{i}"])


def test_affinity_labels_match_official(golden):
    pi = indexing.PathIndex(radius=10, default_size=(32, 32))
    bg, fg, neg = GetAffinityLabelFromIndices(pi.src_indices, pi.dst_indices)(golden["afflab_seg"])
    np.testing.assert_array_equal(bg.numpy(), golden["afflab_bg_pos"])
    np.testing.assert_array_equal(fg.numpy(), golden["afflab_fg_pos"])
    np.testing.assert_array_equal(neg.numpy(), golden["afflab_neg"])


def _max_rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


def test_random_walk_matches_official_golden(golden):
    out = random_walk.propagate_to_edge(torch.from_numpy(golden["rw_a_cams"]), torch.from_numpy(golden["rw_a_edge"]))
    assert out.shape == golden["rw_a_out"].shape
    assert _max_rel(out, torch.from_numpy(golden["rw_a_out"])) < 1e-3


@pytest.mark.parametrize("height,width,beta,exp_times", [(12, 12, 10, 8), (9, 23, 10, 8), (20, 7, 5, 4),
                                                         (16, 30, 10, 6)])
def test_random_walk_matches_dense_reference(height, width, beta, exp_times):
    g = torch.Generator().manual_seed(height * width)
    edge = torch.rand(1, height, width, generator=g) ** 3
    x = torch.rand(3, height, width, generator=g)
    fast = random_walk.propagate_to_edge(x, edge, beta=beta, exp_times=exp_times)
    dense = dense_propagate_to_edge(x, edge, beta=beta, exp_times=exp_times)
    assert _max_rel(fast, dense) < 1e-3


def test_transition_matrix_is_column_stochastic_and_local():
    edge = torch.rand(1, 10, 13)
    t = random_walk.transition_matrix_transposed(edge).to_dense()  # rows of T^T = columns of T
    torch.testing.assert_close(t.sum(1), torch.ones(130))
    ys, xs = np.divmod(np.arange(130), 13)
    far = (np.abs(ys[:, None] - ys[None]) ** 2 + np.abs(xs[:, None] - xs[None]) ** 2) >= 25
    assert float(t[torch.from_numpy(far)].abs().max()) == 0.0
