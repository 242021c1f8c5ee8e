"""Expressions that are legal and short but would hang, recurse out or overflow the compiler
are refused with one line naming the key and the limit, before any code is compiled."""
import numpy as np
import pytest
import sympy

from runner.expr import compile as expr
from runner.errors import ConfigError
from runner.expr.parse import MAX_NONSMOOTH_NESTING, MAX_POWER, parse_expression

SINES = "*".join(f"sin(x{i})" for i in range(1, 41))               # 40 variables: a 34,000-node Hessian
SINES_1D = "*".join(f"sin({i}*x)" for i in range(1, 41))           # one variable: a 64,000-node f''


@pytest.mark.parametrize("text,limit", [
    ("(" * 12 + "x" + "**64)" * 12, "combined exponent"),               # numba: 'Int value is too large'
    ("(" * 12 + "x" + "**2)" * 12, "combined exponent"),
    ("(x**8)**9", "combined exponent"),
    ("max(" * 90 + "x" + ",y)" * 90, f"nested more than {MAX_NONSMOOTH_NESTING} deep"),   # RecursionError
    ("abs(" * 20 + "x" + ")" * 20, f"nested more than {MAX_NONSMOOTH_NESTING} deep"),
])
def test_hostile_text_is_refused_while_parsing(text, limit):
    assert len(text) < 2000
    with pytest.raises(ConfigError) as err:
        parse_expression(text)
    assert err.value.key == "problem.f" and limit in err.value.problem


def test_what_stays_within_the_limits_still_parses():
    assert parse_expression("(x**8)**8").exprs[0] == parse_expression(f"x**{MAX_POWER}").exprs[0]
    nested = "max(" * MAX_NONSMOOTH_NESTING + "x" + ",y)" * MAX_NONSMOOTH_NESTING
    assert parse_expression(nested).variables == ["x", "y"]


@pytest.mark.parametrize("text", [SINES, SINES_1D], ids=["40 variables", "one variable"])
def test_a_derivative_too_large_is_refused_before_code_is_generated(text, tmp_path, monkeypatch):
    monkeypatch.setenv("CALCLAB_CACHE_DIR", str(tmp_path))
    with pytest.raises(ConfigError) as err:
        expr.compile_text(text)
    assert err.value.key == "problem.f" and f"over {expr.MAX_DERIVATIVE_NODES} terms" in err.value.problem
    assert not list(tmp_path.rglob("*.py"))                # nothing generated, nothing compiled


def test_the_size_estimate_bounds_the_derivatives_it_stands_for():
    """_diff_size is the budget's forecast: at least the true size of d f/dx for products,
    compositions and sums (so it refuses before computing), and not wildly above it."""
    x, y = sympy.symbols("x y", real=True)
    for f in [x * y * sympy.sin(x) * sympy.cos(x * y), sympy.exp(sympy.sin(x) ** 3) + y,
              sympy.Mul(*[sympy.sin(k * x) for k in range(1, 9)])]:
        true = expr._nodes(sympy.diff(f, x))
        assert true / 3 <= expr._diff_size(f, x) <= 8 * true


def test_generated_code_over_its_limit_is_refused_and_a_long_compile_is_announced(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CALCLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(expr, "MAX_CODE_LINES", 20)
    with pytest.raises(ConfigError) as err:
        expr.compile_text("x1*y1 + x2*y2 + x3*y3 + x4*y4")
    assert err.value.key == "problem.f" and "limit is 20" in err.value.problem
    monkeypatch.setattr(expr, "MAX_CODE_LINES", 1500)
    monkeypatch.setattr(expr, "PROGRESS_LINES", 20)
    compiled = expr.compile_text("x1*y1 + x2*y2 + x3*y3 + x4*y4")
    assert compiled.value(np.array([1.0, 2, 3, 4, 5, 6, 7, 8])) == 1 * 5 + 2 * 6 + 3 * 7 + 4 * 8
    assert capsys.readouterr().err.startswith("calclab: compiling problem.f (")
