"""The specialised GD-on-a-quadratic loop gives the generic descent kernel's trajectory: same
rows, same statuses, in one call or in chunks; bit-identical in several variables, and to a
few units in the last place in one (where it folds the update into one multiply-add)."""
import numpy as np
import pytest
from conftest import descent_outcome

from kernels.descent_fast import gd_quadratic

from runner.config.optim import OPTIM_SCHEMAS, SCHEDULE_SCHEMAS, schedule_to_kernel, to_kernel
from runner.problems.catalog import PROBLEM_SCHEMAS, build_problem
from runner.descent.driver import DescentInputs, DescentKnobs as OptimizeKnobs, Run


def make_run(A, b, x0, lr, steps, grad_tol=0.0, every=1, fast=True):
    problem = build_problem(PROBLEM_SCHEMAS["quadratic"](A=A, b=b, c=5.0, x0=x0), 0)
    opt_id, hp = to_kernel(OPTIM_SCHEMAS["gd"](lr=lr))
    sched_id, sp = schedule_to_kernel(SCHEDULE_SCHEMAS["constant"]())
    run = Run(problem, DescentInputs(opt_id, hp, sched_id, sp, lr),
              OptimizeKnobs(steps=steps, grad_tol=grad_tol, record_params=every))
    assert run.fast is gd_quadratic           # the quadratic problem brings its loop
    run.fast = gd_quadratic if fast else None
    return run


CASES = [
    ([[1.0]], [-4.0], [0.0], 0.1, 500, 0.0, 1),          # the tutorial's example, all steps
    ([[1.0]], [-4.0], [0.0], 0.1, 500, 1e-6, 1),         # converges early
    ([[1.0]], [-4.0], [0.0], 1.5, 500, 0.0, 1),          # diverges
    ([[1.0]], [-4.0], [3.0], 0.05, 500, 0.0, 7),         # thinned iterates
    ([[1.0, 0.5], [0.5, 4.0]], [1.0, -2.0], [4.0, 2.0], 0.1, 300, 1e-9, 1),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("chunks", [[10_000], [0, 37, 1, 200, 10_000]])
def test_fast_path_matches_the_generic_loop(case, chunks):
    a = descent_outcome(make_run(*case, fast=True), chunks)
    b = descent_outcome(make_run(*case, fast=False), chunks)
    assert a[0] == b[0] and a[1] == b[1]
    for x, y in zip(a[2:], b[2:]):
        if len(case[2]) > 1:
            np.testing.assert_array_equal(x, y)
        else:   # a few ulps of the iterate's scale (the gradient near the minimum is a cancellation)
            np.testing.assert_array_less(np.abs(x - y), 1e-14 * np.maximum(np.abs(y), 4.0) + 1e-300)


def test_fast_path_is_not_the_generic_loop_in_one_variable():
    """The folded update really runs (else the test above would compare a loop with itself)."""
    a = descent_outcome(make_run([[1.0]], [-4.0], [0.3], 0.1, 60, fast=True), [60])
    b = descent_outcome(make_run([[1.0]], [-4.0], [0.3], 0.1, 60, fast=False), [60])
    assert not np.array_equal(a[6], b[6])
