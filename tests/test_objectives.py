"""Every named objective: gradient against central differences, Hessian against differences
of the gradient, value and stationarity at the known minima; data losses against NumPy."""
import numpy as np
import pytest
from omegaconf import OmegaConf

from runner.problems.catalog import PROBLEM_SCHEMAS, PROBLEMS, build_problem
from runner.config.validate import validate_group

SYNTH = {"source": "synthetic", "n": 40, "d": 3, "noise": 0.1}
# Options given to each problem here (any other problem of the table is tested with its defaults).
CASES = {
    "quadratic": {"A": [[2.0, 1.0, 0.0], [0.0, 3.0, 0.5], [0.0, 0.0, 1.0]], "b": [1.0, -2.0, 0.5], "c": 3.0},
    "rosenbrock": {"dim": 4, "a": 1.0, "b": 100.0},
    "rastrigin": {"dim": 3},
    "ackley": {"dim": 3},
    "styblinski_tang": {"dim": 3},
    "expr": {"f": "exp(x)*sin(y) + x**2*z - log(1 + z**2)"},
    "linreg": {"data": SYNTH, "l2": 0.3},
    "logreg": {"data": SYNTH, "l2": 0.1},
    "svm": {"data": SYNTH, "l2": 0.1},
}
NO_KNOWN_MINIMUM = {"expr", "logreg", "svm"}


def make(name, **extra):
    node = OmegaConf.create({"name": name, **CASES.get(name, {}), **extra})
    return build_problem(validate_group("problem", node, PROBLEM_SCHEMAS), seed=3)


def central_gradient(p, x, h=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (p.loss(x + e) - p.loss(x - e)) / (2 * h)
    return g


def hessian(p, x):
    H = np.zeros((p.dim, p.dim))
    p.hessian(np.ascontiguousarray(x), H, p.P, p.X, p.y)
    return H


def test_cases_name_problems_of_the_table():
    assert set(CASES) <= set(PROBLEMS)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_gradient_matches_central_differences(name):
    p = make(name)
    rng = np.random.default_rng(7)
    for _ in range(5):
        x = rng.uniform(-1.5, 1.5, p.dim)
        g = p.gradient(x)
        np.testing.assert_allclose(g, central_gradient(p, x), rtol=1e-6, atol=1e-6 * max(1, abs(p.loss(x))))


@pytest.mark.parametrize("name", sorted(set(PROBLEMS) - {"svm"}))
def test_hessian_matches_differences_of_the_gradient(name):
    p = make(name)
    rng = np.random.default_rng(11)
    h = 1e-6
    for _ in range(3):
        x = rng.uniform(-1.5, 1.5, p.dim)
        H = hessian(p, x)
        num = np.column_stack([(p.gradient(x + h * e) - p.gradient(x - h * e)) / (2 * h) for e in np.eye(p.dim)])
        np.testing.assert_allclose(H, num, rtol=1e-5, atol=1e-5 * max(1, np.abs(num).max()))
        np.testing.assert_array_equal(H, H.T)


def test_hinge_hessian_is_the_l2_term_only():
    p = make("svm")
    np.testing.assert_array_equal(hessian(p, np.ones(p.dim)), np.diag([0.2, 0.2, 0.2, 0.0]))


@pytest.mark.parametrize("name", sorted(set(PROBLEMS) - NO_KNOWN_MINIMUM))
def test_known_minima_are_stationary_with_the_stated_value(name):
    p = make(name)
    assert p.minima, f"{name} states no minimum"
    for xm, fm in p.minima:
        xm = np.asarray(xm)
        assert p.loss(xm) == pytest.approx(fm, abs=1e-9)
        assert np.linalg.norm(p.gradient(xm)) < 1e-7
        rng = np.random.default_rng(0)
        for _ in range(20):    # a local minimum: nearby points are not lower
            assert p.loss(xm + rng.normal(scale=1e-3, size=p.dim)) >= fm - 1e-12


@pytest.mark.parametrize("name,x,f", [
    ("booth", (1, 3), 0.0), ("matyas", (0, 0), 0.0), ("beale", (3, 0.5), 0.0),
    ("goldstein_price", (0, -1), 3.0), ("himmelblau", (3, 2), 0.0),
])
def test_two_dimensional_functions_have_their_textbook_minimum(name, x, f):
    assert make(name).loss(np.array(x, float)) == pytest.approx(f, abs=1e-12)


def test_himmelblau_has_four_minima_and_styblinski_tang_scales_with_n():
    assert len(make("himmelblau").minima) == 4
    p = make("styblinski_tang", dim=5)
    assert p.minima[0][1] == pytest.approx(-39.16616570377142 * 5, rel=1e-12)


def test_ackley_gradient_at_the_kink_is_a_subgradient_and_its_hessian_is_undefined():
    p = make("ackley")
    assert p.loss(np.zeros(3)) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_array_equal(p.gradient(np.zeros(3)), np.zeros(3))
    assert np.isnan(hessian(p, np.zeros(3))).all()


def numpy_loss(name, theta, X, y, l2, fit_b=True, reduction="mean"):
    k = X.shape[1]
    z = X @ theta[:k] + (theta[k] if fit_b else 0.0)
    s = np.where(y > 0, 1.0, -1.0)
    per = {"linreg": (z - y) ** 2, "logreg": np.logaddexp(0, -s * z), "svm": np.maximum(0, 1 - s * z)}[name]
    return (per.mean() if reduction == "mean" else per.sum()) + l2 * theta[:k] @ theta[:k]


@pytest.mark.parametrize("name", ["linreg", "logreg", "svm"])
@pytest.mark.parametrize("fit_b,reduction", [(True, "mean"), (False, "sum")])
def test_data_losses_match_numpy(name, fit_b, reduction):
    p = make(name, fit_intercept=fit_b, reduction=reduction)
    theta = np.random.default_rng(5).normal(size=p.dim)
    assert p.loss(theta) == pytest.approx(numpy_loss(name, theta, p.X, p.y, CASES[name]["l2"], fit_b, reduction), rel=1e-12)


def test_logistic_loss_does_not_overflow_on_large_margins():
    p = make("logreg")
    theta = np.full(p.dim, 400.0)
    assert np.isfinite(p.loss(theta)) and np.isfinite(p.gradient(theta)).all()


def test_linreg_minimum_is_the_ridge_solution():
    p = make("linreg")
    Xt = np.column_stack([p.X, np.ones(p.n_data)])
    n = p.n_data
    D = np.diag([1.0] * p.X.shape[1] + [0.0])
    expected = np.linalg.solve(Xt.T @ Xt / n + 0.3 * D, Xt.T @ p.y / n)
    np.testing.assert_allclose(p.minima[0][0], expected, rtol=1e-10)


def test_six_hump_camel_states_both_global_minima():
    """Against SciPy's BFGS on the textbook formula (Dixon and Szego 1978): f* = -1.0316284535 at
    +-(0.0898420, -0.7126564)."""
    from scipy.optimize import minimize

    f = lambda v: (4 - 2.1 * v[0] ** 2 + v[0] ** 4 / 3) * v[0] ** 2 + v[0] * v[1] + (-4 + 4 * v[1] ** 2) * v[1] ** 2
    p = make("six_hump_camel")
    assert len(p.minima) == 2
    for (xm, fm), start in zip(p.minima, [(0.5, -0.5), (-0.5, 0.5)]):
        ref = minimize(f, start, method="BFGS", options={"gtol": 1e-12})
        np.testing.assert_allclose(xm, ref.x, atol=1e-7)
        assert fm == pytest.approx(ref.fun, abs=1e-12) and fm == pytest.approx(-1.0316284535, abs=1e-10)
        assert p.loss(np.array(start)) == pytest.approx(f(start), rel=1e-14)
