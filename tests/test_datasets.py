"""Data reaching the kernels: laid out for their vector loads."""
import numpy as np
def test_data_reaches_the_kernels_on_64_byte_boundaries():
    """The kernels' 512-bit loads over data rows must not straddle cache lines (BENCHMARKS.md)."""
    from runner.problems.data import DataConfig, aligned
    from runner.problems.catalog import PROBLEM_SCHEMAS, build_problem
    from runner.train import data as train_data

    a = np.arange(35.0).reshape(5, 7)[:, 1:]                # not contiguous, not aligned
    b = aligned(a)
    assert b.ctypes.data % 64 == 0 and b.flags.c_contiguous and np.array_equal(a, b) and b.dtype == np.float64
    assert aligned(np.zeros((0, 3))).shape == (0, 3)
    problem = build_problem(PROBLEM_SCHEMAS["linreg"](data=DataConfig(source="synthetic", n=50, d=3)), 0)
    assert problem.X.ctypes.data % 64 == 0 and problem.y.ctypes.data % 64 == 0
    split = train_data.load(train_data.TrainData(name="moons"), 0)
    assert all(arr.ctypes.data % 64 == 0 for arr in (split.X, split.y, split.X_val, split.y_val))
