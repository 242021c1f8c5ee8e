"""Checks of a network's gradient: backpropagation against central differences."""
from __future__ import annotations

import numpy as np


def grad_check(problem, batch: int = 64) -> dict:
    """Backprop against central differences with h = eps^(1/3) max(1, |theta_k|) on the first
    rows; every coordinate up to 200 parameters, else 20 random directions (v'grad against
    (L(theta + h v) - L(theta - h v)) / 2h).  max_rel_error = max |backprop - numeric| over
    max |numeric| (the gradient's scale), where = the coordinate or direction of the max."""
    X, y = problem.X[:batch], problem.y[: batch * max(1, problem.y.size // max(problem.X.shape[0], 1))]
    theta = problem.x0.copy()
    g = np.zeros(theta.size)
    f = lambda t: problem.value_grad(np.ascontiguousarray(t), np.zeros(t.size), problem.P, X, y)
    problem.value_grad(theta, g, problem.P, X, y)
    eps = np.finfo(float).eps ** (1 / 3)
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
    return {"max_abs_error": float(err.max()), "max_rel_error": float(err.max() / scale), "where": where,
            "mode": "coordinates" if theta.size <= 200 else "20 random directions"}
