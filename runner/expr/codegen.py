"""Python source for numba from validated SymPy trees, written as a real module file so numba's
on-disk cache works across processes.

The generated text comes only from SymPy trees built by :mod:`runner.expr.parse` (never from
the user's text): variables are renamed ``v0, v1, ...`` (theta[i]), common subexpressions
``t0, t1, ...``, numbers are printed as float64 literals, and the only functions called are
``math.*`` and the small NaN-propagating helpers defined in the generated file itself.
Every function is ``@njit(<explicit signature>, cache=True, error_model="numpy")``: with the
numpy error model a division by zero gives inf/NaN instead of raising, so non-finite values
propagate to the caller (the descent loop detects divergence).
"""
from __future__ import annotations

import hashlib
import math
import os
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import sympy
from sympy import S
from sympy.printing.precedence import precedence
from sympy.printing.pycode import PythonCodePrinter

CODEGEN_VERSION = "1"
_HERE = Path(__file__).resolve().parent

# Helpers the generated code may call; each propagates NaN (a comparison with NaN is false).
_HELPERS = {
    "_sigmoid": '''def _sigmoid(t):
    if t >= 0.0:
        return 1.0 / (1.0 + math.exp(-t))
    z = math.exp(t)  # t < 0 or NaN: no overflow for very negative t
    return z / (1.0 + z)''',
    "_relu": '''def _relu(t):
    if t <= 0.0:
        return 0.0
    return t''',
    "_step": '''def _step(t):
    if t > 0.0:
        return 1.0
    if t <= 0.0:
        return 0.0
    return t''',
    "_sgn": '''def _sgn(t):
    if t > 0.0:
        return 1.0
    if t < 0.0:
        return -1.0
    return t * 0.0''',
    "_max2": '''def _max2(a, b):
    if a > b:
        return a
    if a <= b:
        return b
    return a + b''',
    "_min2": '''def _min2(a, b):
    if a < b:
        return a
    if a >= b:
        return b
    return a + b''',
}
_HELPER_SIG = {"_max2": "float64(float64, float64)", "_min2": "float64(float64, float64)"}
_CALLS = {"sigmoid": "_sigmoid", "relu": "_relu", "step": "_step", "sgn": "_sgn",
          "max2": "_max2", "min2": "_min2", "absval": "math.fabs"}


class NumbaPrinter(PythonCodePrinter):
    """Prints float64 arithmetic numba compiles: float literals (no big ints), integer powers
    as ``b**n`` or ``1.0/b**n`` (numba raises on a negative integer power of 0.0)."""

    def __init__(self):
        super().__init__({"fully_qualified_modules": True, "strict": True})
        self.helpers_used = set()

    def _number(self, value: float) -> str:
        if math.isfinite(value):
            return repr(value)
        return "math.nan" if value != value else ("math.inf" if value > 0 else "(-math.inf)")

    def _print_Integer(self, expr):
        return self._number(float(int(expr)))

    def _print_Rational(self, expr):
        return self._number(float(Fraction(int(expr.p), int(expr.q))))

    def _print_Float(self, expr):
        return self._number(float(expr))

    _print_Zero = _print_One = _print_NegativeOne = _print_Integer
    _print_Half = _print_Rational

    def _print_Pow(self, expr, rational=False):
        base, power = expr.base, expr.exp
        b = self.parenthesize(base, precedence(expr), strict=False)
        if power == S.Half:
            return f"math.sqrt({self._print(base)})"
        if power == -S.Half:
            return f"(1.0/math.sqrt({self._print(base)}))"
        if power.is_Integer and power < 0:
            return f"(1.0/{b}**{-int(power)})" if power != -1 else f"(1.0/{b})"
        if power.is_Integer:
            return f"{b}**{int(power)}"
        return f"{b}**{self.parenthesize(power, precedence(expr), strict=False)}"

    def _print_Function(self, expr):
        name = type(expr).__name__
        if name not in _CALLS:
            return super()._print_Function(expr)
        target = _CALLS[name]
        if target in _HELPERS:
            self.helpers_used.add(target)
        return f"{target}({', '.join(self._print(a) for a in expr.args)})"

    def _print_sigmoid(self, expr):
        return self._print_Function(expr)

    _print_relu = _print_step = _print_sgn = _print_max2 = _print_min2 = _print_absval = _print_sigmoid


def source_digest(kind: str, variables: Sequence[str], exprs: Sequence[sympy.Expr]) -> str:
    """Hash of everything the generated module depends on: the canonical SymPy form, the
    variables, and the code of this generator and of the parser's function definitions."""
    h = hashlib.sha256()
    for part in (CODEGEN_VERSION, kind, ",".join(variables), *(sympy.srepr(e) for e in exprs)):
        h.update(part.encode())
        h.update(b"\0")
    for name in ("codegen.py", "parse.py"):
        h.update((_HERE / name).read_bytes())
    return h.hexdigest()[:24]


def cache_dir() -> Path:
    """``$CALCLAB_CACHE_DIR/expr`` if set, else ``$XDG_CACHE_HOME/calclab/expr`` (default
    ``~/.cache/calclab/expr``); a per-user temp directory if that cannot be created."""
    root = os.environ.get("CALCLAB_CACHE_DIR")
    if root:
        path = Path(root).expanduser() / "expr"
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(xdg).expanduser() / "calclab" / "expr"
    try:
        path.mkdir(parents=True, exist_ok=True)
        return path
    except OSError:
        fallback = Path(tempfile.gettempdir()) / f"calclab-{os.getuid() if hasattr(os, 'getuid') else 'user'}" / "expr"
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback


def write_module(path: Path, source: str) -> None:
    """Write ``source`` to ``path`` atomically; an identical existing file is left untouched
    (rewriting it would change its timestamp and invalidate numba's cache index)."""
    try:
        if path.read_text() == source:
            return
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(source)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ---- building the module text -------------------------------------------------------------

Output = Tuple[str, sympy.Expr]   # (target such as "grad_out[0]" or "return", expression)


def module_source(functions: List[Tuple[str, str, str, List[Output]]], n_vars: int, title: str) -> str:
    """Source of the generated module.

    ``functions`` is a list of (name, signature expression, guard, outputs) where outputs are
    expressions over Symbols ``v0..v{n-1}``.  One CSE pass over all outputs of all functions
    is shared; each function keeps only the temporaries its outputs need.
    """
    all_exprs = [e for _, _, _, outs in functions for _, e in outs]
    temps, reduced = sympy.cse(all_exprs, symbols=sympy.numbered_symbols("t"), order="none")
    printer = NumbaPrinter()
    bodies, k = [], 0
    for name, sig, guard, outs in functions:
        mine = reduced[k:k + len(outs)]
        k += len(outs)
        bodies.append(_function_source(printer, name, sig, guard, n_vars, temps,
                                       [(t, e) for (t, _), e in zip(outs, mine)]))
    helpers = [f"@njit({_HELPER_SIG.get(h, 'float64(float64)')}, cache=True, error_model=\"numpy\")\n{_HELPERS[h]}"
               for h in sorted(printer.helpers_used)]
    head = [f"# Generated by calclab runner/expr/codegen.py (codegen version {CODEGEN_VERSION}). Do not edit.",
            f"# {title}",
            "import math",
            "",
            "from numba import njit",
            "from numba.types import float64, void",
            "",
            "from kernels.signatures import HESSIAN_SIG, MAT, OBJECTIVE_SIG, VEC",
            ""]
    return "\n".join(head) + "\n\n" + "\n\n\n".join(helpers + bodies) + "\n"


def _function_source(printer, name, sig, guard, n_vars, temps, outs) -> str:
    params = {"value": "theta", "value_grad": "theta, grad_out, P, X, y", "hessian": "theta, H_out, P, X, y",
              "vector_value": "theta, out", "jacobian": "theta, J_out"}[name]
    lines = [f"@njit({sig}, cache=True, error_model=\"numpy\")", f"def {name}({params}):", guard]
    lines += [f"    v{i} = theta[{i}]" for i in range(n_vars)]
    for sym, expr in _needed(temps, [e for _, e in outs]):
        lines.append(f"    {sym} = {printer.doprint(expr)}")
    ret = None
    for target, expr in outs:
        if target == "return":
            ret = printer.doprint(expr)
        else:
            lines.append(f"    {target} = {printer.doprint(expr)}")
    if ret is not None:
        lines.append(f"    return {ret}")
    return "\n".join(lines)


def _needed(temps, exprs) -> List[Tuple[sympy.Symbol, sympy.Expr]]:
    """The CSE temporaries (in order) that ``exprs`` depend on, directly or through others."""
    need = set()
    for e in exprs:
        need |= e.free_symbols
    keep = []
    for sym, expr in reversed(temps):
        if sym in need:
            keep.append((sym, expr))
            need |= expr.free_symbols
    return keep[::-1]
