"""train.grad_check: central differences with a step scaled to the network's precision, and a
pass/fail verdict against a documented tolerance per precision (in result.json, the printed
report and the MLflow tag calclab.grad_check)."""
import numpy as np
import pytest

from runner import app
from runner.problems.catalog import Problem
from runner.train.checks import GRAD_CHECK_TOLERANCE, grad_check
from tests.conftest import compose

NET = ["task=train", "data=moons", "model.hidden=[20,17]", "model.activation=tanh", "train.steps=1",
       "train.grad_check=true"]


def run(tmp_path, *overrides):
    cfg = compose([*NET, "tracking=none", "quiet=true", *overrides])
    return app.execute(cfg, tmp_path / f"r{len(list(tmp_path.iterdir()))}")


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_a_correct_backprop_passes_in_either_precision(tmp_path, precision):
    check = run(tmp_path, f"model.precision={precision}").final["grad_check"]
    assert check["precision"] == precision and check["tolerance"] == GRAD_CHECK_TOLERANCE[precision]
    assert check["passed"] is True, check
    eps = np.finfo(np.float32 if precision == "float32" else np.float64).eps
    assert check["step"] == pytest.approx(eps ** (1 / 3))
    # the float32 loss rounds at ~1e-7 relative: with h = eps32^(1/3) the check is good to ~1e-4,
    # not the 0.045 that float64's step (2^-52)^(1/3) = 6e-6 gave
    if precision == "float32":
        assert check["max_rel_error"] < 1e-3


def test_a_wrong_gradient_fails(tmp_path):
    """f = Σθ², with a 'backprop' that returns 2.01θ: 0.01/2.01 of the largest entry off, beyond both tolerances."""
    def value_grad(theta, g, P, X, y):
        g[:] = 2.01 * theta
        return float(theta @ theta)

    problem = Problem("toy", "toy", 3, np.array([1.0, -2.0, 0.5]), value_grad, None, np.zeros(1),
                      np.zeros((1, 1)), np.zeros(1))
    for precision in ("float64", "float32"):
        check = grad_check(problem, precision)
        assert check["passed"] is False and check["max_rel_error"] == pytest.approx(0.01 / 2.01, rel=1e-3)


def test_the_verdict_is_tagged_and_printed(run_app, mlflow_uri, tmp_path):
    import io

    from mlflow.tracking import MlflowClient

    from runner.outputs.report import print_summary

    result, doc, _ = run_app(*NET, "model.precision=float32")
    check = doc["final"]["grad_check"]
    assert check["passed"] is True and check["verdict"].startswith("passed")
    tags = MlflowClient(tracking_uri=mlflow_uri).get_run(doc["mlflow_run_id"]).data.tags
    assert tags["calclab.grad_check"] == check["verdict"]
    out = io.StringIO()
    print_summary(result, tmp_path, None, stream=out)
    assert f"grad check: {check['verdict']}" in out.getvalue()
