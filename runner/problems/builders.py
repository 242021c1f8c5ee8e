"""Build a :class:`runner.problems.problem.Problem` from a validated problem option.

One builder per family of :data:`runner.problems.catalog.PROBLEMS`, each called as
``build(option, entry, seed)``: it packs the constants ``P`` for its kernel (layouts in
:mod:`kernels.objectives`), checks ``x0`` against the parameter count, and states the known
minima.  The kernels are imported when a problem is built, not when a config is validated.
"""
from __future__ import annotations

import time
from typing import List, Optional, Sequence

import numpy as np

from runner.problems import data as datasets
from runner.errors import ConfigError
from runner.problems.problem import EMPTY_X, EMPTY_Y, Problem


def kernels(prefix: str):
    """The pair (value_grad, hessian) named ``prefix``_value_grad, ``prefix``_hessian in
    kernels.objectives."""
    from kernels import objectives as K

    return getattr(K, f"{prefix}_value_grad"), getattr(K, f"{prefix}_hessian")


def names_for(d: int) -> List[str]:
    return ["x"] if d == 1 else (["x", "y"] if d == 2 else [f"x{i + 1}" for i in range(d)])


def start(x0: Optional[Sequence[float]], names: List[str], default) -> np.ndarray:
    """x0 as a float array with one value per parameter (ConfigError 'problem.x0' otherwise)."""
    if x0 is None:
        return np.array(default, dtype=np.float64) * np.ones(len(names))
    if len(x0) != len(names):
        listed = ", ".join(names) if len(names) <= 8 else f"{', '.join(names[:3])}, ..., {names[-1]}"
        raise ConfigError("problem.x0", f"expected {len(names)} values ({listed}), got {len(x0)}")
    x = np.array(list(x0), dtype=np.float64)
    if not np.isfinite(x).all():
        raise ConfigError("problem.x0", f"must be finite numbers, got {list(x0)}")
    return x


def quadratic(p, entry=None, seed: int = 0) -> Problem:
    """f = x'Ax + b'x + c = 1/2 x'Sx + b'x + c with S = A + A'."""
    try:
        A = np.array(p.A, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError("problem.A", "must be a square matrix (list of rows of numbers)") from None
    if A.ndim == 0:
        A = A.reshape(1, 1)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
        raise ConfigError("problem.A", f"must be a square matrix (list of rows), got shape {A.shape}")
    d = A.shape[0]
    b = np.zeros(d) if p.b is None else np.array(p.b, dtype=np.float64)
    if b.shape != (d,):
        raise ConfigError("problem.b", f"expected {d} values to match A ({d}x{d}), got {b.size}")
    S = A + A.T
    names = names_for(d)
    minima = []
    eig = np.linalg.eigvalsh(S)
    if eig.min() > 1e-12 * max(1.0, abs(eig).max()):
        xs = -np.linalg.solve(S, b)
        minima = [(xs.tolist(), float(p.c + 0.5 * b @ xs))]
    P = np.concatenate([[d], S.ravel(), b, [p.c]])
    from kernels.descent_fast import gd_quadratic

    return Problem("quadratic", _quadratic_label(A, b, p.c, names), d, start(p.x0, names, 0.0),
                   *kernels("quadratic"), P, param_names=names, minima=minima,
                   meta={"convex": bool(eig.min() >= 0), "hessian_eigenvalues": eig.tolist()},
                   gd_loop=gd_quadratic)


def _quadratic_label(A, b, c, names) -> str:
    terms = []
    d = len(names)
    for i in range(d):
        for j in range(i, d):
            coef = A[i, i] if i == j else A[i, j] + A[j, i]
            terms.append((coef, f"{names[i]}^2" if i == j else f"{names[i]}{names[j]}"))
    terms += [(b[i], names[i]) for i in range(d)] + [(c, "")]
    out = ""
    for coef, var in terms:
        if coef == 0:
            continue
        mag = abs(coef)
        text = (f"{mag:g}" if (mag != 1 or not var) else "") + var
        out += (" - " if coef < 0 else " + ") + text if out else ("-" if coef < 0 else "") + text
    return out or "0"


def nd_function(p, entry, seed: int = 0) -> Problem:
    """An n-dimensional test function: the entry's kernels, constants, minima and default start
    (repeated to dim)."""
    d = int(p.dim)
    names = names_for(d)
    P = np.array(entry.constants(p), dtype=np.float64) if entry.constants else np.zeros(1)
    x0 = start(p.x0, names, np.resize(np.asarray(entry.x0, dtype=np.float64), d))
    problem = Problem(p.name, f"{entry.label} (n={d})", d, x0, *kernels(entry.kernels), P, param_names=names)
    problem.minima = entry.minima(p, problem)
    return problem


def formula(p, entry, seed: int = 0) -> Problem:
    """A fixed two-dimensional test function given as formula text in x and y, compiled (and
    derived) by runner.expr.compile."""
    from runner.expr.compile import compile_text

    compiled = compile_text(entry.formula, ["x", "y"], key=f"problem ({p.name})")
    problem = _from_compiled(p.name, f"{entry.label}: {entry.formula}", compiled, start(p.x0, ["x", "y"], entry.x0))
    problem.minima = [_refine(problem, xm, fm) for xm, fm in entry.minima]
    return problem


def expression(p, entry=None, seed: int = 0) -> Problem:
    from runner.expr.compile import compile_expression, parse_expression

    parsed = parse_expression(p.f, p.variables, key="problem.f")
    if parsed.is_vector:
        raise ConfigError("problem.f", f"has {len(parsed.exprs)} components; this task needs one scalar f "
                          "(a vector f is for task=analyze)")
    compiled = compile_expression(parsed)
    return _from_compiled("expr", parsed.text, compiled, start(p.x0, list(parsed.variables), 0.0))


def _from_compiled(name, label, compiled, x0) -> Problem:
    names = list(compiled.parsed.variables)
    return Problem(name, label, len(names), x0, compiled.value_grad, compiled.hessian_fn, np.zeros(1),
                   EMPTY_X, EMPTY_Y, names, [], 0, compiled.compile_seconds,
                   {"formula": compiled.parsed.text}, compiled)


def _refine(problem: Problem, xm, fm, steps: int = 8):
    """Newton-polish a tabulated minimum to machine precision (the tables give ~6 digits)."""
    x = np.array(xm, dtype=np.float64)
    g, H = np.zeros(problem.dim), np.zeros((problem.dim, problem.dim))
    for _ in range(steps):
        problem.value_grad(x, g, problem.P, problem.X, problem.y)
        problem.hessian(x, H, problem.P, problem.X, problem.y)
        try:
            x = x - np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
    if np.linalg.norm(x - np.asarray(xm)) > 1e-3:     # Newton wandered: keep the table's value
        return list(xm), fm
    return x.tolist(), float(problem.loss(x))


def data_problem(p, entry, seed: int) -> Problem:
    """A loss over data rows: regression targets as given, classification labels as -1/+1."""
    started = time.perf_counter()
    kind = "regression" if entry.targets == "values" else "classification"
    data = datasets.load(p.data, kind, seed)
    y = data.y if kind == "regression" else datasets.as_signs(data.y)
    n, k = data.X.shape
    names = (["w"] if k == 1 else [f"w{j + 1}" for j in range(k)]) + (["b"] if p.fit_intercept else [])
    P = np.array([p.l2, 1.0 if p.fit_intercept else 0.0, 1.0 if p.reduction == "sum" else 0.0])
    problem = Problem(p.name, f"{entry.label}, n={n}, d={k}" + (f", l2={p.l2:g}" if p.l2 else ""), len(names),
                      start(p.x0, names, 0.0), *kernels(entry.kernels), P, datasets.aligned(data.X),
                      datasets.aligned(y), names, [], n, meta={**data.meta, "columns": data.columns})
    if entry.minima:
        problem.minima = entry.minima(p, problem)
    problem.meta["build_seconds"] = time.perf_counter() - started
    return problem


def least_squares(p, problem: Problem):
    """The unique minimiser of the (ridge) MSE, when the normal equations are well posed."""
    H = np.zeros((problem.dim, problem.dim))
    problem.hessian(np.zeros(problem.dim), H, problem.P, problem.X, problem.y)
    g0 = problem.gradient(np.zeros(problem.dim))      # the loss is quadratic: grad = H theta + g0
    if np.linalg.cond(H) > 1e12:
        return []
    theta = -np.linalg.solve(H, g0)
    return [(theta.tolist(), problem.loss(theta))]
