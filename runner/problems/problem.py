"""A problem as the descent loop takes it: a compiled objective and plain arrays.

The objective follows the protocol of :mod:`kernels.signatures` (``value_grad(theta, g, P,
X, y) -> f``, writing the gradient into ``g``); ``P`` holds its constants, ``X, y`` its data
(empty for a formula), ``x0`` the start.  Builders (:mod:`runner.problems.builders`) make
one from a validated option.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List

import numpy as np

EMPTY_X = np.zeros((0, 0))
EMPTY_Y = np.zeros(0)


@dataclass
class Problem:
    name: str
    label: str
    dim: int
    x0: np.ndarray
    value_grad: Any            # numba dispatcher, OBJECTIVE_SIG
    hessian: Any               # numba dispatcher, HESSIAN_SIG, or None
    P: np.ndarray
    X: np.ndarray = field(default_factory=lambda: EMPTY_X)
    y: np.ndarray = field(default_factory=lambda: EMPTY_Y)
    param_names: List[str] = field(default_factory=list)
    minima: list = field(default_factory=list)   # [(x*, f*)] known global minima
    n_data: int = 0
    compile_seconds: float = 0.0
    meta: dict = field(default_factory=dict)
    compiled: Any = None       # runner.expr.compile.CompiledExpression for formula problems
    gd_loop: Any = None        # a loop specialised for full-batch GD at a constant lr, or None
                               # (kernels.descent_fast.GD_LOOP_SIG: gd_quadratic, train_fast.gd_mlp)

    def loss(self, theta) -> float:
        g = np.zeros(self.dim)
        return float(self.value_grad(np.ascontiguousarray(theta, dtype=np.float64), g, self.P, self.X, self.y))

    def gradient(self, theta) -> np.ndarray:
        g = np.zeros(self.dim)
        self.value_grad(np.ascontiguousarray(theta, dtype=np.float64), g, self.P, self.X, self.y)
        return g
