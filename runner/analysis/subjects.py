"""The problem group as a Subject for analysis, and points given in the config.

``problem=expr`` is parsed here again from the config text (with ``runner.expr.compile``, which never
evaluates it) because analysis also accepts what optimisation cannot: a vector-valued f.
Every other problem (named functions, data losses) is built by ``runner.problems.catalog`` and
analysed through its ``value_grad``/``hessian``; when such a problem carries its parsed
expression, the symbolic and autodiff methods are used too.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from omegaconf import OmegaConf

from runner.analysis.core import Subject, from_expression
from runner.errors import ConfigError
from runner.problems.catalog import PROBLEM_SCHEMAS, build_problem

__all__ = ["PROBLEM_SCHEMAS", "problem_subject", "point_vector", "expression_subject"]


def expression_subject(text: Any, variables=None, key: str = "problem.f", x0=None) -> Subject:
    from runner.expr.compile import compile_expression, parse_expression

    parsed = parse_expression(_plain(text), variables=_plain(variables) or None, key=key)
    compiled = compile_expression(parsed)
    subject = from_expression(parsed, compiled, name="expr", label=parsed.text)
    if x0 is not None:
        subject.x0 = point_vector(x0, subject, key.rsplit(".", 1)[0] + ".x0")
    return subject


def problem_subject(node, validated, seed: int) -> Subject:
    """The Subject for the composed ``problem`` node (validated object ``validated``)."""
    if validated.name == "expr":
        x0 = getattr(validated, "x0", None)
        return expression_subject(node.f, getattr(validated, "variables", None), "problem.f", x0)
    problem = build_problem(validated, seed)
    compiled = getattr(problem, "compiled", None) or getattr(problem, "expression", None)
    if compiled is not None and getattr(compiled, "parsed", None) is not None:
        subject = from_expression(compiled.parsed, compiled, name=problem.name, label=problem.label,
                                  x0=problem.x0)
    else:
        subject = Subject(name=problem.name, label=problem.label, variables=list(problem.param_names),
                          x0=np.asarray(problem.x0, dtype=float))
    subject.value_grad, subject.hessian = problem.value_grad, problem.hessian
    subject.P, subject.X, subject.y = problem.P, problem.X, problem.y
    subject.compile_seconds = float(getattr(problem, "compile_seconds", 0.0) or 0.0)
    return subject


def _plain(value):
    if OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    return value


def point_vector(value: Any, subject: Subject, key: str) -> np.ndarray:
    """A point or direction from the config as a float array with one entry per variable;
    a bare number is accepted for a 1-D function.  ConfigError names the key otherwise."""
    value = _plain(value)
    items: Sequence = value if isinstance(value, (list, tuple)) else [value]
    try:
        if any(isinstance(v, (bool, list, tuple, dict, str)) or v is None for v in items):
            raise TypeError
        arr = np.asarray([float(v) for v in items], dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(key, f"must be a number or a list of numbers, got {value!r}") from None
    n = subject.dim
    if arr.size != n:
        names = ", ".join(subject.variables)
        raise ConfigError(key, f"has {arr.size} value{'s' if arr.size != 1 else ''} but f has "
                               f"{n} variable{'s' if n != 1 else ''} ({names})")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(key, f"must be finite, got {value!r}")
    return arr


def box_for(knobs_box, a: np.ndarray, key: str, half_width: float = 3.0):
    """(lo, hi) arrays from [lo, hi] (every axis) or [[lo, hi], ...]; default a ± half_width."""
    n = a.size
    if knobs_box is None:
        return a - half_width, a + half_width
    box = list(knobs_box)
    try:
        if len(box) == 2 and all(isinstance(b, (int, float)) for b in box):
            lo, hi = np.full(n, float(box[0])), np.full(n, float(box[1]))
        else:
            pairs = np.asarray([[float(p[0]), float(p[1])] for p in box])
            if pairs.shape != (n, 2):
                raise ConfigError(key, f"needs [lo, hi] or {n} pairs [[lo, hi], ...], got {len(box)}")
            lo, hi = pairs[:, 0], pairs[:, 1]
    except (TypeError, ValueError, IndexError):
        raise ConfigError(key, f"must be [lo, hi] or [[lo, hi], ...] of numbers, got {knobs_box}") from None
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(lo < hi)):
        raise ConfigError(key, f"needs finite lo < hi on every axis, got {knobs_box}")
    return lo, hi


def an_point(a) -> str:
    return "(" + ", ".join(f"{x:g}" for x in np.atleast_1d(a)) + ")"
