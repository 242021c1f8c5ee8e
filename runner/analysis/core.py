"""The function under analysis and its derivatives at a point, by every method available.

A :class:`Subject` is f: Rⁿ -> R (or Rᵐ) with whatever ways there are to differentiate it:
an expression (SymPy trees, so symbolic derivatives, plus its autodiff tape, so forward,
reverse, Taylor and complex-step modes) and/or the objective functions of a named or data
problem (``value_grad``/``hessian``, hand-written).  Central differences need only values
and are always available.  :func:`gradient_methods` and friends return one array per
method; :func:`differences` measures each against the reference (symbolic when known).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import sympy as sp
from sympy.printing.str import StrPrinter

from kernels import autodiff as ad
from kernels import autodiff_taylor as at
from runner.expr.tape import Tape, record

EPS = np.finfo(float).eps
EXACT_TOL = 1e-8      # relative agreement expected of symbolic, AD and complex step
FD_TOL = 1e-5         # relative agreement expected of central differences (error O(h²))
SYMBOLIC_DIGITS = 30  # SymPy evaluates its exact derivatives with this many digits
MAX_SYMBOLIC_OPS = 20000  # stop printing higher symbolic derivatives beyond this size


@dataclass
class Subject:
    """f: Rⁿ -> R (``is_vector`` False) or Rᵐ.  ``exprs``/``symbols``/``tape`` are None for a
    named or data problem; ``value_grad``/``hessian`` (+ P, X, y) are None for a vector f."""

    name: str
    label: str
    variables: List[str]
    x0: np.ndarray
    is_vector: bool = False
    exprs: Optional[List[sp.Expr]] = None
    symbols: Optional[List[sp.Symbol]] = None
    tape: Optional[Tape] = None
    value_grad: Optional[Callable] = None
    hessian: Optional[Callable] = None
    P: np.ndarray = field(default_factory=lambda: np.zeros(0))
    X: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    compile_seconds: float = 0.0

    @property
    def dim(self) -> int:
        return len(self.variables)

    @property
    def n_outputs(self) -> int:
        return len(self.exprs) if self.is_vector else 1

    @property
    def symbolic(self) -> bool:
        return self.exprs is not None

    def value(self, x: np.ndarray):
        """f(x): a float, or an (m,) array for a vector f."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        if self.tape is not None:
            values = np.empty(self.tape.ops.size)
            ad.evaluate(*self.tape.arrays, x, values)
            out = values[self.tape.outs]
            return out if self.is_vector else float(out[0])
        return float(self.value_grad(x, np.zeros(self.dim), self.P, self.X, self.y))

    def problem_gradient(self, x: np.ndarray) -> np.ndarray:
        g = np.zeros(self.dim)
        self.value_grad(np.ascontiguousarray(x, dtype=np.float64), g, self.P, self.X, self.y)
        return g

    def problem_hessian(self, x: np.ndarray) -> np.ndarray:
        H = np.zeros((self.dim, self.dim))
        self.hessian(np.ascontiguousarray(x, dtype=np.float64), H, self.P, self.X, self.y)
        return H


def from_expression(parsed, compiled=None, name: str = "expr", label: str = "",
                    x0: Optional[Sequence[float]] = None) -> Subject:
    """A Subject for a parsed expression (``runner.expr.compile.parse_expression``); ``compiled``
    (``runner.expr.compile.compile_expression``) supplies value_grad/hessian for Newton."""
    tape = record(parsed.exprs, parsed.symbols, key=parsed.key)
    subject = Subject(name=name, label=label or str(parsed.text), variables=list(parsed.variables),
                      x0=np.zeros(len(parsed.variables)) if x0 is None else np.asarray(x0, dtype=float),
                      is_vector=parsed.is_vector, exprs=list(parsed.exprs), symbols=list(parsed.symbols),
                      tape=tape)
    if compiled is not None and not parsed.is_vector:
        subject.value_grad, subject.hessian = compiled.value_grad, compiled.hessian_fn
        subject.compile_seconds = compiled.compile_seconds
    return subject


# ---- readable symbolic forms ---------------------------------------------------------------

class _Readable(StrPrinter):
    """SymPy's str form, with the expression compiler's helper functions under user names."""

    NAMES = {"absval": "abs", "sgn": "sign", "max2": "max", "min2": "min"}

    def _print_Function(self, expr):
        name = self.NAMES.get(expr.func.__name__)
        if name is None:
            return super()._print_Function(expr)
        return f"{name}({', '.join(self._print(a) for a in expr.args)})"


def readable(expr, order=None) -> str:
    """One-line form a user can paste back: ``3*x**2``, ``2/x``, ``abs(x)``; ``order="rev-lex"``
    lists a polynomial by ascending degree."""
    return _Readable({"order": order} if order else {}).doprint(expr)


def exact_value(expr, symbols, x) -> float:
    """``expr`` at the float point ``x``, evaluated by SymPy with SYMBOLIC_DIGITS digits
    (nan where it is not a finite real number, e.g. at a pole)."""
    sub = {s: sp.Float(float(v), SYMBOLIC_DIGITS + 10) for s, v in zip(symbols, x)}
    try:
        value = complex(sp.N(expr.xreplace(sub), SYMBOLIC_DIGITS))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return float("nan")
    return value.real if value.imag == 0 else float("nan")


def symbolic_gradient(subject: Subject) -> List[sp.Expr]:
    f = subject.exprs[0]
    return [sp.diff(f, s) for s in subject.symbols]


def symbolic_hessian(subject: Subject, gradient: List[sp.Expr]) -> List[List[sp.Expr]]:
    n = subject.dim
    H = [[None] * n for _ in range(n)]
    for i in range(n):
        for j in range(i, n):
            H[i][j] = H[j][i] = sp.diff(gradient[i], subject.symbols[j])
    return H


def symbolic_jacobian(subject: Subject) -> List[List[sp.Expr]]:
    return [[sp.diff(f, s) for s in subject.symbols] for f in subject.exprs]


def symbolic_derivatives_1d(subject: Subject, order: int) -> List[sp.Expr]:
    """[f, f', ..., f^(order)] by repeated ``diff``; stops early (shorter list) when an
    expression grows beyond MAX_SYMBOLIC_OPS operations."""
    out = [subject.exprs[0]]
    s = subject.symbols[0]
    for _ in range(order):
        if sp.count_ops(out[-1]) > MAX_SYMBOLIC_OPS:
            break
        out.append(sp.diff(out[-1], s))
    return out


def evaluate_matrix(exprs, symbols, x) -> np.ndarray:
    return np.array([[exact_value(e, symbols, x) for e in row] for row in exprs], dtype=float)


# ---- numeric derivatives by method ---------------------------------------------------------

def fd_step(x: np.ndarray, order: int = 1) -> np.ndarray:
    """Central-difference steps h_i = eps^(1/3)·max(1, |x_i|) (first derivatives; error
    O(h²) + O(eps/h) balanced) or eps^(1/4)·max(1, |x_i|) for second derivatives."""
    base = EPS ** (1.0 / 3.0) if order == 1 else EPS ** 0.25
    return base * np.maximum(1.0, np.abs(x))


def central_jacobian(fn: Callable, x: np.ndarray, m: int) -> np.ndarray:
    """(m, n) central differences (f(x + h e_j) - f(x - h e_j)) / 2h of a function to R^m."""
    h = fd_step(x)
    J = np.empty((m, x.size))
    for j in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp[j] += h[j]
        xm[j] -= h[j]
        J[:, j] = (np.atleast_1d(fn(xp)) - np.atleast_1d(fn(xm))) / (xp[j] - xm[j])
    return J


def central_hessian_from_values(fn: Callable, x: np.ndarray) -> np.ndarray:
    """Second differences of values: H_ij ≈ [f(x+hᵢ+hⱼ) - f(x+hᵢ-hⱼ) - f(x-hᵢ+hⱼ) + f(x-hᵢ-hⱼ)]/(4hᵢhⱼ)."""
    h = fd_step(x, order=2)
    n = x.size
    H = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            total = 0.0
            for si, sj, w in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)):
                p = x.copy()
                p[i] += si * h[i]
                p[j] += sj * h[j]
                total += w * fn(p)
            H[i, j] = H[j, i] = total / (4 * h[i] * h[j])
    return H


def jacobian_methods(subject: Subject, x: np.ndarray) -> Dict[str, np.ndarray]:
    """The (m, n) Jacobian (m = 1: the gradient as a row) by every available method."""
    m = subject.n_outputs
    out: Dict[str, np.ndarray] = {}
    if subject.symbolic:
        jac = symbolic_jacobian(subject)
        out["symbolic"] = evaluate_matrix(jac, subject.symbols, x)
    if subject.tape is not None:
        for name, kernel in (("forward", ad.jacobian_forward), ("reverse", ad.jacobian_reverse),
                             ("complex_step", ad.jacobian_complex_step)):
            J = np.empty((m, subject.dim))
            kernel(*subject.tape.arrays, subject.tape.outs, x, J)
            out[name] = J
    if subject.value_grad is not None and not subject.symbolic:
        out["problem"] = subject.problem_gradient(x)[None, :]
    out["central_difference"] = central_jacobian(subject.value, x, m)
    return out


def hessian_methods(subject: Subject, x: np.ndarray, sym_hessian=None) -> Dict[str, np.ndarray]:
    """The (n, n) Hessian of a scalar f by every available method."""
    out: Dict[str, np.ndarray] = {}
    if sym_hessian is not None:
        out["symbolic"] = evaluate_matrix(sym_hessian, subject.symbols, x)
    if subject.tape is not None:
        H = np.empty((subject.dim, subject.dim))
        at.hessian(*subject.tape.arrays, subject.tape.outs[0], x, H)
        out["taylor_mode"] = H
    if subject.hessian is not None and not subject.symbolic:
        out["problem"] = subject.problem_hessian(x)
    if subject.value_grad is not None and not subject.symbolic:   # differences of the gradient
        J = central_jacobian(subject.problem_gradient, x, subject.dim)
        out["central_difference"] = 0.5 * (J + J.T)
    else:
        out["central_difference"] = central_hessian_from_values(subject.value, x)
    return out


def derivatives_1d(subject: Subject, x: float, order: int, sym_derivs=None) -> Dict[str, np.ndarray]:
    """f, f', ..., f^(order) at x (1-D f) by SymPy, Taylor-mode AD, and central differences
    for orders ≤ 2 only (a k-th difference loses about k·16/(k+2) of the 16 digits)."""
    out: Dict[str, np.ndarray] = {}
    p = np.array([float(x)])
    if sym_derivs is not None:
        vals = np.full(order + 1, np.nan)
        for k, e in enumerate(sym_derivs):
            vals[k] = exact_value(e, subject.symbols, p)
        out["symbolic"] = vals
    if subject.tape is not None:
        d = np.empty(order + 1)
        at.derivatives_along(*subject.tape.arrays, subject.tape.outs[0], p, np.ones(1), order, d)
        out["taylor_mode"] = d
    fd = np.empty(min(order, 2) + 1)
    fd[0] = subject.value(p)
    h1, h2 = fd_step(p)[0], fd_step(p, 2)[0]
    if order >= 1:
        fd[1] = (subject.value(p + h1) - subject.value(p - h1)) / (2 * h1)
    if order >= 2:
        fd[2] = (subject.value(p + h2) - 2 * fd[0] + subject.value(p - h2)) / (h2 * h2)
    out["central_difference"] = fd
    return out


def one_sided_gradients(subject: Subject, x: np.ndarray, forward_mode: bool = True):
    """(left, right) partial derivatives of output 0 along each axis.  Forward mode gives the
    exact one-sided directional derivatives of abs/max/min compositions; without a tape (or
    with ``forward_mode=False``), one-sided differences with h = √eps·max(1, |xᵢ|) (error O(h))."""
    n = subject.dim
    left, right = np.empty(n), np.empty(n)
    if subject.tape is not None and forward_mode:
        values, tangents = np.empty(subject.tape.ops.size), np.empty(subject.tape.ops.size)
        out = subject.tape.outs[0]
        for i in range(n):
            v = np.zeros(n)
            v[i] = 1.0
            ad.jvp(*subject.tape.arrays, x, v, values, tangents)
            right[i] = tangents[out]
            ad.jvp(*subject.tape.arrays, x, -v, values, tangents)
            left[i] = -tangents[out] + 0.0
        return left, right
    f0 = subject.value(x)
    h = np.sqrt(EPS) * np.maximum(1.0, np.abs(x))
    for i in range(n):
        xp, xm = x.copy(), x.copy()
        xp[i] += h[i]
        xm[i] -= h[i]
        right[i] = (subject.value(xp) - f0) / h[i]
        left[i] = (f0 - subject.value(xm)) / h[i]
    return left, right


def kink_axes(left: np.ndarray, right: np.ndarray, exact: bool) -> List[int]:
    """Axes where the one-sided derivatives differ (beyond rounding, or beyond the O(h)
    error of one-sided differences when ``exact`` is False)."""
    tol = 1e-10 if exact else 1e-4
    scale = np.maximum(1.0, np.maximum(np.abs(left), np.abs(right)))
    return [int(i) for i in np.nonzero(np.abs(left - right) > tol * scale)[0]]


def differences(methods: Dict[str, np.ndarray]) -> Dict[str, float]:
    """Max |method - reference| for each method over the entries both computed (a method
    may cover fewer orders); the reference is the first entry (symbolic when known, else
    the problem's own derivatives).  Equal infinities count as agreeing; NaN where one
    method is finite and the other is not."""
    names = list(methods)
    ref = np.ravel(np.asarray(methods[names[0]], dtype=float))
    out = {}
    for name in names[1:]:
        val = np.ravel(np.asarray(methods[name], dtype=float))
        k = min(ref.size, val.size)
        r, v = ref[:k], val[:k]
        same = (r == v) | (np.isnan(r) & np.isnan(v))
        diff = np.where(same, 0.0, np.abs(r - v))
        out[name] = float(np.max(diff)) if k else 0.0
    return out


def agree(methods: Dict[str, np.ndarray], diffs: Dict[str, float]) -> bool:
    """Each method within its tolerance of the reference, relative to max(1, |reference|)."""
    ref = np.asarray(next(iter(methods.values())), dtype=float)
    finite = ref[np.isfinite(ref)]
    scale = max(1.0, float(np.max(np.abs(finite))) if finite.size else 1.0)
    for name, diff in diffs.items():
        tol = FD_TOL if name == "central_difference" else EXACT_TOL
        if not diff <= tol * scale:
            return False
    return True


def directional_derivative(gradient: np.ndarray, v: Sequence[float]):
    """(unit vector v/‖v‖, ∇f·v̂): the rate of change of f along v (tutorial, Directional
    Derivatives).  Returns None for a zero v."""
    v = np.asarray(v, dtype=float)
    norm = float(np.linalg.norm(v))
    if norm == 0.0:
        return None
    unit = v / norm
    return unit, float(gradient @ unit)


DEGENERATE = "degenerate (second-derivative test inconclusive)"


def classify(eigenvalues: np.ndarray, zero_tol: Optional[float] = None) -> str:
    """Second-derivative (Hessian) test: minimum if all eigenvalues > 0, maximum if all < 0,
    saddle if both signs occur (whatever else), else DEGENERATE (a singular semidefinite
    Hessian: the test says nothing, e.g. x³ or x⁴ at 0).  'Zero' is |λ| ≤ ``zero_tol``, by default
    1e-8·max(1, max|λ|)."""
    lam = np.asarray(eigenvalues, dtype=float)
    if not np.all(np.isfinite(lam)):
        return DEGENERATE
    if zero_tol is None:
        zero_tol = 1e-8 * max(1.0, float(np.max(np.abs(lam))) if lam.size else 1.0)
    if np.any(lam > zero_tol) and np.any(lam < -zero_tol):
        return "saddle"
    if np.all(lam > zero_tol):
        return "minimum"
    if np.all(lam < -zero_tol):
        return "maximum"
    return DEGENERATE
