"""task=constrained: Lagrange multipliers by Newton on the KKT system, checked against
closed-form solutions and an independent linear solve of the KKT equations."""
import math

import numpy as np
import pytest

from runner.errors import ConfigError
from runner.result import FAILED, FINISHED
from tests.conftest import compose, run_task


def run(tmp_path, f, g, objective="min", *extra):
    cfg = compose(["task=constrained", "tracking=none", "quiet=true", "problem=expr", f"problem.f='{f}'",
                   "constraint.g=[" + ", ".join(f"'{gi}'" for gi in g) + "]", f"objective={objective}", *extra])
    return run_task(cfg, tmp_path)


def test_maximise_xy_on_a_line(tmp_path):
    """∇(xy) = λ∇(x + y - 10): y = λ, x = λ, x + y = 10 -> (5, 5), λ = 5, f = 25;
    bordered Hessian [[0, 1, 1], [1, 0, 1], [1, 1, 0]] has det 2 > 0: a maximum."""
    r = run(tmp_path, "x*y", ["x + y - 10"], "max")
    assert r.status == FINISHED and r.final["outcome"] == "solved"
    sol = r.final["solution"]
    np.testing.assert_allclose(sol["x"], [5.0, 5.0], rtol=1e-12)
    np.testing.assert_allclose(sol["multipliers"], [5.0], rtol=1e-12)
    assert sol["value"] == pytest.approx(25.0, rel=1e-14)
    assert sol["kind"] == "maximum" and sol["bordered_test"] == "maximum"
    assert sol["bordered_hessian_minors"] == [pytest.approx(2.0)]
    np.testing.assert_allclose(sol["reduced_hessian_eigenvalues"], [-1.0], rtol=1e-12)   # z = (1, -1)/√2
    assert [n for n, _ in r.plots] == ["constrained.png"]
    assert r.plots[0][1]().axes[0].collections


def test_minimum_requested_where_only_a_maximum_exists(tmp_path):
    r = run(tmp_path, "x*y", ["x + y - 10"], "min")
    assert r.status == FINISHED and r.final["outcome"] == "no_minimum" and r.final["solution"] is None
    assert "maximum at (5, 5)" in r.message


def test_linear_objective_on_the_unit_circle(tmp_path):
    """x + y on x² + y² = 1: max at (1, 1)/√2 with λ = 1/√2, min at -(1, 1)/√2 with λ = -1/√2."""
    s = 1 / math.sqrt(2)
    r_max = run(tmp_path, "x + y", ["x**2 + y**2 - 1"], "max")
    r_min = run(tmp_path, "x + y", ["x**2 + y**2 - 1"], "min")
    np.testing.assert_allclose(r_max.final["solution"]["x"], [s, s], rtol=1e-12)
    np.testing.assert_allclose(r_max.final["solution"]["multipliers"], [s], rtol=1e-12)
    np.testing.assert_allclose(r_min.final["solution"]["x"], [-s, -s], rtol=1e-12)
    assert r_min.final["solution"]["value"] == pytest.approx(-math.sqrt(2), rel=1e-14)
    assert len(r_max.final["stationary_points"]) == 2


def test_quadratic_with_two_linear_constraints_matches_the_kkt_linear_solve(tmp_path):
    """min ½xᵀAx + bᵀx s.t. Cx = d solves [[A, -Cᵀ], [C, 0]] (x, λ) = (-b, d) exactly."""
    A = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]])
    b = np.array([1.0, -2.0, 0.5])
    C = np.array([[1.0, 1.0, 1.0], [1.0, -1.0, 0.0]])
    d = np.array([3.0, 0.5])
    K = np.block([[A, -C.T], [C, np.zeros((2, 2))]])
    want = np.linalg.solve(K, np.concatenate([-b, d]))
    f = ("0.5*(4*x**2 + 3*y**2 + 2*z**2 + 2*x*y + 2*y*z) + x - 2*y + 0.5*z")
    r = run(tmp_path, f, ["x + y + z - 3", "x - y - 0.5"], "min")
    sol = r.final["solution"]
    np.testing.assert_allclose(sol["x"], want[:3], rtol=1e-10)
    np.testing.assert_allclose(sol["multipliers"], want[3:], rtol=1e-10)
    # with n = 3, m = 2 there is one bordered minor (order 5), of sign (-1)^m = + at a minimum
    assert sol["kind"] == "minimum" and sol["bordered_test"] == "minimum" and sol["bordered_hessian_minors"][0] > 0


def test_saddle_along_the_constraint(tmp_path):
    """x² - y² + z on z = 0: the origin is a saddle of the restriction x² - y²."""
    r = run(tmp_path, "x**2 - y**2 + z**2", ["z"], "min", "constrained.box=[-2,2]")
    kinds = [p["kind"] for p in r.final["stationary_points"]]
    assert kinds == ["saddle"] and r.final["outcome"] == "no_minimum"
    assert r.final["stationary_points"][0]["bordered_test"] == "saddle"


def test_singular_constraint_is_an_explicit_failure(tmp_path):
    """(x + y - 10)² = 0 has a zero gradient on its zero set: no multiplier exists."""
    r = run(tmp_path, "x*y", ["(x + y - 10)**2"], "max")
    assert r.status == FAILED and r.final["outcome"] == "singular"
    assert "singular" in r.message and "\n" not in r.message


def test_infeasible_constraint_is_an_explicit_failure(tmp_path):
    r = run(tmp_path, "x + y", ["x**2 + y**2 + 1"], "max")
    assert r.status == FAILED and r.final["outcome"] == "no_stationary_point"


@pytest.mark.parametrize("g,key,text", [
    (["x + y + z"], "constraint.g[0]", "unknown name 'z'"),
    (["x - 1", "y - 1", "x + y"], "constraint.g", "3 constraints on 2 variables"),
])
def test_bad_constraints_are_config_errors(tmp_path, g, key, text):
    with pytest.raises(ConfigError) as e:
        run(tmp_path, "x*y", g)
    assert e.value.key == key and text in str(e.value)


def test_missing_constraint_is_a_config_error(tmp_path):
    cfg = compose(["task=constrained", "tracking=none", "problem=expr", "problem.f='x*y'"])
    with pytest.raises(ConfigError, match="constraint.g: give at least one constraint"):
        run_task(cfg, tmp_path)


def test_through_the_app_a_failed_run_is_not_left_running(run_app, mlflow_uri):
    from mlflow.tracking import MlflowClient

    result, doc, _ = run_app("task=constrained", "problem=expr", "problem.f='x*y'",
                             "constraint.g=['(x + y - 10)**2']")
    assert result.status == FAILED and doc["status"] == "FAILED" and doc["final"]["outcome"] == "singular"
    run = MlflowClient(tracking_uri=mlflow_uri).get_run(doc["mlflow_run_id"])
    assert run.info.status == "FAILED"


@pytest.mark.slow
def test_cli_example_from_the_issue(tmp_path):
    import json

    from tests.conftest import REPO, run_cli

    out = run_cli(["task=constrained", "problem=expr", "problem.f=x*y", "constraint.g=[x + y - 10]", "objective=max",
                   "tracking=none", f"hydra.run.dir={tmp_path}"], cwd=REPO)
    assert out.returncode == 0, out.stderr
    doc = json.loads((tmp_path / "result.json").read_text())
    assert doc["final"]["solution"]["x"] == [5.0, 5.0] and doc["final"]["solution"]["value"] == 25.0
