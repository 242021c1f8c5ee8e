"""Every optimisation example of the seed tutorial, run from its experiment preset through the
runner, checked against the tutorial's printed numbers (to its rounding) and against the
closed-form recurrence where the tutorial stops printing."""
import numpy as np
import pytest

from runner import app
from tests.conftest import compose


def run(tmp_path, name, *overrides):
    cfg = compose([f"+experiment=seed/{name}", "tracking=none", "quiet=true", *overrides])
    result = app.execute(cfg, tmp_path / name)
    assert result.status == "FINISHED", result.message
    return result


def iterates(result):
    return result.trajectory["params"]


def test_gd_on_x2_minus_4x_plus_5(tmp_path):
    r = run(tmp_path, "gd_quadratic")
    x = iterates(r)[:, 0]
    assert x[:4] == pytest.approx([0.0, 0.4, 0.72, 0.976], abs=1e-12)
    # x_{k+1} - 2 = 0.8 (x_k - 2): the closed form of the whole path
    k = np.arange(x.size)
    np.testing.assert_allclose(x, 2 - 2 * 0.8 ** k, atol=1e-12)
    assert r.final["converged"] and r.final["params"][0] == pytest.approx(2.0, abs=1e-9)


def test_linear_regression_first_iteration_and_limit(tmp_path):
    r = run(tmp_path, "linreg_gd")
    g0 = r.trajectory["grad"][0]
    assert np.round(g0, 2).tolist() == [-22.67, -10.0]
    assert np.round(iterates(r)[1], 3).tolist() == [0.227, 0.1]
    assert r.final["params"] == pytest.approx([2.0, 1.0], abs=1e-6)


def test_adam_in_the_tutorials_form_fits_the_line(tmp_path):
    r = run(tmp_path, "linreg_adam")
    assert r.final["converged"]
    assert r.final["params"] == pytest.approx([2.0, 1.0], abs=1e-6)


def test_momentum_on_x2(tmp_path):
    r = run(tmp_path, "momentum_x2")
    assert iterates(r)[:4, 0] == pytest.approx([10.0, 8.0, 4.6, 0.62], abs=1e-12)
    assert r.final["converged"]


def test_momentum_is_not_faster_than_gd_on_this_example(tmp_path):
    """Erratum: the tutorial says momentum "converges faster"; at lr 0.1 GD contracts by 0.8 per
    step, heavy-ball momentum (beta 0.9) only by sqrt(0.9) ~ 0.949, so it needs more steps."""
    gd, mom = run(tmp_path, "gd_x2"), run(tmp_path, "momentum_x2")
    assert gd.info["steps"] < mom.info["steps"]
    x = iterates(mom)[:, 0]
    envelope = lambda a: np.abs(x[a:a + 50]).max()      # the path spirals: compare envelopes
    assert (envelope(300) / envelope(100)) ** (1 / 200) == pytest.approx(np.sqrt(0.9), rel=0.01)


def test_practice_problem_1(tmp_path):
    r = run(tmp_path, "practice1")
    path = iterates(r)
    np.testing.assert_allclose(path[1], [3.2, 0.4], atol=1e-12)
    np.testing.assert_allclose(path[2], [2.56, 0.08], atol=1e-12)
    assert r.final["params"] == pytest.approx([0.0, 0.0], abs=1e-9)


def test_mse_partials(tmp_path):
    r = run(tmp_path, "mse_partials")
    np.testing.assert_allclose(r.trajectory["grad"][0], [-1.0, -0.5], atol=1e-12)


def test_l2_regularised_gradient(tmp_path):
    r = run(tmp_path, "l2_gradient")
    assert r.trajectory["grad"][0][0] == pytest.approx(4.6, abs=1e-12)


def test_weight_partials_vanish_at_an_exact_fit(tmp_path):
    r = run(tmp_path, "weight_partials")
    np.testing.assert_array_equal(r.trajectory["grad"][0], [0.0, 0.0])
    assert r.final["params"] == [1.0, 1.0] and r.final["loss"] == 0.0


def test_binary_cross_entropy_gradient_and_step(tmp_path):
    r = run(tmp_path, "bce_gradient")
    assert round(r.trajectory["grad"][0][0], 3) == -0.378
    assert round(r.final["params"][0], 3) == 0.538
