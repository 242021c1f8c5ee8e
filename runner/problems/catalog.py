"""The ``problem`` config group: what the optimize (and analyze) task minimises.

Every option is one entry of :data:`PROBLEMS`: its schema (the keys of
``conf/problem/NAME.yaml``, their defaults and checks), its label, default start, known minima
and how it is built.  ``build_problem(validated, seed)`` looks the entry up and returns a
:class:`Problem`: the objective as numba functions with the protocol of
:mod:`kernels.signatures`, its constant vector ``P``, data ``X, y``, a start ``x0`` and the
known minima.  The families (one builder each in ``runner.problems.builders``):

* ``function``: test functions with hand-derived kernels (``kernels.objectives``), n-dimensional
  where the function is defined so;
* ``formula``: fixed two-dimensional test functions given as text, compiled by the safe
  expression compiler ``runner.expr.compile`` (SymPy derives gradient and Hessian);
* ``data_loss``: linreg (MSE), logreg (logistic), svm (hinge), optional L2, with data from
  ``runner.problems.data``;
* ``quadratic`` and ``expr`` (user text), each its own builder.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional

import numpy as np

from runner.problems import builders
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
    """An n-dimensional test function (the schema of one without constants; a function with
    constants subclasses it, see kernels.objectives for each P)."""
    name: str
    dim: int = 2
    x0: Optional[List[float]] = None

    def check(self) -> None:
        positive("dim", self.dim)
        _x0_ok(self.x0)


@dataclass
class RosenbrockProblem(NDFunction):
    name: str = "rosenbrock"
    a: float = 1.0
    b: float = 100.0

    def check(self) -> None:
        positive("dim", self.dim)
        if self.dim < 2:
            raise ConfigError("dim", "rosenbrock needs dim >= 2")
        _x0_ok(self.x0)


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
class Formula2D:
    """A fixed two-dimensional test function: only the start can be chosen."""
    name: str
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


@dataclass
class LogregProblem(DataProblem):
    name: str = "logreg"
    data: datasets.DataConfig = field(default_factory=_separable_ish)


@dataclass
class SvmProblem(DataProblem):
    name: str = "svm"
    data: datasets.DataConfig = field(default_factory=_separable_ish)
    l2: float = 0.01


# ---- the table --------------------------------------------------------------------------

@dataclass(frozen=True)
class NamedProblem:
    """One ``problem=`` option.  ``build(option, entry, seed) -> Problem`` is its family's builder
    (runner.problems.builders); the other fields are what that builder reads:

    formula    formula: the text in x and y (SymPy derives it; nothing is written by hand)
    kernels    function, data_loss: the prefix of its pair in kernels.objectives
               ("rastrigin" -> rastrigin_value_grad, rastrigin_hessian)
    constants  function: option -> the kernel's constant vector P (None: no constants)
    minima     known global minima [(x*, f*)]; formula: approximate ones are Newton-polished when
               built; function, data_loss: a function (option, built problem) -> that list
    x0         the default start: a number for every coordinate, or a vector repeated to dim
    targets    data_loss: "values" (regression) or "signs" (classification, labels as -1/+1)
    """
    schema: type
    build: Callable[[Any, "NamedProblem", int], Problem]
    label: str = ""
    formula: str = ""
    kernels: str = ""
    constants: Optional[Callable[[Any], list]] = None
    minima: Any = ()
    x0: Any = 0.0
    targets: str = ""


def formula(label: str, text: str, minima, x0) -> NamedProblem:
    """A two-dimensional test function given as formula text in x and y."""
    return NamedProblem(Formula2D, builders.formula, label, formula=text, minima=minima, x0=x0)


def function(schema, label: str, kernels: str, minima, x0, constants=None) -> NamedProblem:
    """An n-dimensional test function with hand-derived kernels in kernels.objectives (P = [0]
    when it has no constants)."""
    return NamedProblem(schema, builders.nd_function, label, kernels=kernels, constants=constants,
                        minima=minima, x0=x0)


def data_loss(schema, label: str, kernels: str, targets: str, minima=()) -> NamedProblem:
    """A loss over data rows (runner.problems.data) with kernels in kernels.objectives."""
    return NamedProblem(schema, builders.data_problem, label, kernels=kernels, targets=targets, minima=minima)


STYBLINSKI_TANG_X = -2.903534027771178   # the root of 2x^3 - 16x + 2.5 = 0 at the global minimum


def _origin(p, problem):
    return [([0.0] * problem.dim, 0.0)]


def _rosenbrock_minima(p, problem):
    d = problem.dim
    return [([1.0] * d, 0.0)] if p.a == 1.0 else ([([p.a, p.a * p.a], 0.0)] if d == 2 else [])


def _styblinski_tang_minima(p, problem):
    x, d = STYBLINSKI_TANG_X, problem.dim
    return [([x] * d, d * 0.5 * (x ** 4 - 16 * x ** 2 + 5 * x))]


PROBLEMS = {
    "quadratic": NamedProblem(QuadraticProblem, builders.quadratic),
    "rosenbrock": function(RosenbrockProblem, "Rosenbrock", "rosenbrock", _rosenbrock_minima, x0=[-1.2, 1.0],
                           constants=lambda p: [p.a, p.b]),
    "rastrigin": function(RastriginProblem, "Rastrigin", "rastrigin", _origin, x0=2.5, constants=lambda p: [p.A]),
    "ackley": function(AckleyProblem, "Ackley", "ackley", _origin, x0=2.0, constants=lambda p: [p.a, p.b, p.c]),
    "styblinski_tang": function(NDFunction, "Styblinski-Tang", "styblinski_tang", _styblinski_tang_minima, x0=0.5),
    "beale": formula("Beale", "(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2",
                     [((3.0, 0.5), 0.0)], x0=(1.0, 1.0)),
    "booth": formula("Booth", "(x + 2*y - 7)**2 + (2*x + y - 5)**2", [((1.0, 3.0), 0.0)], x0=(0.0, 0.0)),
    "himmelblau": formula("Himmelblau", "(x**2 + y - 11)**2 + (x + y**2 - 7)**2",
                          [((3.0, 2.0), 0.0), ((-2.805118, 3.131312), 0.0), ((-3.779310, -3.283186), 0.0),
                           ((3.584428, -1.848126), 0.0)], x0=(0.0, 0.0)),
    "goldstein_price": formula("Goldstein-Price",
                               "(1 + (x + y + 1)**2*(19 - 14*x + 3*x**2 - 14*y + 6*x*y + 3*y**2))"
                               "*(30 + (2*x - 3*y)**2*(18 - 32*x + 12*x**2 + 48*y - 36*x*y + 27*y**2))",
                               [((0.0, -1.0), 3.0)], x0=(-0.5, 0.5)),
    "matyas": formula("Matyas", "0.26*(x**2 + y**2) - 0.48*x*y", [((0.0, 0.0), 0.0)], x0=(1.0, 1.0)),
    "six_hump_camel": formula("six-hump camel", "(4 - 2.1*x**2 + x**4/3)*x**2 + x*y + (-4 + 4*y**2)*y**2",
                              [((0.089842, -0.712656), -1.031628), ((-0.089842, 0.712656), -1.031628)],
                              x0=(1.0, -1.0)),
    "expr": NamedProblem(ExprProblem, builders.expression),
    "linreg": data_loss(DataProblem, "linear regression (MSE)", "mse", "values", builders.least_squares),
    "logreg": data_loss(LogregProblem, "logistic regression", "logistic", "signs"),
    "svm": data_loss(SvmProblem, "linear SVM (hinge)", "hinge", "signs"),
}
PROBLEM_SCHEMAS = {name: entry.schema for name, entry in PROBLEMS.items()}


def build_problem(p, seed: int) -> Problem:
    """The Problem for the validated option ``p``; ConfigError (full key) for bad input."""
    entry = PROBLEMS.get(p.name)
    if entry is None:
        raise ConfigError("problem.name", f"unknown problem {p.name!r}; allowed: {', '.join(sorted(PROBLEMS))}")
    return entry.build(p, entry, seed)
