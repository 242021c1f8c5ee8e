"""The non-smooth functions a formula may use, as SymPy functions with the subgradient
convention calclab's derivatives follow (SymPy's own would give deltas or complex values):
abs'(0) = sign(0) = 0, step(0) = 0, and at a tie of max/min the whole derivative goes to the
first argument.  ``kernels.autodiff`` follows the same conventions operation for operation.
"""
from __future__ import annotations

import sympy
from sympy import Function, S


class sigmoid(Function):
    """sigma(t) = 1 / (1 + e^-t); sigma' = sigma (1 - sigma) (tutorial, "Sigmoid Function")."""

    nargs = 1

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    @classmethod
    def eval(cls, t):
        if t.is_zero:
            return S.Half

    def _eval_evalf(self, prec):
        return (1 / (1 + sympy.exp(-self.args[0]))).evalf(prec)


class step(Function):
    """step(t) = 1 if t > 0 else 0 (step(0) = 0): the derivative of relu the tutorial uses."""

    nargs = 1

    def fdiff(self, argindex=1):
        return S.Zero

    @classmethod
    def eval(cls, t):
        if t.is_positive:
            return S.One
        if t.is_nonpositive:
            return S.Zero


class relu(Function):
    """relu(t) = max(0, t); relu'(t) = step(t), i.e. 0 at t = 0 (tutorial, "ReLU")."""

    nargs = 1

    def fdiff(self, argindex=1):
        return step(self.args[0])

    @classmethod
    def eval(cls, t):
        if t.is_nonnegative:
            return t
        if t.is_negative:
            return S.Zero


class max2(Function):
    """max(a, b); at a tie the derivative goes to b (a valid subgradient)."""

    nargs = 2

    def fdiff(self, argindex=1):
        a, b = self.args
        return step(a - b) if argindex == 1 else 1 - step(a - b)

    @classmethod
    def eval(cls, a, b):
        if a.is_number and b.is_number and a.is_comparable and b.is_comparable:
            return a if a >= b else b


class min2(Function):
    """min(a, b); at a tie the derivative goes to b (a valid subgradient)."""

    nargs = 2

    def fdiff(self, argindex=1):
        a, b = self.args
        return step(b - a) if argindex == 1 else 1 - step(b - a)

    @classmethod
    def eval(cls, a, b):
        if a.is_number and b.is_number and a.is_comparable and b.is_comparable:
            return a if a <= b else b


class sgn(Function):
    """sgn(t) = 1, 0, -1 for t > 0, t = 0, t < 0; its derivative is taken as 0 (no Dirac delta)."""

    nargs = 1

    def fdiff(self, argindex=1):
        return S.Zero

    @classmethod
    def eval(cls, t):
        if t.is_positive:
            return S.One
        if t.is_negative:
            return S.NegativeOne
        if t.is_zero:
            return S.Zero


class absval(Function):
    """|t| with derivative sgn(t): 0 at t = 0 (the subgradient the tutorial's ReLU convention
    suggests).  Used instead of SymPy's Abs, whose derivative of a non-symbol argument brings
    in re/im/atan2 terms and Dirac deltas."""

    nargs = 1

    def fdiff(self, argindex=1):
        return sgn(self.args[0])

    @classmethod
    def eval(cls, t):
        if t.is_nonnegative:
            return t
        if t.is_nonpositive:
            return -t

    def _eval_is_extended_nonnegative(self):
        return True if self.args[0].is_extended_real else None


def own_nonsmooth(expr: sympy.Expr) -> sympy.Expr:
    """Replace SymPy's Abs/sign (made by automatic evaluation, e.g. sqrt(x**2) -> Abs(x)) by
    :class:`absval`/:class:`sgn`, whose derivatives stay real and delta-free."""
    if expr.has(sympy.Abs, sympy.sign):
        expr = expr.replace(sympy.Abs, absval).replace(sympy.sign, sgn)
    return expr
