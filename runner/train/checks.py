"""Checks of a network's gradient: backpropagation against central differences, with a
pass/fail verdict against a tolerance per precision (like torch.autograd.gradcheck's)."""
from __future__ import annotations

import numpy as np


# max_rel_error allowed by the gradient check, per precision of the network's forward and
# backward pass.  Central differences with h = eps^(1/3)·max(1, |θ|) err by about eps^(2/3)
# relative to the gradient's scale (truncation h² and rounding eps/h balanced): 4e-11 in float64,
# 2.4e-5 in float32, times the loss's curvature and conditioning; the tolerances leave a margin
# of about 30x over that (as torch.autograd.gradcheck's rtol=1e-3 does over its float64 errors).
GRAD_CHECK_TOLERANCE = {"float64": 1e-6, "float32": 1e-3}


def grad_check(problem, precision: str = "float64", batch: int = 64) -> dict:
    """Backprop against central differences with h = eps^(1/3) max(1, |theta_k|), eps the
    machine epsilon of ``precision`` (the loss is computed in it: float64's step would leave
    float32 rounding / h ~ 0.02 of error), on the first rows; every coordinate up to 200
    parameters, else 20 random directions (v'grad against (L(theta + h v) - L(theta - h v)) / 2h).
    max_rel_error = max |backprop - numeric| over max |numeric| (the gradient's scale), where =
    the coordinate or direction of the max; passed = max_rel_error <= GRAD_CHECK_TOLERANCE[precision]."""
    X, y = problem.X[:batch], problem.y[: batch * max(1, problem.y.size // max(problem.X.shape[0], 1))]
    theta = problem.x0.copy()
    g = np.zeros(theta.size)
    f = lambda t: problem.value_grad(np.ascontiguousarray(t), np.zeros(t.size), problem.P, X, y)
    problem.value_grad(theta, g, problem.P, X, y)
    eps = float(np.finfo(np.float32 if precision == "float32" else np.float64).eps) ** (1 / 3)
    if theta.size <= 200:
        dirs = np.eye(theta.size)
    else:
        dirs = np.random.Generator(np.random.PCG64(0)).standard_normal((20, theta.size))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    numeric, analytic = np.empty(len(dirs)), np.empty(len(dirs))
    for k, v in enumerate(dirs):
        h = eps * max(1.0, float(np.abs(theta[v != 0]).max()))
        numeric[k] = (f(theta + h * v) - f(theta - h * v)) / (2 * h)
        analytic[k] = float(v @ g)
    err = np.abs(numeric - analytic)
    scale = max(np.abs(numeric).max(), np.abs(analytic).max(), 1e-300)
    where = int(err.argmax())
    # relative to the gradient's largest entry: a coordinate whose gradient is 0 has no relative error
    rel, tol = float(err.max() / scale), GRAD_CHECK_TOLERANCE[precision]
    passed = bool(rel <= tol)
    verdict = f"{'passed' if passed else 'FAILED'}: max_rel_error {rel:.2e} {'<=' if passed else '>'} {tol:g} ({precision} tolerance)"
    return {"max_abs_error": float(err.max()), "max_rel_error": rel, "where": where,
            "mode": "coordinates" if theta.size <= 200 else "20 random directions",
            "precision": precision, "step": eps, "tolerance": tol, "passed": passed, "verdict": verdict}
