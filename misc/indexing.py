"""IRN's pixel-pair indexing: the pairs within a radius (``PathIndex``) and their affinities from a boundary map
(``edge_to_affinity``). The random walk built on them is ``postprocess/random_walk.py``."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class PathIndex:
    """Pixel pairs within ``radius`` and the pixels on the straight path between them.

    Directions cover half the plane, so each unordered pair appears once, from
    its upper/left pixel (``src``) to the other (``dst``).
    """

    def __init__(self, radius: int, default_size: tuple[int, int]):
        self.radius = radius
        self.radius_floor = int(np.ceil(radius) - 1)
        self.search_paths, self.search_dst = self.get_search_paths_dst(self.radius)
        self.path_indices, self.src_indices, self.dst_indices = self.get_path_indices(default_size)

    @staticmethod
    def _search_dirs(max_radius: int) -> list[tuple[int, int]]:
        dirs = [(0, x) for x in range(1, max_radius)]
        dirs += [(y, x) for y in range(1, max_radius) for x in range(-max_radius + 1, max_radius)
                 if x * x + y * y < max_radius ** 2]
        return dirs

    @staticmethod
    def _path_coords(direction: tuple[int, int]) -> list[list[int]]:
        """Grid cells within distance 1 of the segment from the origin to ``direction``, far end first."""
        dy, dx = direction
        length_sq = dy ** 2 + dx ** 2
        min_y, max_y = sorted((0, dy))
        min_x, max_x = sorted((0, dx))
        coords = [[y, x] for y in range(min_y, max_y + 1) for x in range(min_x, max_x + 1)
                  if (dy * x - dx * y) ** 2 / length_sq < 1]
        coords.sort(key=lambda c: -abs(c[0]) - abs(c[1]))
        return coords

    def get_search_paths_dst(self, max_radius: int = 5):
        by_length: list[list] = [[] for _ in range(max_radius * 4)]
        for direction in self._search_dirs(max_radius):
            coords = self._path_coords(direction)
            by_length[len(coords)].append(coords)
        path_list_by_length = [np.asarray(v) for v in by_length if v]
        path_destinations = np.concatenate([p[:, 0] for p in path_list_by_length], axis=0)
        return path_list_by_length, path_destinations

    def get_path_indices(self, size: tuple[int, int]):
        full_indices = np.arange(size[0] * size[1], dtype=np.int64).reshape(size[0], size[1])
        rf = self.radius_floor
        cropped_height, cropped_width = size[0] - rf, size[1] - 2 * rf
        if cropped_height <= 0 or cropped_width <= 0:
            raise ValueError(f"a {size[0]}x{size[1]} feature grid is too small for radius {self.radius}: it needs "
                             f"more than {rf} rows and {2 * rf} columns (for IRN, a crop above {8 * rf} pixels)")
        path_indices = []
        for paths in self.search_paths:
            path_indices.append(np.array([
                [full_indices[dy:dy + cropped_height, rf + dx:rf + dx + cropped_width].reshape(-1) for dy, dx in p]
                for p in paths]))
        src_indices = full_indices[:cropped_height, rf:rf + cropped_width].reshape(-1)
        dst_indices = np.concatenate([p[:, 0] for p in path_indices], axis=0)
        return path_indices, src_indices, dst_indices


def edge_to_affinity(edge: torch.Tensor, paths_indices) -> torch.Tensor:
    """Affinity of each pair = 1 - the strongest boundary on its path; (B, n_pairs_per_src, n_src)."""
    aff_list = []
    edge = edge.view(edge.size(0), -1)
    for ind in paths_indices:
        ind = torch.as_tensor(ind, device=edge.device)
        dist = torch.index_select(edge, dim=-1, index=ind.reshape(-1))
        dist = dist.view(dist.size(0), ind.size(0), ind.size(1), ind.size(2))
        aff_list.append(torch.squeeze(1 - F.max_pool2d(dist, (dist.size(2), 1)), dim=2))
    return torch.cat(aff_list, dim=1)




# The official dense random walk (IRN's misc/indexing.py). ------------------------------------------------------
# The pipeline walks with the sparse, equal postprocess/random_walk.py:propagate_to_edge; these keep the
# official names and the dense algorithm, on the input's device instead of a hard-coded .cuda().


def affinity_sparse2dense(affinity_sparse: torch.Tensor, ind_from, ind_to, n_vertices: int) -> torch.Tensor:
    """The symmetric dense (n, n) affinity matrix with ones on the diagonal, from sparse (from, to) pairs."""
    ind_from, ind_to = torch.as_tensor(ind_from), torch.as_tensor(ind_to)
    values = affinity_sparse.reshape(-1).float().cpu()
    ind_from = ind_from.repeat(ind_to.size(0)).view(-1)
    ind_to = ind_to.reshape(-1)
    diag = torch.arange(n_vertices, dtype=torch.long)
    indices = torch.cat([torch.stack([ind_from, ind_to]), torch.stack([diag, diag]), torch.stack([ind_to, ind_from])],
                        dim=1)
    # Repeated pairs add up, as in the official sparse tensor's to_dense().
    dense = torch.zeros(n_vertices, n_vertices).index_put_((indices[0], indices[1]),
                                                           torch.cat([values, torch.ones(n_vertices), values]),
                                                           accumulate=True)
    return dense.to(affinity_sparse.device)


def to_transition_matrix(affinity_dense: torch.Tensor, beta: float, times: int) -> torch.Tensor:
    """Affinities raised to ``beta``, column-normalised, then squared ``times`` times."""
    scaled = torch.pow(affinity_dense, beta)
    trans = scaled / torch.sum(scaled, dim=0, keepdim=True)
    for _ in range(times):
        trans = torch.matmul(trans, trans)
    return trans


def propagate_to_edge(x: torch.Tensor, edge: torch.Tensor, radius: int = 5, beta: float = 10,
                      exp_times: int = 8) -> torch.Tensor:
    """IRN's dense random walk of ``x`` (C, H, W) within the boundary map ``edge`` (1, H, W): (C, 1, H, W).

    The map is padded (right, left and bottom) with boundary so that every pixel has its full search window,
    the (HW)^2 transition matrix is built and raised to 2^exp_times, and ``x * (1 - edge)`` is walked. It needs
    (HW)^2 memory; the pipeline uses the sparse postprocess/random_walk.py:propagate_to_edge, equal to it.
    """
    height, width = x.shape[-2:]
    padded_h, padded_w = height + radius, width + 2 * radius
    path_index = PathIndex(radius=radius, default_size=(padded_h, padded_w))
    edge_padded = F.pad(edge, (radius, radius, 0, radius), mode="constant", value=1.0)
    sparse = edge_to_affinity(edge_padded[None], path_index.path_indices)
    dense = affinity_sparse2dense(sparse, path_index.src_indices, path_index.dst_indices, padded_h * padded_w)
    dense = dense.view(padded_h, padded_w, padded_h, padded_w)[:-radius, radius:-radius, :-radius, radius:-radius]
    trans = to_transition_matrix(dense.reshape(height * width, height * width), beta=beta, times=exp_times)
    start = x.view(-1, height, width) * (1 - edge)
    return torch.matmul(start.view(-1, height * width), trans).view(-1, 1, height, width)
