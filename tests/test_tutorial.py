"""The tutorial as a whole: every worked example has a preset, the convolution example's numbers,
and every erratum is printed and tagged by the run that reproduces it."""
import io
import re
from pathlib import Path

import numpy as np
import pytest

from runner.outputs.report import print_summary

REPO = Path(__file__).resolve().parents[1]
SEED_DIR = REPO / "conf" / "experiment" / "seed"

# Every worked example of ../shared/seed/calculus-for-ai-tutorial.md: (section, example, what the
# tutorial prints, the preset that reproduces it).  Formula-only passages (definitions, the Adam
# and SGD update rules, the ELBO and KL definitions, RNN/BPTT equations) have no printed value
# and are listed where a preset exercises them.
WORKED_EXAMPLES = [
    ("Power Rule", "d/dx x^3", "3x^2", "analyze_power_rule"),
    ("Power Rule", "d/dx x^5", "5x^4", "analyze_power_rule_x5"),
    ("Constant Rule", "d/dx 7", "0", "analyze_constant_rule"),
    ("Sum Rule", "d/dx (x^3 + 2x^2 + 5)", "3x^2 + 4x", "analyze_sum_rule"),
    ("Exponential Function", "d/dx e^(2x)", "2e^(2x)", "analyze_exp_rule"),
    ("Natural Logarithm", "d/dx ln(x^2)", "2/x", "analyze_log_rule"),
    ("Sigmoid Function", "sigma(0), sigma'(0)", "0.5, 0.25", "analyze_sigmoid"),
    ("ReLU", "ReLU(-2), ReLU'(-2), ReLU(3), ReLU'(3)", "0, 0, 3, 1", "analyze_relu"),
    ("Tanh", "tanh(0), tanh'(0)", "0, 1", "analyze_tanh"),
    ("Partial Derivatives, Example 1", "x^2 + 3xy + y^2 at (2, 1)", "(7, 8)", "analyze_partials"),
    ("Partial Derivatives, Example 2", "(w1 x1 + w2 x2 - y)^2 at w = (1, 1)", "(0, 0)", "analyze_weight_partials"),
    ("Partial Derivatives, Example 2", "the same loss under gradient descent", "(0, 0)", "weight_partials"),
    ("Partial Derivatives, Example 3", "MSE partials at w = 1.5, b = 0.5", "(-1.0, -0.5)", "mse_partials"),
    ("Example: 2D Gradient", "grad(x^2 + y^2) at (3, 4)", "[6, 8]", "analyze_gradient_2d"),
    ("Minimizing a Quadratic Function", "GD on x^2 - 4x + 5 from 0", "0.4, 0.72, 0.976 -> 2", "gd_quadratic"),
    ("Linear Regression with Gradient Descent", "first gradient and step", "(-22.67, -10), w1 = 0.227, b1 = 0.1",
     "linreg_gd"),
    ("Single Variable Chain Rule", "d/dx (x^2 + 1)^3 at 2", "300", "analyze_chain_rule"),
    ("Multivariable Chain Rule", "dz/dt for z = x^2 + y^2 on the circle", "0", "analyze_chain_rule_circle"),
    ("Backpropagation Example", "1-1-1 network: forward, backward, update",
     "L = 0.028, w2 := 0.6045, b2 := 0.2078, w1 := 0.4006, b1 := 0.1011", "backprop_111"),
    ("Second Derivative Test (1D)", "x^3 - 3x^2 + 2", "maximum at 0, minimum at 2", "analyze_second_derivative_test"),
    ("Hessian Matrix", "x^2 + xy + y^2", "eigenvalues 3, 1: minimum at (0, 0)", "analyze_hessian_minimum"),
    ("Convex Functions in ML", "mean squared error", "Convex: Yes", "analyze_convexity_mse"),
    ("Convex Functions in ML", "logistic loss", "Convex: Yes", "analyze_convexity_logistic"),
    ("Convex Functions in ML", "hinge loss", "Convex: Yes", "analyze_convexity_hinge"),
    ("SGD with Momentum", "x^2 from 10, alpha 0.1, beta 0.9", "8, 4.6, 0.62", "momentum_x2"),
    ("Adam Optimizer", "the update with eps inside the root", "theta := theta - alpha m_hat / sqrt(v_hat + eps)",
     "linreg_adam"),
    ("Fundamental Theorem of Calculus", "integral of x^2 on [0, 2]", "8/3 = 2.667", "integrate_x_squared"),
    ("Probability Distributions", "integral of the Gaussian density", "1", "integrate_gaussian_pdf"),
    ("Expected Value", "E[X], X ~ U(0, 1)", "1/2", "integrate_uniform_mean"),
    ("Variance", "E[X^2], X ~ U(0, 1)", "1/3", "integrate_uniform_second_moment"),
    ("Variance", "Var(X), X ~ U(0, 1)", "1/12", "integrate_uniform_variance"),
    ("Evidence Lower Bound", "ELBO = E_q[log p(x, z)] - E_q[log q(z)]", "(formula)", "integrate_elbo_posterior"),
    ("Monte Carlo Integration", "x^2 on [0, 1] from 0.2, 0.5, 0.7, 0.9", "0.3975 (true 1/3)",
     "integrate_mc_four_samples"),
    ("Jacobian Matrix", "(x1^2 + x2, x1 x2) at (2, 3)", "[[4, 1], [3, 2]]", "analyze_jacobian"),
    ("Directional Derivatives", "x^2 + y^2 at (3, 4) along (1, 1)", "14/sqrt(2) = 9.90",
     "analyze_directional_derivative"),
    ("Lagrange Multipliers", "max xy subject to x + y = 10", "x = y = 5, f = 25", "constrained_lagrange_xy"),
    ("Taylor Series Expansion", "e^0.1 to order 3", "1.10517", "analyze_taylor_exp"),
    ("Forward Mode Example", "x sin x at pi", "(0, -pi)", "analyze_forward_mode"),
    ("Reverse Mode", "d/dx (x + y)(xy)", "2xy + y^2", "analyze_reverse_mode"),
    ("Gradient of Vector-Matrix Operations", "grad ||Wx||^2", "[344, 484]", "analyze_norm_gradient"),
    ("Hadamard Product", "dz/dx for z = x (.) y", "diag(y)", "analyze_hadamard"),
    ("Softmax Function", "softmax([1, 2, 3]) and its Jacobian", "[0.090, 0.245, 0.665], 0.082, -0.022",
     "analyze_softmax"),
    ("Leaky ReLU", "LeakyReLU'(x), alpha = 0.01", "1 for x > 0, alpha for x <= 0", "analyze_leaky_relu"),
    ("Binary Cross-Entropy", "dL/dz at z = 0.5, y = 1, and one step", "-0.378, z_new = 0.538", "bce_gradient"),
    ("Binary Cross-Entropy", "the same through the train task", "-0.378, z_new = 0.538", "backprop_bce"),
    ("Categorical Cross-Entropy", "dL/dz_i = y_hat_i - y_i", "y_hat - y", "backprop_cce"),
    ("Gradient of Convolution", "x = [1, 2, 3, 4], w = [1, 0], dL/dy = [1, 1, 1, 1]", "dL/dw = [10, 9]",
     "conv_gradient"),
    ("Vanishing Gradient Example", "(0.5)^10", "0.001", "backprop_vanishing_product"),
    ("Kullback-Leibler Divergence", "KL(P || Q) by sampling", "(formula)", "integrate_kl"),
    ("L2 Regularization", "dL_total/dw at x = 2, y = 5, w = 3, lambda = 0.1", "4.6", "l2_gradient"),
    ("Practice Problem 1", "x^2 + 4y^2 from (4, 2)", "(3.2, 0.4), (2.56, 0.08)", "practice1"),
    ("Practice Problem 2", "dL/dw", "-0.178", "backprop_practice2"),
    ("Practice Problem 3", "d(x - mean(x))/dx1 at (1, 3, 5)", "2/3, -1/3", "analyze_batchnorm_centering"),
]

# Presets that reproduce no example of their own (a baseline, a variant of one above).
SUPPORTING = {"gd_x2", "integrate_x_squared_mc", "integrate_elbo_gap"}


def test_every_worked_example_has_a_preset():
    missing = [(section, example, preset) for section, example, _, preset in WORKED_EXAMPLES
               if not (SEED_DIR / f"{preset}.yaml").is_file()]
    assert not missing, f"worked examples without a preset under conf/experiment/seed/: {missing}"


def test_every_preset_is_in_the_table():
    listed = {row[3] for row in WORKED_EXAMPLES} | SUPPORTING
    assert {p.stem for p in SEED_DIR.glob("*.yaml")} <= listed


def train_preset(tmp_path, name):
    from runner import app
    from tests.conftest import compose

    return app.execute(compose([f"+experiment=seed/{name}", "tracking=none", "quiet=true"]), tmp_path / name)


def test_conv_gradient_is_the_cross_correlation_of_the_example(tmp_path):
    """y_n = Σ_m w_m x_{n+m} (zero beyond the end) gives y = x for w = [1, 0]; with dL/dy = 1,
    dL/dw_m = Σ_n x_{n+m} = [1+2+3+4, 2+3+4] = [10, 9].  The tutorial's own convolution
    Σ_m w_m x_{n-m} would give dL/dw_m = Σ_n x_{n-m} = [10, 1+2+3] = [10, 6] (README errata)."""
    from kernels.rnn import conv1d

    x, w = np.array([1.0, 2, 3, 4]), np.array([1.0, 0])
    y = np.empty(4)
    conv1d(x, w, y)
    assert y.tolist() == [1.0, 2.0, 3.0, 4.0]
    padded = np.concatenate([x, [0.0]])
    assert [padded[m:m + 4].sum() for m in range(2)] == [10.0, 9.0]
    assert [x[: 4 - m].sum() for m in range(2)] == [10.0, 6.0]
    r = train_preset(tmp_path, "conv_gradient")
    assert r.trajectory["grad"][0][:2].tolist() == [10.0, 9.0]
    assert r.final["grad_check"]["passed"]


def errata_bullets():
    """The presets named by each bullet of README's "Errata in the tutorial" section."""
    text = (REPO / "README.md").read_text()
    section = text.split("### Errata in the tutorial", 1)[1].split("\n### ", 1)[0]
    bullets = section.split("\n- **")[1:]
    return [set(re.findall(r"`seed/(\w+)`", b)) for b in bullets]


def test_every_readme_erratum_has_a_preset_that_prints_it():
    with_erratum = {p.stem for p in SEED_DIR.glob("*.yaml") if "\nerratum:" in p.read_text()}
    bullets = errata_bullets()
    assert len(bullets) == 5 and all(len(b & with_erratum) == 1 for b in bullets), (bullets, with_erratum)
    assert with_erratum == set().union(*bullets) & with_erratum == set(CORRECT)


CORRECT = {"analyze_norm_gradient": "correct is (172, 244)", "backprop_practice2": "correct is dL/dw = -0.1774",
           "momentum_x2": "correct is slower here: ", "linreg_adam": "(sqrt(v_hat) + eps)",
           "conv_gradient": "correct is dL/dw = (10, 9) for the cross-correlation"}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_an_erratum_is_printed_last_and_tagged(run_app, mlflow_uri, tmp_path, name):
    from mlflow.tracking import MlflowClient

    result, doc, _ = run_app(f"+experiment=seed/{name}")
    line = doc["final"]["erratum"]
    assert line.startswith("tutorial prints ") and CORRECT[name] in line
    assert MlflowClient(tracking_uri=mlflow_uri).get_run(doc["mlflow_run_id"]).data.tags["calclab.erratum"] == line
    out = io.StringIO()
    print_summary(result, tmp_path, doc["mlflow_run_id"], stream=out)
    assert out.getvalue().splitlines()[-1] == line


def test_a_bad_erratum_is_one_config_error(tmp_path):
    from runner import app
    from runner.errors import ConfigError
    from tests.conftest import compose

    cfg = compose(["+experiment=seed/analyze_norm_gradient", "erratum.value=gradient", "tracking=none", "quiet=true"])
    with pytest.raises(ConfigError, match="erratum.value"):
        app.execute(cfg, tmp_path / "bad")
