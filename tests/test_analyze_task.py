"""task=analyze: derivatives, methods agreement, Taylor, critical points, convexity,
activations and bad input, checked against closed forms and SymPy (never against itself)."""
import json
import math

import numpy as np
import pytest
import sympy as sp

from runner.errors import ConfigError
from tests.conftest import compose, run_task


def run(tmp_path, *overrides):
    cfg = compose(["task=analyze", "tracking=none", "quiet=true", *overrides])
    return run_task(cfg, tmp_path)


def test_quadratic_form_at_the_origin(tmp_path):
    """f = x² + xy + y²: ∇f = (2x + y, x + 2y), H = [[2, 1], [1, 2]] with eigenvalues 1, 3."""
    r = run(tmp_path, "problem=expr", "problem.f='x**2 + x*y + y**2'", "analyze.at=[1,-2]")
    f = r.final
    assert f["value"] == 1 - 2 + 4
    assert f["gradient"] == [0.0, -3.0]
    assert f["gradient_symbolic"] == ["2*x + y", "x + 2*y"]
    assert f["hessian"] == [[2.0, 1.0], [1.0, 2.0]]
    np.testing.assert_allclose(f["hessian_eigenvalues"], [1.0, 3.0], rtol=1e-14)
    assert f["methods_agree"] and f["differentiable"]
    assert set(f["methods"]["gradient"]) == {"symbolic", "forward", "reverse", "complex_step", "central_difference"}
    assert [p["kind"] for p in f["critical_points"]] == ["minimum"]
    np.testing.assert_allclose(f["critical_points"][0]["x"], [0.0, 0.0], atol=1e-12)
    assert f["convexity"]["convex"] is None and "no counterexample" in f["convexity"]["verdict"]
    assert f["convexity"]["min_eigenvalue"] == pytest.approx(1.0)


def test_vector_function_gives_the_jacobian_by_every_method(tmp_path):
    r = run(tmp_path, "problem=expr", "problem.f='[x1**2 + x2, x1*x2, sin(x1)]'", "analyze.at=[2,3]")
    f = r.final
    want = [[4.0, 1.0], [3.0, 2.0], [math.cos(2.0), 0.0]]
    for name, J in f["methods"]["jacobian"].items():
        np.testing.assert_allclose(J, want, rtol=1e-9, atol=1e-12, err_msg=name)
    assert f["value"] == pytest.approx([7.0, 6.0, math.sin(2.0)])
    assert f["jacobian_symbolic"] == [["2*x1", "1"], ["x2", "x1"], ["cos(x1)", "0"]]
    assert [name for name, _ in r.plots] == ["jacobian.png"]


def test_saddle_maximum_and_minimum_are_classified(tmp_path):
    """f = x³ - 3x + y³ - 3y: critical points (±1, ±1); H = diag(6x, 6y)."""
    r = run(tmp_path, "problem=expr", "problem.f='x**3 - 3*x + y**3 - 3*y'", "analyze.at=[0.5,0.5]",
            "analyze.box=[-2,2]")
    kinds = {tuple(np.round(p["x"], 9)): p["kind"] for p in r.final["critical_points"]}
    assert kinds == {(-1.0, -1.0): "maximum", (-1.0, 1.0): "saddle", (1.0, -1.0): "saddle", (1.0, 1.0): "minimum"}
    for p in r.final["critical_points"]:
        np.testing.assert_allclose(sorted(p["eigenvalues"]), sorted(6 * np.array(p["x"])), atol=1e-9)
    assert r.final["convexity"]["convex"] is False
    assert r.final["convexity"]["min_eigenvalue"] < 0


def test_all_critical_points_of_a_periodic_function_are_found_once(tmp_path):
    """sin x·sin y in [-3, 3]²: ∇f = (cos x sin y, sin x cos y) = 0 at (0, 0) (saddle) and
    (±π/2, ±π/2): maxima where sin x sin y = 1, minima where it is -1."""
    r = run(tmp_path, "problem=expr", "problem.f='sin(x)*sin(y)'", "analyze.at=[0.1,0.2]", "analyze.box=[-3,3]")
    h = math.pi / 2
    want = {(-h, -h): "maximum", (-h, h): "minimum", (0.0, 0.0): "saddle", (h, -h): "minimum", (h, h): "maximum"}
    got = r.final["critical_points"]
    assert len(got) == 5
    for p in got:
        key = min(want, key=lambda k: math.dist(k, p["x"]))
        assert math.dist(key, p["x"]) < 1e-12 and p["kind"] == want[key]
        assert p["value"] == pytest.approx(math.sin(key[0]) * math.sin(key[1]), abs=1e-15)


@pytest.mark.parametrize("k", [1, 4, 9])
def test_derivatives_of_any_order_in_one_dimension(tmp_path, k):
    """d^j/dx^j e^(2x) = 2^j e^(2x) for j = 0..k, by SymPy and by Taylor-mode AD."""
    r = run(tmp_path, "problem=expr", "problem.f='exp(2*x)'", "analyze.at=0.3", f"analyze.order={k}")
    want = [2.0 ** j * math.exp(0.6) for j in range(k + 1)]
    np.testing.assert_allclose(r.final["derivatives"], want, rtol=1e-13)
    np.testing.assert_allclose(r.final["methods"]["derivatives"]["taylor_mode"], want, rtol=1e-12)
    assert r.final["derivatives_symbolic"][-1] == (f"{2 ** k}*exp(2*x)" if k > 1 else "2*exp(2*x)")


def test_taylor_error_shrinks_like_distance_to_the_order_plus_one(tmp_path):
    """sin at a = 0.5: |sin x - T_k(x)| ~ |x - a|^(k+1)·|sin^(k+1)(ξ)|/(k+1)!."""
    r = run(tmp_path, "problem=expr", "problem.f='sin(x)'", "analyze.at=0.5", "analyze.order=3",
            "analyze.taylor_at=[0.6,1.5]")
    t = r.final["taylor"]
    np.testing.assert_allclose(t["error_slopes"], [2.0, 3.0, 4.0], atol=0.05)
    a = 0.5
    for x, T in zip([0.6, 1.5], t["taylor"]):
        d = x - a
        exact = math.sin(a) + math.cos(a) * d - math.sin(a) * d ** 2 / 2 - math.cos(a) * d ** 3 / 6
        assert T == pytest.approx(exact, rel=1e-14)
    assert t["error"][1] == pytest.approx(math.sin(1.5) - t["taylor"][1], rel=1e-12)
    assert r.trajectory["taylor_error"].shape == (3, r.trajectory["taylor_distance"].size)


def test_multivariable_taylor_of_order_two_uses_gradient_and_hessian(tmp_path):
    r = run(tmp_path, "problem=expr", "problem.f='exp(x)*cos(y)'", "analyze.at=[0,0]", "analyze.taylor_at=[[0.1,0.2]]")
    x, y = 0.1, 0.2
    assert r.final["taylor"]["taylor"][0] == pytest.approx(1 + x + 0.5 * (x * x - y * y), rel=1e-14)
    from runner.expr.compile import parse_expression

    poly = parse_expression(r.final["taylor"]["polynomial"])
    x_, y_ = poly.symbols
    assert sp.expand(poly.exprs[0] - (1 + x_ + (x_ ** 2 - y_ ** 2) / 2)) == 0


def test_directional_derivative_normalises_the_direction(tmp_path):
    r = run(tmp_path, "problem=expr", "problem.f='x**2 + y**2'", "analyze.at=[3,4]", "analyze.direction=[0,-5]")
    assert r.final["direction"] == [0.0, -1.0]
    assert r.final["directional_derivative"] == -8.0


def test_kink_reports_one_sided_derivatives_not_nan(tmp_path):
    r = run(tmp_path, "problem=expr", "problem.f='abs(x) + 2*relu(y)'", "analyze.at=[0,0]")
    f = r.final
    assert f["differentiable"] is False
    assert f["gradient_left"] == [-1.0, 0.0] and f["gradient_right"] == [1.0, 2.0]
    assert f["not_differentiable_along"] == ["x", "y"]
    assert f["gradient"] == [0.0, 0.0]           # the convention: |x|'(0) = relu'(0) = 0
    assert f["one_sided"]["agree"] and f["methods_agree"]
    assert "not differentiable" in r.message
    from runner.outputs.files import json_safe

    assert "nan" not in json.dumps(json_safe(f))


def test_smooth_point_of_a_piecewise_function_is_differentiable(tmp_path):
    r = run(tmp_path, "problem=expr", "problem.f='relu(x)'", "analyze.at=-2")
    assert r.final["differentiable"] is True and r.final["derivative"] == 0.0


def test_activation_tables_match_closed_forms(tmp_path):
    r = run(tmp_path, "analyze.activation=tanh", "analyze.at=0.5", "analyze.table_range=[-2,2]",
            "analyze.table_points=9")
    tab = r.final["activation_table"]
    xs = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(tab["x"], xs)
    np.testing.assert_allclose(tab["value"], np.tanh(xs), rtol=1e-15)
    np.testing.assert_allclose(tab["derivative"], 1 - np.tanh(xs) ** 2, rtol=1e-14)
    assert r.final["derivative"] == pytest.approx(1 - math.tanh(0.5) ** 2, rel=1e-15)
    assert r.info["problem"] == "activation:tanh"
    assert {"activation.png", "function.png", "taylor_error.png"} <= {n for n, _ in r.plots}


def test_softmax_jacobian_is_diag_s_minus_s_s_transpose(tmp_path):
    r = run(tmp_path, "analyze.activation=softmax", "analyze.at=[0.5,-1,2,0]")
    x = np.array([0.5, -1, 2, 0])
    s = np.exp(x) / np.exp(x).sum()
    for J in r.final["methods"]["jacobian"].values():
        np.testing.assert_allclose(J, np.diag(s) - np.outer(s, s), rtol=1e-9, atol=1e-12)


def test_plots_are_figures(tmp_path):
    from matplotlib.figure import Figure

    r = run(tmp_path, "problem=expr", "problem.f='x**3 - 3*x**2 + 2'", "analyze.at=1", "analyze.order=3")
    assert [n for n, _ in r.plots] == ["function.png", "taylor_error.png"]
    for _, draw in r.plots:
        fig = draw()
        assert isinstance(fig, Figure) and fig.axes[0].lines
    r = run(tmp_path, "problem=expr", "problem.f='x**2 - y**2'", "analyze.at=[1,1]")
    fig = dict(r.plots)["contour.png"]()
    assert fig.axes[0].collections  # the contour set


# ---- bad input: one line, naming the key ----------------------------------------------

@pytest.mark.parametrize("overrides,key,text", [
    (["problem.f='x**2 + y**2'", "analyze.at=[1,2,3]"], "analyze.at", "3 values but f has 2 variables (x, y)"),
    (["problem.f='x**2'", "analyze.direction=[0]"], "analyze.direction", "non-zero"),
    (["problem.f='log(x**2)'", "analyze.at=0"], "analyze.at", "not defined at (0)"),
    (["problem.f='x**2'", "analyze.at=1", "analyze.box=[2,1]"], "analyze.box", "lo < hi"),
    (["problem.f='x**2'", "analyze.at=[a]"], "analyze.at", "list of numbers"),
    (["problem.f='x**2'", "analyze.taylor_at=[[1,2]]"], "analyze.taylor_at[0]", "2 values"),
])
def test_bad_points_are_config_errors(tmp_path, overrides, key, text):
    with pytest.raises(ConfigError) as e:
        run(tmp_path, "problem=expr", *overrides)
    assert e.value.key == key and text in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("override,key", [("analyze.order=21", "analyze.order"), ("analyze.order=0", "analyze.order"),
                                          ("analyze.activation=swish", "analyze.activation"),
                                          ("analyze.alpha=1.5", "analyze.alpha"),
                                          ("analyze.table_range=[1,1]", "analyze.table_range")])
def test_bad_knobs_are_config_errors(tmp_path, override, key):
    with pytest.raises(ConfigError) as e:
        run(tmp_path, override)
    assert e.value.key == key


def test_through_the_app_nothing_left_running(run_app, mlflow_uri):
    from mlflow.tracking import MlflowClient

    result, doc, run_dir = run_app("task=analyze", "problem=expr", "problem.f='x**2 + x*y + y**2'", "analyze.at=[0,0]")
    assert doc["status"] == "FINISHED" and doc["final"]["gradient"] == [0.0, 0.0]
    assert (run_dir / "plots" / "contour.png").exists()
    run = MlflowClient(tracking_uri=mlflow_uri).get_run(doc["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["grad_norm"] == 0.0 and run.data.metrics["n_critical_points"] == 1.0


@pytest.mark.slow
def test_cli_examples_from_the_issue(tmp_path):
    from tests.conftest import REPO, run_cli

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = run_cli(["task=analyze", "problem=expr", "problem.f='x**2 + x*y + y**2'", "analyze.at=[0,0]",
                   f"tracking.uri={uri}", f"hydra.run.dir={tmp_path / 'a'}"], cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "critical points in the box" in out.stdout
    doc = json.loads((tmp_path / "a" / "result.json").read_text())
    assert doc["final"]["critical_points"][0]["kind"] == "minimum"
    out = run_cli(["task=analyze", "problem=expr", "problem.f='[x1**2 + x2, x1*x2]'", "analyze.at=[2,3]",
                   f"tracking.uri={uri}", f"hydra.run.dir={tmp_path / 'b'}"], cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "b" / "result.json").read_text())["final"]["jacobian"] == [[4, 1], [3, 2]]
    out = run_cli(["task=analyze", "problem=expr", "problem.f='x**2 + y**2'", "analyze.at=[1,2,3]",
                   "tracking=none", f"hydra.run.dir={tmp_path / 'c'}"], cwd=REPO)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("calclab: error: analyze.at: has 3 values")
