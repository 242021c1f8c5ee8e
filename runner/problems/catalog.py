"""The ``problem`` config group: what the optimize (and analyze) task minimises.

``build_problem(validated, seed)`` turns a validated option into a :class:`Problem`: the
objective as numba functions with the protocol of :mod:`kernels.signatures`, its constant
vector ``P``, data ``X, y``, a start ``x0`` and the known minima.  Three families:

* test functions with hand-derived kernels (``kernels.objectives``): quadratic, rosenbrock,
  rastrigin, ackley, styblinski_tang (n-dimensional where the function is defined so);
* fixed two-dimensional test functions and user text (``expr``), compiled by the safe
  expression compiler ``runner.expr.compile`` (SymPy derives gradient and Hessian);
* data losses: linreg (MSE), logreg (logistic), svm (hinge), optional L2, with data from
  ``runner.problems.data``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, List, Optional

import numpy as np

from runner.problems import data as datasets
from runner.errors import ConfigError
from runner.config.validate import non_negative, one_of, positive
from runner.problems.problem import Problem

# ---- schemas ----------------------------------------------------------------------------

def _x0_ok(x0) -> None:
    if x0 is not None and len(x0) == 0:
        raise ConfigError("x0", "must have at least one value")


@dataclass
class QuadraticProblem:
    """f(x) = x'Ax + b'x + c (A need not be symmetric; its symmetric part counts)."""
    name: str = "quadratic"
    A: Any = field(default_factory=lambda: [[1.0]])
    b: Optional[List[float]] = None
    c: float = 0.0
    x0: Optional[List[float]] = None

    def check(self) -> None:
        _x0_ok(self.x0)


@dataclass
class NDFunction:
    """An n-dimensional test function; constants per function (see kernels.objectives)."""
    name: str = "rosenbrock"
    dim: int = 2
    x0: Optional[List[float]] = None

    def check(self) -> None:
        positive("dim", self.dim)
        if self.name == "rosenbrock" and self.dim < 2:
            raise ConfigError("dim", "rosenbrock needs dim >= 2")
        _x0_ok(self.x0)


@dataclass
class RosenbrockProblem(NDFunction):
    name: str = "rosenbrock"
    a: float = 1.0
    b: float = 100.0


@dataclass
class RastriginProblem(NDFunction):
    name: str = "rastrigin"
    A: float = 10.0


@dataclass
class AckleyProblem(NDFunction):
    name: str = "ackley"
    a: float = 20.0
    b: float = 0.2
    c: float = 2.0 * np.pi


@dataclass
class StyblinskiTangProblem(NDFunction):
    name: str = "styblinski_tang"


@dataclass
class Formula2D:
    name: str = "booth"
    x0: Optional[List[float]] = None

    def check(self) -> None:
        _x0_ok(self.x0)


@dataclass
class ExprProblem:
    """User text f over its variables (inferred, or declared in ``variables``)."""
    name: str = "expr"
    f: Any = "x**2 + x*y + y**2"
    variables: Optional[List[str]] = None
    x0: Optional[List[float]] = None

    def check(self) -> None:
        if not isinstance(self.f, (str, list)) or (isinstance(self.f, list) and not self.f):
            raise ConfigError("f", f"must be a formula text (or a list of them), got {self.f!r}")
        _x0_ok(self.x0)


def _tutorial_points() -> datasets.DataConfig:
    """The tutorial's (1, 3), (2, 5), (3, 7): the line y = 2x + 1."""
    return datasets.DataConfig(source="inline", x=[[1.0], [2.0], [3.0]], y=[3.0, 5.0, 7.0])


def _separable_ish() -> datasets.DataConfig:
    """Synthetic classes: 200 rows, 2 features, 5% of the labels flipped."""
    return datasets.DataConfig(source="synthetic", n=200, d=2, noise=0.05)


@dataclass
class DataProblem:
    name: str = "linreg"
    data: datasets.DataConfig = field(default_factory=_tutorial_points)
    l2: float = 0.0
    fit_intercept: bool = True
    reduction: str = "mean"
    x0: Optional[List[float]] = None

    def check(self) -> None:
        non_negative("l2", self.l2)
        one_of("reduction", self.reduction, ("mean", "sum"))
        _x0_ok(self.x0)
        try:
            self.data.check()
        except ConfigError as e:
            raise ConfigError(f"data.{e.key}", e.problem) from None


# Two-dimensional test functions: formula, known global minima (x*, f*), default start.
# Approximate minima are refined by Newton's method on the compiled function when built.
FORMULAS = {
    "beale": ("(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2",
              [((3.0, 0.5), 0.0)], (1.0, 1.0)),
    "booth": ("(x + 2*y - 7)**2 + (2*x + y - 5)**2", [((1.0, 3.0), 0.0)], (0.0, 0.0)),
    "himmelblau": ("(x**2 + y - 11)**2 + (x + y**2 - 7)**2",
                   [((3.0, 2.0), 0.0), ((-2.805118, 3.131312), 0.0), ((-3.779310, -3.283186), 0.0),
                    ((3.584428, -1.848126), 0.0)], (0.0, 0.0)),
    "goldstein_price": ("(1 + (x + y + 1)**2*(19 - 14*x + 3*x**2 - 14*y + 6*x*y + 3*y**2))"
                        "*(30 + (2*x - 3*y)**2*(18 - 32*x + 12*x**2 + 48*y - 36*x*y + 27*y**2))",
                        [((0.0, -1.0), 3.0)], (-0.5, 0.5)),
    "matyas": ("0.26*(x**2 + y**2) - 0.48*x*y", [((0.0, 0.0), 0.0)], (1.0, 1.0)),
}
LABELS = {"rosenbrock": "Rosenbrock", "rastrigin": "Rastrigin", "ackley": "Ackley",
          "styblinski_tang": "Styblinski-Tang", "beale": "Beale", "booth": "Booth",
          "himmelblau": "Himmelblau", "goldstein_price": "Goldstein-Price", "matyas": "Matyas",
          "linreg": "linear regression (MSE)", "logreg": "logistic regression", "svm": "linear SVM (hinge)"}
DEFAULT_X0 = {"rosenbrock": -1.2, "rastrigin": 2.5, "ackley": 2.0, "styblinski_tang": 0.5}



@dataclass
class BealeProblem(Formula2D):
    name: str = "beale"


@dataclass
class BoothProblem(Formula2D):
    name: str = "booth"


@dataclass
class HimmelblauProblem(Formula2D):
    name: str = "himmelblau"


@dataclass
class GoldsteinPriceProblem(Formula2D):
    name: str = "goldstein_price"


@dataclass
class MatyasProblem(Formula2D):
    name: str = "matyas"


@dataclass
class LogregProblem(DataProblem):
    name: str = "logreg"
    data: datasets.DataConfig = field(default_factory=_separable_ish)


@dataclass
class SvmProblem(DataProblem):
    name: str = "svm"
    data: datasets.DataConfig = field(default_factory=_separable_ish)
    l2: float = 0.01


PROBLEM_SCHEMAS = {
    "quadratic": QuadraticProblem, "rosenbrock": RosenbrockProblem, "rastrigin": RastriginProblem,
    "ackley": AckleyProblem, "styblinski_tang": StyblinskiTangProblem,
    "beale": BealeProblem, "booth": BoothProblem, "himmelblau": HimmelblauProblem,
    "goldstein_price": GoldsteinPriceProblem, "matyas": MatyasProblem,
    "expr": ExprProblem, "linreg": DataProblem, "logreg": LogregProblem, "svm": SvmProblem,
}


# ---- building ---------------------------------------------------------------------------

def build_problem(p, seed: int) -> Problem:
    """The Problem for the validated option ``p``; ConfigError (full key) for bad input."""
    from runner.problems import builders as pb  # numba kernels are imported only when building

    if p.name == "quadratic":
        problem = pb.quadratic(p)
    elif p.name in ("rosenbrock", "rastrigin", "ackley", "styblinski_tang"):
        problem = pb.nd_function(p, LABELS[p.name], DEFAULT_X0[p.name])
    elif p.name in FORMULAS:
        text, minima, x0 = FORMULAS[p.name]
        problem = pb.formula(p.name, LABELS[p.name], text, ["x", "y"], p.x0 if p.x0 is not None else x0, minima)
    elif p.name == "expr":
        problem = pb.expression(p)
    else:
        start = time.perf_counter()
        problem = pb.data_problem(p, LABELS[p.name], seed)
        problem.meta["build_seconds"] = time.perf_counter() - start
    return problem
