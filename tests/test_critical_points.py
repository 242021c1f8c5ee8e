"""Degenerate critical points: each found once, at the right place, and classified by a test
that applies (the second-derivative test is inconclusive where the Hessian is singular; in
1-D the first non-vanishing derivative decides).  Checked against the closed forms."""
import numpy as np
import pytest

from tests.conftest import compose, run_task

DEGENERATE = "degenerate (second-derivative test inconclusive)"


def critical(tmp_path, f, at, *extra):
    cfg = compose(["task=analyze", "tracking=none", "quiet=true", "problem=expr", f"problem.f='{f}'",
                   f"analyze.at={at}", *extra])
    return run_task(cfg, tmp_path).final["critical_points"]


@pytest.mark.parametrize("f, kind", [("x**3", "inflection"), ("x**4", "minimum"), ("x**5", "inflection"),
                                     ("-x**6", "maximum"), ("(x - 1)**4", "minimum")])
def test_a_degenerate_root_in_one_dimension_is_one_point_classified_by_higher_derivatives(tmp_path, f, kind):
    points = critical(tmp_path, f, 2)
    assert len(points) == 1, points
    root = 1.0 if "x - 1" in f else 0.0
    assert abs(points[0]["x"][0] - root) < 1e-8
    assert points[0]["kind"] == kind


def test_the_tutorials_example_keeps_the_second_derivative_test(tmp_path):
    """x³ - 3x² + 2: f''(0) = -6 (maximum), f''(2) = 6 (minimum); tutorial, Second Derivative Test."""
    points = critical(tmp_path, "x**3 - 3*x**2 + 2", 1)
    assert [(round(p["x"][0], 12), p["kind"]) for p in points] == [(0.0, "maximum"), (2.0, "minimum")]
    assert [p["test"] for p in points] == ["second derivative", "second derivative"]


def test_x_cubed_says_which_derivative_decided(tmp_path):
    (p,) = critical(tmp_path, "x**3", 2)
    assert p["test"] == "derivative of order 3 (odd)"


def test_a_singular_hessian_in_two_dimensions_is_degenerate_not_a_saddle(tmp_path):
    """(x + y)·xy = x²y + xy²: ∇f = (2xy + y², x² + 2xy) vanishes only at the origin, where the
    Hessian [[2y, 2x + 2y], [2x + 2y, 2x]] is zero: the second-derivative test says nothing."""
    points = critical(tmp_path, "(x + y)*(x*y)", "[1,2]")
    assert len(points) == 1, points
    np.testing.assert_allclose(points[0]["x"], [0.0, 0.0], atol=1e-8)
    assert points[0]["kind"] == DEGENERATE


def test_a_regular_saddle_beside_a_degenerate_direction(tmp_path):
    """x² - y⁴: the origin has H = diag(2, 0), singular: degenerate, found once."""
    points = critical(tmp_path, "x**2 - y**4", "[1,1]")
    assert len(points) == 1, points
    np.testing.assert_allclose(points[0]["x"], [0.0, 0.0], atol=1e-8)
    assert points[0]["kind"] == DEGENERATE
