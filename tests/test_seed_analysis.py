"""Every analysis result of the tutorial, as its experiment preset, against our own math.

Each test composes ``+experiment=seed/<name>`` exactly as a user would and checks the
numbers the tutorial prints (to its rounding) and the closed forms behind them.  Where the
tutorial is wrong the correct value is asserted and the erratum is named in the docstring.
"""
import math
from pathlib import Path

import numpy as np
import pytest

from runner.expr.compile import parse_expression
from tests.conftest import compose, run_task

SEED_DIR = Path(__file__).resolve().parents[1] / "conf" / "experiment" / "seed"


def preset(tmp_path, name, *extra):
    cfg = compose([f"+experiment=seed/{name}", "tracking=none", "quiet=true", *extra])
    return run_task(cfg, tmp_path)


def same_function(text, expected_text):
    """Symbolic equality of two formulas (both parsed safely; test side)."""
    import sympy as sp

    a, b = parse_expression(text), parse_expression(expected_text)
    sub = dict(zip(b.symbols, a.symbols))
    return sp.simplify(a.exprs[0] - b.exprs[0].xreplace(sub)) == 0


def test_every_analysis_preset_has_a_test():
    names = {p.stem for p in SEED_DIR.glob("analyze_*.yaml")} | {p.stem for p in SEED_DIR.glob("constrained_*.yaml")}
    tested = {n[len("test_"):] for n in globals() if n.startswith("test_")}
    assert names <= tested, f"presets without a test: {sorted(names - tested)}"


def test_analyze_power_rule(tmp_path):
    f = preset(tmp_path, "analyze_power_rule").final
    assert f["derivatives_symbolic"][1:] == ["3*x**2", "6*x", "6"]
    assert f["derivatives"] == [8.0, 12.0, 12.0, 6.0]


def test_analyze_power_rule_x5(tmp_path):
    f = preset(tmp_path, "analyze_power_rule_x5").final
    assert f["derivatives_symbolic"][1:] == ["5*x**4", "20*x**3", "60*x**2", "120*x", "120"]
    assert f["derivative"] == 5 * 2 ** 4
    assert f["derivatives"] == [32.0, 80.0, 160.0, 240.0, 240.0, 120.0]
    (point,) = f["critical_points"]          # x^5 has no extremum: one inflection point at 0
    assert point["x"] == [0.0] and point["kind"] == "inflection"


def test_analyze_constant_rule(tmp_path):
    f = preset(tmp_path, "analyze_constant_rule").final
    assert f["variables"] == ["x"] and f["value"] == 7.0
    assert f["derivative"] == 0.0 and f["derivatives_symbolic"][1] == "0"


def test_analyze_sum_rule(tmp_path):
    f = preset(tmp_path, "analyze_sum_rule").final
    assert same_function(f["derivatives_symbolic"][1], "3*x**2 + 4*x")
    assert f["derivative"] == 7.0 and f["second_derivative"] == 10.0


def test_analyze_exp_rule(tmp_path):
    f = preset(tmp_path, "analyze_exp_rule").final
    assert f["derivatives_symbolic"][1] == "2*exp(2*x)"
    assert f["derivatives"] == [1.0, 2.0, 4.0, 8.0, 16.0]


def test_analyze_log_rule(tmp_path):
    f = preset(tmp_path, "analyze_log_rule").final
    assert f["derivatives_symbolic"][1] == "2/x"
    assert f["derivative"] == 2.0 and f["second_derivative"] == -2.0


def test_analyze_sigmoid(tmp_path):
    f = preset(tmp_path, "analyze_sigmoid").final
    assert f["value"] == 0.5 and f["derivative"] == 0.25
    # σ'' = σ(1-σ)(1-2σ) = 0 and σ''' = σ(1-σ)(1 - 6σ + 6σ²) = -1/8 at 0
    np.testing.assert_allclose(f["derivatives"], [0.5, 0.25, 0.0, -0.125], atol=1e-15)
    assert same_function(f["derivatives_symbolic"][1], "sigmoid(x)*(1 - sigmoid(x))")
    tab = f["activation_table"]
    xs = np.asarray(tab["x"])
    s = 1 / (1 + np.exp(-xs))
    np.testing.assert_allclose(tab["value"], s, rtol=1e-15)
    np.testing.assert_allclose(tab["derivative"], s * (1 - s), rtol=1e-14)


def test_analyze_relu(tmp_path):
    f = preset(tmp_path, "analyze_relu").final
    tab = f["activation_table"]
    assert tab["x"] == [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
    assert tab["value"] == [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]
    assert tab["derivative"] == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]    # ReLU'(0) = 0 as in the tutorial
    assert f["value"] == 3.0 and f["derivative"] == 1.0 and f["differentiable"]


def test_analyze_tanh(tmp_path):
    f = preset(tmp_path, "analyze_tanh").final
    # tanh = x - x³/3 + ...: tanh(0) = 0, tanh'(0) = 1, tanh''(0) = 0, tanh'''(0) = -2
    np.testing.assert_allclose(f["derivatives"], [0.0, 1.0, 0.0, -2.0], atol=1e-15)
    assert same_function(f["derivatives_symbolic"][1], "1 - tanh(x)**2")


def test_analyze_leaky_relu(tmp_path):
    f = preset(tmp_path, "analyze_leaky_relu").final
    assert f["differentiable"] is False
    assert f["gradient_left"] == [0.01] and f["gradient_right"] == [1.0]
    assert f["derivative"] == 0.01           # the tutorial's convention: alpha for x <= 0
    assert f["activation_table"]["derivative"] == [0.01, 0.01, 0.01, 1.0, 1.0]
    assert f["activation_table"]["value"] == [-0.02, -0.01, 0.0, 1.0, 2.0]


def test_analyze_partials(tmp_path):
    f = preset(tmp_path, "analyze_partials").final
    assert f["gradient"] == [7.0, 8.0]
    assert f["gradient_symbolic"] == ["2*x + 3*y", "3*x + 2*y"]


def test_analyze_weight_partials(tmp_path):
    f = preset(tmp_path, "analyze_weight_partials").final
    assert f["variables"] == ["w1", "w2"] and f["gradient"] == [0.0, 0.0]
    assert same_function(f["gradient_symbolic"][0], "4*(2*w1 + 3*w2 - 5)")
    assert same_function(f["gradient_symbolic"][1], "6*(2*w1 + 3*w2 - 5)")
    # the minimisers form the line 2w1 + 3w2 = 5: H = 2 (2, 3)ᵀ(2, 3) has eigenvalues 0 and 26
    np.testing.assert_allclose(f["hessian_eigenvalues"], [0.0, 26.0], atol=1e-12)


def test_analyze_gradient_2d(tmp_path):
    assert preset(tmp_path, "analyze_gradient_2d").final["gradient"] == [6.0, 8.0]


def test_analyze_directional_derivative(tmp_path):
    f = preset(tmp_path, "analyze_directional_derivative").final
    assert f["directional_derivative"] == pytest.approx(14 / math.sqrt(2), rel=1e-15)
    assert round(f["directional_derivative"], 2) == 9.90
    np.testing.assert_allclose(f["direction"], [1 / math.sqrt(2)] * 2, rtol=1e-15)


def test_analyze_chain_rule(tmp_path):
    f = preset(tmp_path, "analyze_chain_rule").final
    assert f["derivative"] == 300.0
    assert same_function(f["derivatives_symbolic"][1], "6*x*(x**2 + 1)**2")


def test_analyze_chain_rule_circle(tmp_path):
    """dz/dt = 0: SymPy's chain rule cancels exactly; every numeric method is ~0."""
    f = preset(tmp_path, "analyze_chain_rule_circle").final
    assert f["derivatives_symbolic"][1] == "0"
    for name, d in f["methods"]["derivatives"].items():
        assert abs(d[1]) < 1e-9, name
    # the same result as the directional derivative of x² + y² along the circle's tangent
    t = 0.7
    r = preset(tmp_path, "analyze_gradient_2d", f"analyze.at=[{math.cos(t)!r},{math.sin(t)!r}]",
               f"analyze.direction=[{-math.sin(t)!r},{math.cos(t)!r}]")
    assert abs(r.final["directional_derivative"]) < 1e-15


def test_analyze_second_derivative_test(tmp_path):
    pts = preset(tmp_path, "analyze_second_derivative_test").final["critical_points"]
    assert [(p["x"], p["kind"], p["value"]) for p in pts] == [([0.0], "maximum", 2.0), ([2.0], "minimum", -2.0)]
    np.testing.assert_allclose([p["eigenvalues"][0] for p in pts], [-6.0, 6.0], rtol=1e-12)


def test_analyze_hessian_minimum(tmp_path):
    f = preset(tmp_path, "analyze_hessian_minimum").final
    (p,) = f["critical_points"]
    assert p["x"] == [0.0, 0.0] and p["kind"] == "minimum"
    np.testing.assert_allclose(p["eigenvalues"], [1.0, 3.0], rtol=1e-14)
    assert f["hessian"] == [[2.0, 1.0], [1.0, 2.0]]


def test_analyze_jacobian(tmp_path):
    f = preset(tmp_path, "analyze_jacobian").final
    assert f["jacobian"] == [[4.0, 1.0], [3.0, 2.0]]
    assert f["jacobian_symbolic"] == [["2*x1", "1"], ["x2", "x1"]]
    assert f["methods_agree"]


def test_analyze_taylor_exp(tmp_path):
    t = preset(tmp_path, "analyze_taylor_exp").final["taylor"]
    assert t["polynomial"] == "1 + x + x**2/2 + x**3/6"
    assert t["taylor"][0] == pytest.approx(1 + 0.1 + 0.01 / 2 + 0.001 / 6, rel=1e-15)
    assert round(t["taylor"][0], 5) == 1.10517 and round(t["f"][0], 5) == 1.10517
    assert t["error"][0] == pytest.approx(math.exp(0.1) - (1 + 0.1 + 0.005 + 0.001 / 6), rel=1e-9)
    assert 0 < t["error"][0] < 0.1 ** 4 / 24 * math.exp(0.1)     # Lagrange remainder bound
    np.testing.assert_allclose(t["error_slopes"], [2, 3, 4], atol=0.05)


def test_analyze_forward_mode(tmp_path):
    f = preset(tmp_path, "analyze_forward_mode").final
    assert abs(f["value"]) < 1e-15                                   # π·sin(π) = 0 up to π's rounding
    assert f["methods"]["gradient"]["forward"] == [pytest.approx(-math.pi, rel=1e-15)]
    assert f["derivative"] == pytest.approx(-math.pi, rel=1e-15)


def test_analyze_reverse_mode(tmp_path):
    f = preset(tmp_path, "analyze_reverse_mode").final
    assert f["methods"]["gradient"]["reverse"] == [8.0, 5.0]         # (2xy + y², x² + 2xy) at (1, 2)
    assert same_function(f["gradient_symbolic"][0], "2*x*y + y**2")
    assert same_function(f["gradient_symbolic"][1], "x**2 + 2*x*y")


def test_analyze_norm_gradient(tmp_path):
    """Erratum: the tutorial computes 2Wᵀy = 2·[172, 242] = [344, 484]; in fact Wᵀy =
    [1·11 + 3·25, 2·11 + 4·25] = [86, 122], so ∂L/∂x = 2Wᵀy = [172, 244]."""
    f = preset(tmp_path, "analyze_norm_gradient").final
    W, x = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([3.0, 4.0])
    y = W @ x
    assert y.tolist() == [11.0, 25.0] and f["value"] == 746.0
    assert f["gradient"] == (2 * W.T @ y).tolist() == [172.0, 244.0]
    assert f["hessian"] == (2 * W.T @ W).tolist()


def test_analyze_hadamard(tmp_path):
    f = preset(tmp_path, "analyze_hadamard").final
    J = np.array(f["jacobian"])
    assert f["variables"] == ["x1", "x2", "y1", "y2"]
    assert J[:, :2].tolist() == np.diag([3.0, 4.0]).tolist()     # ∂z/∂x = diag(y)
    assert J[:, 2:].tolist() == np.diag([1.0, 2.0]).tolist()     # ∂z/∂y = diag(x)


def test_analyze_batchnorm_centering(tmp_path):
    f = preset(tmp_path, "analyze_batchnorm_centering").final
    assert f["value"] == [-2.0, 0.0, 2.0]
    J = np.array(f["jacobian"])
    np.testing.assert_allclose(J, np.eye(3) - 1 / 3, atol=1e-15)
    assert J[0, 0] == pytest.approx(2 / 3) and J[1, 0] == pytest.approx(-1 / 3)


def test_analyze_softmax(tmp_path):
    f = preset(tmp_path, "analyze_softmax").final
    s = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    np.testing.assert_allclose(f["value"], s, rtol=1e-15)
    assert np.round(f["value"], 3).tolist() == [0.090, 0.245, 0.665]
    J = np.array(f["jacobian"])
    assert round(J[0, 0], 3) == 0.082 and round(J[0, 1], 3) == -0.022
    np.testing.assert_allclose(J, np.diag(s) - np.outer(s, s), atol=1e-15)


def test_constrained_lagrange_xy(tmp_path):
    r = preset(tmp_path, "constrained_lagrange_xy")
    sol = r.final["solution"]
    assert sol["x"] == [5.0, 5.0] and sol["multipliers"] == [5.0] and sol["value"] == 25.0
    assert sol["kind"] == "maximum" and sol["bordered_hessian_minors"] == [pytest.approx(2.0)]


def test_analyze_convexity_mse(tmp_path):
    f = preset(tmp_path, "analyze_convexity_mse").final
    H = np.array([[14.0, 6.0], [6.0, 3.0]]) * 2 / 3          # (2/n) sum [x, 1][x, 1]'
    np.testing.assert_allclose(f["hessian"], H, rtol=1e-14)
    assert f["convexity"]["min_eigenvalue"] == pytest.approx(np.linalg.eigvalsh(H)[0], rel=1e-12)
    assert f["convexity"]["verdict"].startswith("no counterexample")


def test_analyze_convexity_logistic(tmp_path):
    f = preset(tmp_path, "analyze_convexity_logistic").final
    X = np.array([[1.0, 2.0], [-1.0, 0.5], [2.0, -1.0], [-2.0, -1.0], [0.5, 0.5]])
    np.testing.assert_allclose(f["hessian"], 0.25 * X.T @ X, rtol=1e-14)   # s(1-s) = 1/4 at w = 0
    assert f["convexity"]["min_eigenvalue"] >= 0 and f["convexity"]["verdict"].startswith("no counterexample")


def test_analyze_convexity_hinge(tmp_path):
    f = preset(tmp_path, "analyze_convexity_hinge").final
    assert f["hessian"] == [[0.0, 0.0], [0.0, 0.0]]                       # piecewise linear
    assert f["convexity"]["verdict"].startswith("no counterexample")


def test_a_non_convex_loss_is_caught_with_a_witness(tmp_path):
    """The sampled test can fail: Rosenbrock's Hessian is indefinite near x = 0, y > 0."""

    cfg = compose(["task=analyze", "problem=rosenbrock", "tracking=none", "analyze.box=[-2,2]",
                   "analyze.critical_points=false"])
    c = run_task(cfg, tmp_path).final["convexity"]
    assert c["convex"] is False and c["min_eigenvalue"] < 0
    x, y = c["where"]
    H = np.array([[1200 * x * x - 400 * y + 2, -400 * x], [-400 * x, 200]])
    assert np.linalg.eigvalsh(H)[0] == pytest.approx(c["min_eigenvalue"], rel=1e-9)
