"""SymPy expression trees -> the flat graph that ``kernels.autodiff`` differentiates.

:func:`record` walks the (already parsed, never eval'd) SymPy trees once, in post-order,
and appends one node per operation to four parallel arrays (op code, operand indices,
constant).  Identical sub-expressions become one node (SymPy trees are hashable), so the
graph is a DAG and reverse mode visits each shared value once.  n-ary sums and products
become chains of binary nodes; x - y and x / y are recovered from SymPy's canonical
x + (-1)·y and x·y⁻¹ so the tape reads like the formula.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np
import sympy as sp

from kernels import autodiff as ad
from runner.errors import ConfigError

# Functions by class name: SymPy's own and the ones runner.expr.parse defines with the
# project's subgradient conventions (relu'(0) = 0, |t|' = sgn(t), a max/min tie goes to b).
_UNARY = {
    "exp": ad.EXP, "log": ad.LOG, "sin": ad.SIN, "cos": ad.COS, "tan": ad.TAN, "tanh": ad.TANH,
    "sinh": ad.SINH, "cosh": ad.COSH, "asin": ad.ASIN, "acos": ad.ACOS, "atan": ad.ATAN,
    "Abs": ad.ABS, "absval": ad.ABS, "sign": ad.SIGN, "sgn": ad.SIGN, "step": ad.STEP,
    "sigmoid": ad.SIGMOID,
}
_NARY = {"max2": ad.MAX, "min2": ad.MIN, "Max": ad.MAX, "Min": ad.MIN}

OP_NAMES = {
    ad.CONST: "const", ad.VAR: "var", ad.ADD: "add", ad.SUB: "sub", ad.MUL: "mul", ad.DIV: "div",
    ad.NEG: "neg", ad.POWI: "powi", ad.POWR: "powr", ad.POW: "pow", ad.EXP: "exp", ad.LOG: "log",
    ad.SIN: "sin", ad.COS: "cos", ad.TAN: "tan", ad.TANH: "tanh", ad.SQRT: "sqrt", ad.ABS: "abs",
    ad.MAX: "max", ad.MIN: "min", ad.SINH: "sinh", ad.COSH: "cosh", ad.ASIN: "asin",
    ad.ACOS: "acos", ad.ATAN: "atan", ad.STEP: "step", ad.SIGN: "sign", ad.SIGMOID: "sigmoid",
}


@dataclass
class Tape:
    """The flat graph of f: R^n -> R^m.  ``outs[k]`` is the node holding output k."""

    ops: np.ndarray      # int64 (N,)
    arg_a: np.ndarray    # int64 (N,)
    arg_b: np.ndarray    # int64 (N,)
    const: np.ndarray    # float64 (N,)
    outs: np.ndarray     # int64 (m,)
    variables: Tuple[str, ...]

    @property
    def n_inputs(self) -> int:
        return len(self.variables)

    @property
    def n_outputs(self) -> int:
        return int(self.outs.size)

    @property
    def arrays(self) -> tuple:
        """(ops, arg_a, arg_b, const): the first four arguments of every autodiff kernel."""
        return self.ops, self.arg_a, self.arg_b, self.const

    def listing(self) -> List[str]:
        """One readable line per node, e.g. ``v3 = mul(v1, v2)``: the recorded tape."""
        lines = []
        for i, op in enumerate(self.ops):
            if op == ad.CONST:
                lines.append(f"v{i} = {self.const[i]:g}")
            elif op == ad.VAR:
                lines.append(f"v{i} = {self.variables[self.arg_a[i]]}")
            else:
                args = [f"v{self.arg_a[i]}"] + ([f"v{self.arg_b[i]}"] if self.arg_b[i] >= 0 else [])
                if op in (ad.POWI, ad.POWR):
                    args.append(f"{self.const[i]:g}")
                lines.append(f"v{i} = {OP_NAMES[int(op)]}({', '.join(args)})")
        return lines


class _Recorder:
    def __init__(self, symbols: Sequence[sp.Symbol], key: str):
        self.index = {s: i for i, s in enumerate(symbols)}
        self.key = key
        self.nodes: List[Tuple[int, int, int, float]] = []
        self.by_node: Dict[tuple, int] = {}     # (op, a, b, const) -> node: shares rebuilt nodes
        self.seen: Dict[sp.Basic, int] = {}     # sub-expression -> node

    def add(self, op: int, a: int = -1, b: int = -1, c: float = 0.0) -> int:
        sig = (op, a, b, c)
        if sig not in self.by_node:
            self.nodes.append(sig)
            self.by_node[sig] = len(self.nodes) - 1
        return self.by_node[sig]

    def node(self, e) -> int:
        if e in self.seen:
            return self.seen[e]
        i = self._build(e)
        self.seen[e] = i
        return i

    def _build(self, e) -> int:
        if e.is_Symbol:
            if e not in self.index:
                raise ConfigError(self.key, f"unknown variable {e} (variables: {', '.join(map(str, self.index))})")
            return self.add(ad.VAR, self.index[e])
        if e.is_Number or e.is_NumberSymbol:
            value = complex(e)
            if value.imag != 0 or not np.isfinite(value.real):
                raise ConfigError(self.key, f"constant {e} is not a finite real number")
            return self.add(ad.CONST, c=float(value.real))
        if e.is_Add:
            return self._sum(e.args)
        if e.is_Mul:
            return self._product(e.args)
        if e.is_Pow:
            return self._power(e.base, e.exp)
        name = e.func.__name__
        if name == "relu":                # relu(u) = max(u, 0): the tie gives relu'(0) = 0
            return self.add(ad.MAX, self.node(e.args[0]), self.add(ad.CONST, c=0.0))
        if name in _UNARY and len(e.args) == 1:
            return self.add(_UNARY[name], self.node(e.args[0]))
        if name in _NARY:
            return self._chain(list(e.args), _NARY[name])
        raise ConfigError(self.key, f"the autodiff tape has no rule for {e.func.__name__}() (in {e})")

    def _sum(self, terms) -> int:
        pos = [t for t in terms if not _is_negated(t)]
        neg = [-t for t in terms if _is_negated(t)]
        acc = self.node(pos[0]) if pos else self.add(ad.NEG, self.node(neg.pop(0)))
        for t in pos[1:]:
            acc = self.add(ad.ADD, acc, self.node(t))
        for t in neg:
            acc = self.add(ad.SUB, acc, self.node(t))
        return acc

    def _product(self, factors) -> int:
        coeff = sp.Integer(1)
        num, den = [], []
        for f in factors:
            if f.is_Number:
                coeff *= f
            elif f.is_Pow and f.exp.is_Number and f.exp.is_negative:
                den.append(f.base ** (-f.exp))
            else:
                num.append(f)
        negate = coeff.is_negative
        coeff = abs(coeff)
        if coeff.is_Rational and coeff.q != 1:   # x·(1/3) as x/3: exact when x is a multiple of 3
            den.append(sp.Integer(coeff.q))
            coeff = sp.Integer(coeff.p)
        if coeff != 1:
            num.insert(0, coeff)
        acc = self._chain(num, ad.MUL) if num else self.add(ad.CONST, c=1.0)
        if den:
            acc = self.add(ad.DIV, acc, self._chain(den, ad.MUL))
        return self.add(ad.NEG, acc) if negate else acc

    def _chain(self, items, op) -> int:
        acc = self.node(items[0])
        for it in items[1:]:
            acc = self.add(op, acc, self.node(it))
        return acc

    def _power(self, base, exp) -> int:
        if base == sp.E:
            return self.add(ad.EXP, self.node(exp))
        if exp.is_Number:
            if exp == sp.Rational(1, 2):
                return self.add(ad.SQRT, self.node(base))
            if exp.is_Integer or float(exp).is_integer():
                return self.add(ad.POWI, self.node(base), c=float(exp))
            return self.add(ad.POWR, self.node(base), c=float(exp))
        return self.add(ad.POW, self.node(base), self.node(exp))


def _is_negated(term) -> bool:
    return term.is_Mul and term.args[0].is_Number and term.args[0].is_negative


def _number(value) -> sp.Expr:
    """A Python number as an exact SymPy number (never through sympify)."""
    return sp.Integer(value) if isinstance(value, int) else sp.Float(value)


def record(exprs: Sequence[sp.Expr], symbols: Sequence[sp.Symbol], key: str = "problem.f") -> Tape:
    """The tape of the outputs ``exprs`` (one per output) in the inputs ``symbols``.

    Raises ConfigError (naming ``key``) for a function the tape has no rule for."""
    rec = _Recorder(list(symbols), key)
    outs = [rec.node(_number(e) if isinstance(e, (int, float)) else e) for e in exprs]
    ops, a, b, c = (zip(*rec.nodes) if rec.nodes else ((), (), (), ()))
    return Tape(np.asarray(ops, dtype=np.int64), np.asarray(a, dtype=np.int64),
                np.asarray(b, dtype=np.int64), np.asarray(c, dtype=np.float64),
                np.asarray(outs, dtype=np.int64), tuple(str(s) for s in symbols))
