"""bench/demo_causes.py's boundary profile, on a hand-made scene whose distances are known."""
import importlib.util
from pathlib import Path

import numpy as np

_SPEC = importlib.util.spec_from_file_location("demo_causes",
                                               Path(__file__).resolve().parents[2] / "bench" / "demo_causes.py")
demo_causes = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(demo_causes)


def test_boundary_profile_groups_cells_by_their_centres_distance_to_the_boundary():
    # Object on columns 32-63: the only border pixels are column 31. Cell j's centre is column 4j + 2, so cell 7
    # (column 30, 1 px away) is near, cells 10-15 (columns 42-62, 11-31 px) are deep inside, cells 0-5
    # (columns 2-22, 9-29 px) deep in the background, and cells 6, 8, 9 (5, 3 and 7 px) in none.
    gt = np.zeros((64, 64), np.uint8)
    gt[:, 32:] = 3
    edge = np.tile(np.arange(16, dtype=np.float64) / 16, (16, 1))
    sums, counts = demo_causes.boundary_profile(edge, gt)
    np.testing.assert_array_equal(counts, [16, 16 * 6, 16 * 6])
    np.testing.assert_allclose(sums / counts, [7 / 16, 12.5 / 16, 2.5 / 16])


def test_boundary_profile_treats_the_void_band_as_background_side():
    # A 255 band (columns 30-33) between background and object: the border is then at the object's edge
    # (column 33 | 34), so cell 8 (column 34, 1 px inside) is near and cell 7 (column 30, 3 px) is not.
    gt = np.zeros((64, 64), np.uint8)
    gt[:, 30:34] = 255
    gt[:, 34:] = 1
    edge = np.tile(np.arange(16, dtype=np.float64), (16, 1))
    sums, counts = demo_causes.boundary_profile(edge, gt)
    assert counts[0] == 16 and sums[0] == 16 * 8
