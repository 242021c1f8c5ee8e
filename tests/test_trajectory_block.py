"""runner.tasks.optimize._trajectory: the five trajectory arrays of a run, carved from one block."""
import numpy as np
import pytest

from runner.descent.driver import HUGE_PAGE, _trajectory


@pytest.mark.parametrize("kept,d,rows", [(1_000_001, 1, 1_000_001), (11, 3, 101), (0, 4, 50), (1, 1, 1)])
def test_arrays_have_their_shapes_and_do_not_overlap(kept, d, rows):
    arrays = _trajectory(kept, d, rows)
    assert [a.shape for a in arrays] == [(kept, d), (kept, d), (rows,), (rows,), (rows,)]
    assert all(a.dtype == np.float64 and a.flags.c_contiguous and a.flags.writeable for a in arrays)
    for i, a in enumerate(arrays):
        a[...] = i
    for i, a in enumerate(arrays):
        assert np.all(a == i)


def test_a_large_block_starts_on_a_huge_page_boundary():
    tt, tg, loss, gnorm, lr = _trajectory(1_000_001, 1, 1_000_001)
    assert tt.ctypes.data % HUGE_PAGE == 0
    assert tg.ctypes.data == tt.ctypes.data + tt.nbytes and loss.ctypes.data == tg.ctypes.data + tg.nbytes
