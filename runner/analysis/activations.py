"""Activation functions as analyzable functions, and their value/derivative tables.

Each activation is a fixed formula written here (never user text) in the expression
language of ``runner.expr.compile``, so it goes through the same parser, symbolic derivatives,
numba compiler and autodiff tape as ``problem=expr``:

    sigmoid     σ(x) = 1/(1 + e^-x),  σ' = σ(1 - σ)          (tutorial, Sigmoid Function)
    tanh        tanh x,               tanh' = 1 - tanh²       (tutorial, Tanh)
    relu        max(x, 0),            relu'(x) = 1 if x > 0 else 0   (tutorial, ReLU)
    leaky_relu  max(x, αx), 0 ≤ α < 1: 1 if x > 0 else α      (tutorial, Leaky ReLU)
    softmax     sᵢ = e^xᵢ / Σⱼ e^xʲ on Rⁿ, ∂sᵢ/∂xⱼ = sᵢ(δᵢⱼ - sⱼ)  (tutorial, Softmax Function)

At the kink x = 0 the tables use the tutorial's conventions (relu'(0) = 0, leaky'(0) = α);
the analysis reports the one-sided derivatives as well.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from kernels import autodiff as ad
from runner.analysis.core import Subject, from_expression
from runner.errors import ConfigError

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "softmax")


def formula(name: str, alpha: float, n: int) -> str:
    """The expression text of an activation; softmax has n inputs x1..xn."""
    if name == "sigmoid":
        return "sigmoid(x)"
    if name == "tanh":
        return "tanh(x)"
    if name == "relu":
        return "relu(x)"
    if name == "leaky_relu":   # the tie at 0 goes to the 2nd operand: leaky'(0) = alpha
        return f"max(x, {float(alpha)!r}*x)"
    if name == "softmax":
        xs = [f"x{i + 1}" for i in range(n)]
        total = " + ".join(f"exp({v})" for v in xs)
        return "[" + ", ".join(f"exp({v})/({total})" for v in xs) + "]"
    raise ConfigError("analyze.activation", f"unknown activation {name!r}; allowed: {', '.join(ACTIVATIONS)}")


def build(name: str, alpha: float, n: int, key: str = "analyze.activation") -> Subject:
    """The activation as a Subject (compiled like any expression problem)."""
    from runner.expr.compile import compile_expression, parse_expression

    parsed = parse_expression(formula(name, alpha, n), key=key)
    compiled = compile_expression(parsed)
    label = name if name != "leaky_relu" else f"leaky_relu(alpha={alpha:g})"
    return from_expression(parsed, compiled, name=f"activation:{name}", label=label)


def table(subject: Subject, lo: float, hi: float, n_points: int, rest=None) -> Dict[str, np.ndarray]:
    """Values and derivatives on ``n_points`` evenly spaced inputs in [lo, hi].

    1-D activation: f(x) and f'(x) (reverse mode, the convention at kinks).  Softmax: the
    first input sweeps [lo, hi] with the others fixed at ``rest``; columns s₁ and ∂s₁/∂x₁."""
    xs = np.linspace(lo, hi, n_points)
    values, derivs = np.empty(n_points), np.empty(n_points)
    tape = subject.tape
    node_values, adjoints = np.empty(tape.ops.size), np.empty(tape.ops.size)
    w = np.zeros(tape.n_outputs)
    w[0] = 1.0
    grad = np.empty(subject.dim)
    point = np.zeros(subject.dim) if rest is None else np.array(rest, dtype=float)
    for i, x in enumerate(xs):
        point[0] = x
        ad.vjp(*tape.arrays, tape.outs, point, w, node_values, adjoints, grad)
        values[i] = node_values[tape.outs[0]]
        derivs[i] = grad[0]
    return {"x": xs, "value": values, "derivative": derivs}
