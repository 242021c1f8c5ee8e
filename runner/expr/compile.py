"""The safe expression compiler: user text -> SymPy -> derivatives -> cached numba functions.

One implementation for every task that takes a formula (optimize's ``problem=expr``,
integrate's integrand, analyze's Jacobians, constraints)::

    parsed = parse_expression("x**2 + 3*x*y + y**2")          # ConfigError if refused
    compiled = compile_expression(parsed)
    compiled.value_grad(theta, grad_out, P, X, y)              # kernels.signatures.OBJECTIVE_SIG
    compiled.hessian_fn(theta, H_out, P, X, y)                 # HESSIAN_SIG
    compiled.value(theta)                                      # float64(float64[::1])

For a vector-valued text (``"[x1**2 + x2, x1*x2]"``) the compiled functions are
``vector_value(theta, out)`` and ``jacobian_fn(theta, J_out)`` instead.

Parsing rules (whitelist, variable inference) are in :mod:`runner.expr.parse`; code
generation and the on-disk cache in :mod:`runner.expr.codegen`.  The text is never given to
eval, exec, sympify or parse_expr.  Derivatives are SymPy's ``diff`` with its automatic
evaluation only (no ``simplify``, whose cost is unbounded); one CSE pass shares the work
between value, gradient and Hessian.  Compiled modules live in ``~/.cache/calclab/expr/``
(``$CALCLAB_CACHE_DIR/expr`` if set), named by a hash of the canonical SymPy form, so a second
process imports the module and loads numba's cached machine code instead of compiling.
"""
from __future__ import annotations

import importlib.util
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Dict, List, Optional, Sequence

import sympy

import kernels.signatures  # noqa: F401  (imports numba now, so compile_seconds excludes it)
from runner.expr import codegen as expr_codegen
from runner.errors import ConfigError
from runner.expr.parse import CONSTANTS, FUNCTIONS, ParsedExpression, natural_key, parse_expression

__all__ = ["ParsedExpression", "CompiledExpression", "parse_expression", "compile_expression",
           "compile_text", "FUNCTIONS", "CONSTANTS", "natural_key"]

# Differentiating e by every symbol visits each node n once per symbol n depends on and
# rebuilds its len(n.args) operands: work(e) = sum over nodes of |free(n)| * len(n.args).
# SymPy manages about 1.5e5 of these per second; numba's compile time grows with them too.
MAX_DERIVATIVE_WORK = 400_000
# Budgets on what differentiation produced, checked before any code is generated or compiled:
# the nodes of f, its gradient and Hessian (or Jacobian) as trees (numba's compile time grows
# with them: a product of 40 sines has a 34,000-node Hessian and compiled for minutes), the wall
# time of the symbolic work, and the lines of the generated module.
MAX_DERIVATIVE_NODES = 20_000
MAX_SYMBOLIC_SECONDS = 30.0
MAX_CODE_LINES = 1500
PROGRESS_LINES = 150     # a new module this long takes more than a few seconds to compile: say so

_LOADED: Dict[str, ModuleType] = {}   # digest -> module, so a repeat compile in a process is free
_LOCK = threading.Lock()


@dataclass
class CompiledExpression:
    """Symbolic derivatives and numba dispatchers for one parsed expression.

    Scalar f over d variables: ``gradient`` (list of d SymPy expressions), ``hessian`` (d x d
    SymPy Matrix), dispatchers ``value_grad`` (OBJECTIVE_SIG), ``hessian_fn`` (HESSIAN_SIG),
    ``value`` (float64(float64[::1])).  Vector f with m components: ``jacobian`` (m x d SymPy
    Matrix), dispatchers ``vector_value(theta, out)`` (out: (m,)) and ``jacobian_fn(theta,
    J_out)`` (J_out: (m, d)); the scalar fields are None.  A theta, grad_out, H_out, out or
    J_out of the wrong length makes the functions return NaN / fill NaN instead of reading
    out of bounds.
    """

    parsed: ParsedExpression
    gradient: Optional[List[sympy.Expr]]
    hessian: Optional[sympy.Matrix]
    jacobian: Optional[sympy.Matrix]
    value_grad: object
    hessian_fn: object
    value: object
    vector_value: object
    jacobian_fn: object
    module_path: Path
    compile_seconds: float
    numba_cache_hits: int
    numba_cache_misses: int

    @property
    def n_variables(self) -> int:
        return len(self.parsed.variables)


def compile_text(text, variables: Optional[Sequence[str]] = None, key: str = "problem.f") -> CompiledExpression:
    """``compile_expression(parse_expression(text, variables, key))``."""
    return compile_expression(parse_expression(text, variables, key))


def compile_expression(parsed: ParsedExpression) -> CompiledExpression:
    """Differentiate ``parsed`` symbolically and load (or generate and compile) its numba module.

    ``compile_seconds`` is the wall time spent here on code generation, import and numba
    compilation in this process: near 0 when the module is already loaded or numba's on-disk
    cache is warm.
    """
    start = time.perf_counter()
    symbols = parsed.symbols
    deadline = start + MAX_SYMBOLIC_SECONDS
    if parsed.is_vector:
        gradient = hessian = None
        _check_work(parsed, parsed.exprs, "Jacobian")
        rows = []
        for f in parsed.exprs:
            rows.append([sympy.diff(f, s) for s in symbols])
            _check_budget(parsed, sum(map(_nodes, parsed.exprs)) + sum(_nodes(e) for row in rows for e in row),
                          "Jacobian", deadline)
        jacobian = sympy.Matrix(rows)
        functions = _vector_functions(parsed.exprs, jacobian, len(symbols))
    else:
        f = parsed.exprs[0]
        _check_work(parsed, [f], "gradient")
        _check_budget(parsed, sum(_diff_size(f, s) for s in symbols), "gradient", deadline)
        gradient = [sympy.diff(f, s) for s in symbols]
        sizes = [_nodes(g) for g in gradient]
        _check_budget(parsed, _nodes(f) + sum(sizes), "gradient", deadline)
        _check_work(parsed, gradient, "Hessian")
        estimate = _nodes(f) + sum(sizes)
        for i, g in enumerate(gradient):      # refuse before computing a Hessian that is too large
            estimate += sum(_diff_size(g, s) for s in symbols[i:])
            _check_budget(parsed, estimate, "Hessian", deadline)
        hessian = _hessian(gradient, symbols, lambda: _check_budget(parsed, 0, "Hessian", deadline))
        _check_budget(parsed, _nodes(f) + sum(sizes) + sum(map(_nodes, hessian)), "Hessian", deadline)
        jacobian = None
        functions = _scalar_functions(f, gradient, hessian, len(symbols))
    kind = "vector" if parsed.is_vector else "scalar"
    digest = expr_codegen.source_digest(kind, parsed.variables, parsed.exprs)
    module = _load(digest, functions, len(symbols), parsed)
    fns = {name: getattr(module, name, None) for name in ("value_grad", "hessian", "value", "vector_value", "jacobian")}
    hits = sum(sum(fn.stats.cache_hits.values()) for fn in fns.values() if fn is not None)
    misses = sum(sum(fn.stats.cache_misses.values()) for fn in fns.values() if fn is not None)
    return CompiledExpression(
        parsed=parsed, gradient=gradient, hessian=hessian, jacobian=jacobian,
        value_grad=fns["value_grad"], hessian_fn=fns["hessian"], value=fns["value"],
        vector_value=fns["vector_value"], jacobian_fn=fns["jacobian"],
        module_path=Path(module.__file__), compile_seconds=time.perf_counter() - start,
        numba_cache_hits=hits, numba_cache_misses=misses)


def _check_work(parsed: ParsedExpression, exprs, what: str) -> None:
    """Refuse (ConfigError naming the key) before differentiating ``exprs`` by all their free
    symbols if that would cost more than MAX_DERIVATIVE_WORK (see there)."""
    work = 0
    for e in exprs:
        work += _derivative_work(e, MAX_DERIVATIVE_WORK + 1 - work)
        if work > MAX_DERIVATIVE_WORK:
            raise ConfigError(parsed.key, f"refused: the {what} is too large to derive symbolically "
                              f"(work estimate over {MAX_DERIVATIVE_WORK}); use a smaller expression "
                              f"or fewer variables")


def _derivative_work(expr: sympy.Expr, limit: int) -> int:
    """sum over the nodes n of ``expr`` (as a tree) of |free_symbols(n)| * max(1, len(n.args)),
    stopping once it reaches ``limit``."""
    work = 0
    for node in sympy.preorder_traversal(expr):
        work += len(node.free_symbols) * max(1, len(node.args))
        if work >= limit:
            break
    return work


def _diff_size(expr: sympy.Expr, x: sympy.Symbol) -> int:
    """About the number of nodes of d expr / dx before SymPy computes it: a product of k
    factors that depend on x becomes k products of its size, a function or power f(u) becomes
    f'(u) u', a sum the sum of its terms' derivatives.  Stops counting past MAX_DERIVATIVE_NODES."""
    sizes, depends = {}, {}

    def size(e):
        if e not in sizes:
            sizes[e] = 1 + sum(size(a) for a in e.args)
        return sizes[e]

    def dep(e):
        if e not in depends:
            depends[e] = e == x or any(dep(a) for a in e.args)
        return depends[e]

    def grow(e):
        if not dep(e) or not e.args:
            return 1 if e == x else 0
        inner = 0
        for a in e.args:
            inner += grow(a)
            if inner > MAX_DERIVATIVE_NODES:
                return inner
        if e.is_Add:
            return inner
        k = sum(map(dep, e.args)) if e.is_Mul else 1
        return k * size(e) + inner

    return grow(expr)


def _nodes(expr: sympy.Expr) -> int:
    """Nodes of ``expr`` as a tree (counted up to MAX_DERIVATIVE_NODES + 1)."""
    count = 0
    for _ in sympy.preorder_traversal(expr):
        count += 1
        if count > MAX_DERIVATIVE_NODES:
            break
    return count


def _check_budget(parsed: ParsedExpression, nodes: int, what: str, deadline: float) -> None:
    """Refuse (ConfigError naming the key) derivatives of more than MAX_DERIVATIVE_NODES nodes
    (computed or estimated) and symbolic work past its deadline."""
    if nodes > MAX_DERIVATIVE_NODES:
        raise ConfigError(parsed.key, f"refused: the {what} would have over {MAX_DERIVATIVE_NODES} terms (its "
                          f"code would take minutes to compile); use fewer variables or a smaller expression")
    if time.perf_counter() > deadline:
        raise ConfigError(parsed.key, f"refused: differentiating took more than {MAX_SYMBOLIC_SECONDS:.0f} s "
                          f"(the {what}); use fewer variables or a smaller expression")


def _hessian(gradient: List[sympy.Expr], symbols: List[sympy.Symbol], check=None) -> sympy.Matrix:
    """d x d Hessian; each entry above the diagonal is differentiated once and mirrored.
    ``check()`` runs after each entry (the deadline of :func:`_check_budget`)."""
    d = len(symbols)
    H = sympy.zeros(d, d)
    for i in range(d):
        for j in range(i, d):
            H[i, j] = H[j, i] = sympy.diff(gradient[i], symbols[j])
            if check is not None:
                check()
    return H


def _scalar_functions(f, gradient, hessian, d: int):
    """(name, signature, guard lines, outputs) for value, value_grad and hessian."""
    guard_v = f"    if theta.shape[0] != {d}:\n        return math.nan"
    guard_vg = (f"    if theta.shape[0] != {d} or grad_out.shape[0] != {d}:\n        return math.nan"
                + _zero_fill("grad_out[:]", gradient))
    upper = [(i, j) for i in range(d) for j in range(i, d)]
    guard_h = (f"    if theta.shape[0] != {d} or H_out.shape[0] != {d} or H_out.shape[1] != {d}:\n"
               f"        H_out[:, :] = math.nan\n        return" + _zero_fill("H_out[:, :]", [hessian[i, j] for i, j in upper]))
    hess_outs = [(f"H_out[{i}, {j}]" if i == j else f"H_out[{i}, {j}] = H_out[{j}, {i}]", hessian[i, j])
                 for i, j in upper if not hessian[i, j].is_zero]
    return [
        ("value", "float64(VEC)", guard_v, [("return", f)]),
        ("value_grad", "OBJECTIVE_SIG", guard_vg,
         [(f"grad_out[{i}]", g) for i, g in enumerate(gradient) if not g.is_zero] + [("return", f)]),
        ("hessian", "HESSIAN_SIG", guard_h, hess_outs),
    ]


def _vector_functions(exprs, jacobian, d: int):
    """(name, signature, guard lines, outputs) for vector_value and jacobian."""
    m = len(exprs)
    guard_vv = f"    if theta.shape[0] != {d} or out.shape[0] != {m}:\n        out[:] = math.nan\n        return"
    guard_j = (f"    if theta.shape[0] != {d} or J_out.shape[0] != {m} or J_out.shape[1] != {d}:\n"
               f"        J_out[:, :] = math.nan\n        return" + _zero_fill("J_out[:, :]", list(jacobian)))
    return [
        ("vector_value", "void(VEC, VEC)", guard_vv, [(f"out[{i}]", e) for i, e in enumerate(exprs)]),
        ("jacobian", "void(VEC, MAT)", guard_j,
         [(f"J_out[{i}, {j}]", jacobian[i, j]) for i in range(m) for j in range(d) if not jacobian[i, j].is_zero]),
    ]


def _zero_fill(target: str, entries) -> str:
    """A line zeroing ``target`` when some entries are exactly 0 (they get no statement)."""
    return f"\n    {target} = 0.0" if any(e.is_zero for e in entries) else ""


def _load(digest: str, functions, n_vars: int, parsed: ParsedExpression) -> ModuleType:
    """The generated module for ``digest``: already loaded, or written (if missing) and imported."""
    with _LOCK:
        if digest in _LOADED:
            return _LOADED[digest]
        name = f"calclab_expr_{digest}"
        path = expr_codegen.cache_dir() / f"{name}.py"
        # the user's names become v0..v{n-1}: generated names never collide with parameters
        rename = {s: sympy.Symbol(f"v{i}", real=True) for i, s in enumerate(parsed.symbols)}
        functions = [(fn, sig, guard, [(t, e.xreplace(rename)) for t, e in outs])
                     for fn, sig, guard, outs in functions]
        title = "variables: " + ", ".join(f"v{i}={v}" for i, v in enumerate(parsed.variables))
        if not path.exists():
            source = expr_codegen.module_source(functions, n_vars, title)
            lines = source.count("\n")
            if lines > MAX_CODE_LINES:
                raise ConfigError(parsed.key, f"refused: its compiled code would be {lines} lines (the limit is "
                                  f"{MAX_CODE_LINES}); use fewer variables or a smaller expression")
            if lines > PROGRESS_LINES:     # numba compiles it now (seconds to a minute); cached afterwards
                print(f"calclab: compiling {parsed.key} ({lines} lines of numba code, once: it is cached)...",
                      file=sys.stderr, flush=True)
            expr_codegen.write_module(path, source)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        _LOADED[digest] = module
        return module
