"""Autodiff kernels on the recorded tape against SymPy's exact derivatives (evaluated with
50-digit arithmetic), and the one-sided behaviour at kinks against the definitions."""
import math

import numpy as np
import pytest
import sympy as sp

from kernels import autodiff as ad
from kernels import autodiff_taylor as at
from runner.errors import ConfigError
from runner.expr.parse import parse_expression
from runner.expr.tape import record

x, y, z = sp.symbols("x y z")

# every op code the tape knows, at a point inside every function's domain
SMOOTH = [
    x * sp.sin(x) + y ** 3 / (1 + x ** 2) - sp.exp(-x * y),
    sp.log(x ** 2 + 1) * sp.sqrt(y) + sp.atan(x * y) + sp.tanh(x - y) ** 2,
    sp.asin(y / 3) + sp.acos(x / 4) + sp.cosh(x) * sp.sinh(y) + sp.tan(x / 3),
    x ** y + (x - y) ** -3 + y ** sp.Rational(3, 2) - 2 * x / y,
]
POINT = {x: sp.Rational(7, 10), y: sp.Rational(13, 10)}
PT = np.array([0.7, 1.3])


def exact(e):
    return float(sp.N(e.subs(POINT), 50))


def scalar_tape(f, symbols=(x, y)):
    return record([f], list(symbols))


@pytest.mark.parametrize("f", SMOOTH, ids=range(len(SMOOTH)))
def test_value_gradient_all_modes_match_sympy(f):
    t = scalar_tape(f)
    values = np.empty(t.ops.size)
    ad.evaluate(*t.arrays, PT, values)
    assert values[t.outs[0]] == pytest.approx(exact(f), rel=1e-13)
    want = np.array([exact(sp.diff(f, v)) for v in (x, y)])
    J = np.empty((1, 2))
    for jac in (ad.jacobian_forward, ad.jacobian_reverse, ad.jacobian_complex_step):
        J[:] = np.nan
        jac(*t.arrays, t.outs, PT, J)
        np.testing.assert_allclose(J[0], want, rtol=1e-12, err_msg=jac.__name__)


@pytest.mark.parametrize("f", SMOOTH, ids=range(len(SMOOTH)))
def test_hessian_by_jets_matches_sympy(f):
    t = scalar_tape(f)
    H = np.empty((2, 2))
    at.hessian(*t.arrays, t.outs[0], PT, H)
    want = np.array([[exact(sp.diff(f, a, b)) for b in (x, y)] for a in (x, y)])
    np.testing.assert_allclose(H, want, rtol=1e-11)


@pytest.mark.parametrize("f", [SMOOTH[0], SMOOTH[1], SMOOTH[2], SMOOTH[3]], ids=range(4))
def test_high_order_derivatives_along_a_direction(f):
    """d^k/dt^k f(p + t v) at t=0 equals the k-th directional derivative from SymPy."""
    t = scalar_tape(f)
    v = np.array([0.6, -0.8])
    s = sp.Symbol("s")
    line = f.subs({x: POINT[x] + sp.Rational(3, 5) * s, y: POINT[y] - sp.Rational(4, 5) * s})
    K = 7
    d = np.empty(K + 1)
    at.derivatives_along(*t.arrays, t.outs[0], PT, v, K, d)
    want = [float(sp.N(sp.diff(line, s, k).subs(s, 0), 50)) for k in range(K + 1)]
    np.testing.assert_allclose(d, want, rtol=1e-9)


def test_vector_jacobian_forward_equals_reverse_equals_formula():
    """The tutorial's layer f = (x₁² + x₂, x₁·x₂): J(2, 3) = [[4, 1], [3, 2]]."""
    t = record([x ** 2 + y, x * y], [x, y])
    p = np.array([2.0, 3.0])
    for jac in (ad.jacobian_forward, ad.jacobian_reverse, ad.jacobian_complex_step):
        J = np.empty((2, 2))
        jac(*t.arrays, t.outs, p, J)
        np.testing.assert_array_equal(J, [[4.0, 1.0], [3.0, 2.0]])


def test_forward_mode_dual_numbers_on_x_sin_x_at_pi():
    """Tutorial: x = (π, 1), sin x = (0, -1), x·sin x = (0, -π)."""
    t = scalar_tape(x * sp.sin(x), (x,))
    values, tangents = np.empty(t.ops.size), np.empty(t.ops.size)
    ad.jvp(*t.arrays, np.array([math.pi]), np.array([1.0]), values, tangents)
    sin_node = next(i for i, op in enumerate(t.ops) if op == ad.SIN)
    assert values[sin_node] == pytest.approx(0.0, abs=1e-15)
    assert tangents[sin_node] == -1.0
    out = t.outs[0]
    assert values[out] == pytest.approx(0.0, abs=1e-15)
    assert tangents[out] == pytest.approx(-math.pi, rel=1e-15)


@pytest.mark.parametrize("px,py", [(1.0, 2.0), (-0.5, 3.0), (2.5, -1.5)])
def test_reverse_mode_on_product_of_sum_and_product(px, py):
    """Tutorial: f = (x + y)·(x·y) gives ∂f/∂x = 2xy + y² and ∂f/∂y = x² + 2xy."""
    t = scalar_tape((x + y) * (x * y))
    g = np.empty(2)
    ad.vjp(*t.arrays, t.outs, np.array([px, py]), np.ones(1), np.empty(t.ops.size), np.empty(t.ops.size), g)
    np.testing.assert_allclose(g, [2 * px * py + py ** 2, px ** 2 + 2 * px * py], rtol=1e-15)


def test_shared_subexpressions_are_one_node():
    t = scalar_tape(sp.exp(x * y) + sp.sin(x * y) * sp.exp(x * y))
    assert sum(op == ad.MUL for op in t.ops) == 2     # x·y once, and the product with exp
    assert sum(op == ad.EXP for op in t.ops) == 1


def _one_sided(f, at_x, s):
    t = scalar_tape(f, (s,))
    p = np.array([at_x])
    vals, tans = np.empty(t.ops.size), np.empty(t.ops.size)
    ad.jvp(*t.arrays, p, np.array([1.0]), vals, tans)
    right = tans[t.outs[0]]
    ad.jvp(*t.arrays, p, np.array([-1.0]), vals, tans)
    return -tans[t.outs[0]] + 0.0, right


def parsed(text):
    p = parse_expression(text)
    return p.exprs[0], p.symbols[0]


@pytest.mark.parametrize("text,left,right,pyfun", [
    ("relu(x)", 0.0, 1.0, lambda t: max(0.0, t)),
    ("max(x, 0.01*x)", 0.01, 1.0, lambda t: max(t, 0.01 * t)),     # leaky ReLU
    ("abs(x)", -1.0, 1.0, abs),
    ("x**2 - abs(x)", 1.0, -1.0, lambda t: t * t - abs(t)),
    ("min(x, x**2)", 1.0, 0.0, lambda t: min(t, t * t)),
])
def test_forward_mode_gives_one_sided_derivatives_at_kinks(text, left, right, pyfun):
    f, s = parsed(text)
    got_left, got_right = _one_sided(f, 0.0, s)
    # the definitions: lim (f(h) - f(0)) / h for h -> 0± (f is piecewise polynomial here)
    h = 1e-7
    assert (pyfun(h) - pyfun(0.0)) / h == pytest.approx(right, abs=1e-6)
    assert (pyfun(0.0) - pyfun(-h)) / h == pytest.approx(left, abs=1e-6)
    assert (got_left, got_right) == (pytest.approx(left), pytest.approx(right))


def test_jets_are_one_sided_at_kinks():
    """min(x, x²) near 0+: x² (so f'' = 2); near 0-: x (so f' = 1 seen from the left)."""
    f, s = parsed("min(x, x**2)")
    t = scalar_tape(f, (s,))
    d = np.empty(4)
    at.derivatives_along(*t.arrays, t.outs[0], np.array([0.0]), np.array([1.0]), 3, d)
    np.testing.assert_array_equal(d, [0.0, 0.0, 2.0, 0.0])
    at.derivatives_along(*t.arrays, t.outs[0], np.array([0.0]), np.array([-1.0]), 3, d)
    np.testing.assert_array_equal(d, [0.0, -1.0, 0.0, 0.0])


@pytest.mark.parametrize("text,want", [("relu(x)", 0.0), ("abs(x)", 0.0), ("max(x, 0.01*x)", 0.01),
                                       ("max(0.01*x, x)", 1.0), ("min(x, 2*x)", 2.0)])
def test_reverse_mode_uses_the_expression_compilers_subgradients_at_kinks(text, want):
    """relu'(0) = 0 (tutorial), abs'(0) = sign(0) = 0, a max/min tie goes to the 2nd operand."""
    f, s = parsed(text)
    t = scalar_tape(f, (s,))
    g = np.empty(1)
    ad.vjp(*t.arrays, t.outs, np.zeros(1), np.ones(1), np.empty(t.ops.size), np.empty(t.ops.size), g)
    assert g[0] == pytest.approx(want, rel=1e-15)
    assert float(sp.diff(f, s).subs(s, 0)) == pytest.approx(want, rel=1e-15)  # the symbolic convention


@pytest.mark.parametrize("u", [-800.0, -3.0, 0.0, 2.5, 800.0])
def test_sigmoid_is_stable_and_its_derivative_is_s_times_one_minus_s(u):
    f, s = parsed("sigmoid(x)")
    t = scalar_tape(f, (s,))
    d = np.empty(4)
    at.derivatives_along(*t.arrays, t.outs[0], np.array([u]), np.array([1.0]), 3, d)
    sig = sp.Integer(1) / (1 + sp.exp(-x))
    want = [float(sp.N(sp.diff(sig, x, k).subs(x, sp.Float(u, 30)), 30)) for k in range(4)]
    np.testing.assert_allclose(d, want, rtol=1e-12, atol=1e-300)
    g = np.empty(1)
    ad.vjp(*t.arrays, t.outs, np.array([u]), np.ones(1), np.empty(t.ops.size), np.empty(t.ops.size), g)
    assert g[0] == pytest.approx(want[1], rel=1e-12, abs=1e-300)


def test_integer_powers_of_negative_numbers_and_the_complex_step():
    """(x - 3)^3 at x = 1: f' = 3(x-3)² = 12 exactly; exp(3·log z) would lose the sign."""
    t = scalar_tape((x - 3) ** 3 + x ** -2, (x,))
    d = np.empty(1)
    ad.complex_step(*t.arrays, t.outs, np.array([1.0]), np.array([1.0]), d)
    assert d[0] == pytest.approx(12.0 - 2.0, rel=1e-15)


def test_pole_gives_inf_not_an_exception():
    t = scalar_tape(1 / x, (x,))
    values = np.empty(t.ops.size)
    ad.evaluate(*t.arrays, np.array([0.0]), values)
    assert np.isinf(values[t.outs[0]])


def test_tape_listing_reads_like_the_formula():
    lines = scalar_tape((x + y) * (x * y)).listing()
    assert lines == ["v0 = x", "v1 = y", "v2 = mul(v0, v1)", "v3 = add(v0, v1)", "v4 = mul(v2, v3)"]


def test_unsupported_function_is_a_config_error():
    with pytest.raises(ConfigError, match="no rule for gamma"):
        record([sp.gamma(x)], [x])
