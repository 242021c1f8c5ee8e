"""Safe parsing of user expressions into SymPy trees (never eval/exec/sympify/parse_expr).

The text is parsed by ``ast.parse(text, mode="eval")`` and the tree is walked against a
whitelist: int/float literals, names (declared or inferred variables, the constants ``pi``
and ``e``), ``+ - * / **``, unary ``+ -``, calls of the functions in :data:`FUNCTIONS` with
positional arguments, and at the top level only, a list or tuple of such expressions (a
vector-valued function).  Anything else is refused with a :class:`ConfigError` naming the key,
the refused construct and its column.  SymPy objects are built directly from the tree.

Variables, when not declared by the caller, are the free names in natural order: names are
compared by their letters alphabetically and by their numeric suffixes numerically, so
``x, y, z``, ``x1, x2, ..., x10`` and ``w1, w2, x`` come out as written here.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import sympy
from sympy import S

from runner.errors import ConfigError
from runner.expr.functions import absval, max2, min2, own_nonsmooth, relu, sigmoid

MAX_TEXT_CHARS = 2000
MAX_NODES = 2000
MAX_DEPTH = 100
MAX_POWER = 64            # |p| of a constant exponent
MAX_MAGNITUDE = 1e308     # numeric literals and constants must stay within float64
MAX_VARIABLES = 100
MAX_NONSMOOTH_NESTING = 12  # max/min/abs/relu inside each other: each level adds a branch to every derivative
NONSMOOTH = ("max", "min", "abs", "relu")
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


# name -> (arity, builder)
FUNCTIONS: Dict[str, Tuple[int, Callable]] = {
    "exp": (1, sympy.exp), "log": (1, sympy.log), "sqrt": (1, sympy.sqrt), "abs": (1, absval),
    "sin": (1, sympy.sin), "cos": (1, sympy.cos), "tan": (1, sympy.tan),
    "sinh": (1, sympy.sinh), "cosh": (1, sympy.cosh), "tanh": (1, sympy.tanh),
    "sigmoid": (1, sigmoid), "relu": (1, relu), "max": (2, max2), "min": (2, min2),
}
CONSTANTS = {"pi": S.Pi, "e": S.Exp1}

_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)
_OPERATOR_TEXT = {
    ast.BitXor: "'^' (use ** for powers)", ast.FloorDiv: "operator '//'", ast.Mod: "operator '%'",
    ast.MatMult: "operator '@'", ast.BitAnd: "operator '&'", ast.BitOr: "operator '|'",
    ast.LShift: "operator '<<'", ast.RShift: "operator '>>'", ast.Not: "operator 'not'",
    ast.Invert: "operator '~'",
}
_NODE_TEXT = {
    ast.Attribute: "attribute access", ast.Subscript: "subscript", ast.Lambda: "lambda",
    ast.ListComp: "comprehension", ast.SetComp: "comprehension", ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension", ast.Compare: "comparison", ast.IfExp: "conditional expression",
    ast.BoolOp: "boolean operator", ast.NamedExpr: "walrus ':='", ast.Starred: "starred argument",
    ast.JoinedStr: "f-string", ast.FormattedValue: "f-string", ast.Dict: "dict", ast.Set: "set",
    ast.Slice: "slice", ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
}


@dataclass
class ParsedExpression:
    """A validated expression: ``exprs`` (one SymPy tree per component; one for a scalar f)
    over real ``symbols`` named ``variables`` (theta[i] is ``variables[i]``)."""

    text: str
    exprs: List[sympy.Expr]
    variables: List[str]
    symbols: List[sympy.Symbol]
    is_vector: bool
    key: str = "problem.f"
    component_texts: List[str] = field(default_factory=list)

    def component(self, i: int) -> "ParsedExpression":
        """Component ``i`` of a vector-valued expression as a scalar expression over the same
        variables (e.g. one constraint g_i, to get its gradient and Hessian)."""
        text = self.component_texts[i] if self.component_texts else str(self.exprs[i])
        return ParsedExpression(text, [self.exprs[i]], list(self.variables), list(self.symbols),
                                False, f"{self.key}[{i}]", [])


def parse_expression(text, variables: Optional[Sequence[str]] = None, key: str = "problem.f") -> ParsedExpression:
    """Parse ``text`` (a str; a list/tuple of str is a vector-valued expression, as Hydra gives
    for ``constraint.g=[x + y - 10]``) into a :class:`ParsedExpression`.

    ``variables`` declares the variables in order (they shadow ``pi``/``e``); without it they
    are inferred as the free names in natural order (x alone for a constant).  Raises ConfigError(key, ...) for any
    refused input, before anything expensive is built.
    """
    if variables is not None:
        variables = _check_declared(list(variables), key)
    if isinstance(text, bool) or text is None:
        raise ConfigError(key, f"expected an expression (text), got {text!r}")
    if isinstance(text, (int, float)):
        text = repr(text)
    if isinstance(text, str):
        trees, sources, pieces, is_vector = _parse_text(text, key)
        keys = [key] * len(trees)
    elif isinstance(text, Sequence) or _is_list_config(text):
        pieces = list(text)
        if not pieces:
            raise ConfigError(key, "empty list of expressions")
        trees, keys, sources = [], [], []
        for i, piece in enumerate(pieces):
            if isinstance(piece, bool) or not isinstance(piece, (str, int, float)):
                raise ConfigError(f"{key}[{i}]", f"expected an expression (text), got {piece!r}")
            piece = piece if isinstance(piece, str) else repr(piece)
            sub, sub_sources, _, sub_vector = _parse_text(piece, f"{key}[{i}]")
            if sub_vector:
                raise ConfigError(f"{key}[{i}]", "refused 'nested list' (a component must be a scalar expression)")
            trees += sub
            sources += sub_sources
            keys.append(f"{key}[{i}]")
        pieces = [p if isinstance(p, str) else repr(p) for p in pieces]
        text, is_vector = "[" + ", ".join(pieces) + "]", True
    else:
        raise ConfigError(key, f"expected an expression (text), got {type(text).__name__}")
    names = _free_names(trees, variables)
    if variables is None:
        variables = sorted(names, key=natural_key) or ["x"]   # a constant (d/dx 7 = 0) is a function of x
        if len(variables) > MAX_VARIABLES:
            raise ConfigError(key, f"refused: {len(variables)} variables; the limit is {MAX_VARIABLES}")
    symbols = [sympy.Symbol(v, real=True) for v in variables]
    builder = _Builder(dict(zip(variables, symbols)))
    exprs = [builder.build(tree, src, k) for tree, src, k in zip(trees, sources, keys)]
    return ParsedExpression(text, exprs, list(variables), symbols, is_vector, key, list(pieces))


def natural_key(name: str):
    """Sort key: letters alphabetically, digit runs numerically (x2 < x10)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _is_list_config(obj) -> bool:
    return type(obj).__name__ == "ListConfig"


def _check_declared(variables: List[str], key: str) -> List[str]:
    if len(variables) > MAX_VARIABLES:
        raise ConfigError(key, f"refused: {len(variables)} variables; the limit is {MAX_VARIABLES}")
    for name in variables:
        if not isinstance(name, str) or not _IDENTIFIER.match(name):
            raise ConfigError(key, f"variable name {name!r} is not a plain name (letters, digits, _)")
        if name in FUNCTIONS:
            raise ConfigError(key, f"variable name {name!r} is a function name")
    if len(set(variables)) != len(variables):
        raise ConfigError(key, f"variables repeat a name: {variables}")
    return variables


def _parse_text(text: str, key: str):
    """Syntax and size checks; returns (component trees, the text their positions refer to,
    each component's own text, is_vector)."""
    if len(text) > MAX_TEXT_CHARS:
        raise ConfigError(key, f"refused: expression is {len(text)} characters long; the limit is {MAX_TEXT_CHARS}")
    if not text.strip():
        raise ConfigError(key, "empty expression")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        where = f" at column {e.offset}" if e.offset else ""
        raise ConfigError(key, f"syntax error{where}: {e.msg} (an expression such as 'x**2 + 3*x*y' is expected)") from None
    except (RecursionError, MemoryError, ValueError):
        raise ConfigError(key, "refused: expression is nested too deeply") from None
    text = text.strip()
    n_nodes = sum(1 for _ in ast.walk(tree))
    if n_nodes > MAX_NODES:
        raise ConfigError(key, f"refused: expression has {n_nodes} syntax nodes; the limit is {MAX_NODES}")
    body = tree.body
    if isinstance(body, (ast.List, ast.Tuple)):
        if not body.elts:
            raise ConfigError(key, "empty list of expressions")
        for elt in body.elts:
            if isinstance(elt, (ast.List, ast.Tuple)):
                _refuse(key, text, elt, "nested list")
        pieces = [_segment(text, elt, limit=None) for elt in body.elts]
        return list(body.elts), [text] * len(pieces), pieces, True
    return [body], [text], [text], False


def _free_names(trees, declared: Optional[List[str]]) -> set:
    """Names used as values (not as called functions)."""
    names = set()
    for tree in trees:
        called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and id(node) not in called:
                names.add(node.id)
    if declared is None:
        return {n for n in names if n not in CONSTANTS and n not in FUNCTIONS and _IDENTIFIER.match(n)}
    return names & set(declared)


def _segment(text: str, node: ast.AST, limit: Optional[int] = 40) -> str:
    seg = ast.get_source_segment(text, node) or ""
    if limit and len(seg) > limit:
        seg = seg[: limit - 3] + "..."
    return seg


def _refuse(key: str, text: str, node: ast.AST, what: str):
    line = getattr(node, "lineno", 1)
    col = getattr(node, "col_offset", 0) + 1
    if isinstance(node, ast.Attribute) and node.end_lineno == line:  # point at the dot
        col = node.end_col_offset - len(node.attr)
    where = f"line {line}, column {col}" if line > 1 else f"column {col}"
    what = what if "'" in what else f"'{what}'"
    raise ConfigError(key, f"refused {what} at {where} ('{_segment(text, node)}')")


class _Builder:
    """Walks one whitelisted tree and builds the SymPy expression bottom-up."""

    def __init__(self, symbols: Dict[str, sympy.Symbol]):
        self.symbols = symbols
        self.nonsmooth_depth = 0    # max/min/abs/relu calls around the node being built

    def build(self, node: ast.AST, text: str, key: str) -> sympy.Expr:
        """``node`` is a component's tree; its positions refer to ``text``."""
        self.text, self.key = text, key
        return own_nonsmooth(self._node(node, 0))

    def refuse(self, node, what):
        _refuse(self.key, self.text, node, what)

    def _node(self, node: ast.AST, depth: int) -> sympy.Expr:
        if depth > MAX_DEPTH:
            self.refuse(node, f"nesting deeper than {MAX_DEPTH}")
        if isinstance(node, ast.Constant):
            result = self._constant(node)
        elif isinstance(node, ast.Name):
            result = self._name(node)
        elif isinstance(node, ast.BinOp):
            result = self._binop(node, depth)
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in (ast.USub, ast.UAdd):
                self.refuse(node, _OPERATOR_TEXT.get(type(node.op), type(node.op).__name__))
            operand = self._node(node.operand, depth + 1)
            result = -operand if isinstance(node.op, ast.USub) else operand
        elif isinstance(node, ast.Call):
            result = self._call(node, depth)
        elif isinstance(node, (ast.List, ast.Tuple)):
            self.refuse(node, "nested list")
        else:
            self.refuse(node, _NODE_TEXT.get(type(node), type(node).__name__))
        return self._checked(node, result)

    def _checked(self, node, result):
        """Refuse constants that are not finite real float64 numbers (sqrt(-1), 1/0, 1e200**2)."""
        if result.has(S.ImaginaryUnit, S.ComplexInfinity, S.NaN, S.Infinity, S.NegativeInfinity):
            self.refuse(node, "non-real or infinite value")
        if result.is_Number and abs(result) > MAX_MAGNITUDE:
            self.refuse(node, "constant beyond 1e308")
        return result

    def _constant(self, node: ast.Constant) -> sympy.Expr:
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            self.refuse(node, "boolean" if isinstance(value, bool) else repr(value))
        if isinstance(value, (str, bytes)):
            self.refuse(node, "string" if isinstance(value, str) else "bytes")
        if isinstance(value, complex):
            self.refuse(node, "complex number")
        if not isinstance(value, (int, float)):
            self.refuse(node, type(value).__name__)
        if not abs(value) <= MAX_MAGNITUDE:  # also catches 1e309 == inf
            self.refuse(node, "number beyond 1e308")
        # floats are taken at their shortest decimal form, exactly: 0.1 -> 1/10, 0.5 -> 1/2
        return sympy.Integer(value) if isinstance(value, int) else sympy.Rational(repr(value))

    def _name(self, node: ast.Name) -> sympy.Expr:
        if node.id in self.symbols:
            return self.symbols[node.id]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id in FUNCTIONS:
            self.refuse(node, f"function '{node.id}' used without arguments")
        if not _IDENTIFIER.match(node.id):
            self.refuse(node, f"name '{node.id}' (names start with a letter)")
        known = ", ".join(self.symbols) or "none"
        self.refuse(node, f"unknown name '{node.id}' (variables: {known}; constants: pi, e)")

    def _binop(self, node: ast.BinOp, depth: int) -> sympy.Expr:
        if type(node.op) not in _BINOPS:
            self.refuse(node, _OPERATOR_TEXT.get(type(node.op), type(node.op).__name__))
        if isinstance(node.op, ast.Pow):
            return self._power(node, self._node(node.left, depth + 1), self._node(node.right, depth + 1))
        # a + b - c + d parses as ((a + b) - c) + d: walk the left spine iteratively, so a
        # long sum or product counts as one level of nesting and is built by one Add/Mul
        family = (ast.Add, ast.Sub) if isinstance(node.op, (ast.Add, ast.Sub)) else (ast.Mult, ast.Div)
        spine = []
        while isinstance(node, ast.BinOp) and isinstance(node.op, family):
            spine.append(node)
            node = node.left
        terms = [self._node(node, depth + 1)]
        for op_node in reversed(spine):
            right = self._node(op_node.right, depth + 1)
            if isinstance(op_node.op, ast.Sub):
                right = -right
            elif isinstance(op_node.op, ast.Div):
                if right.is_zero:
                    self.refuse(op_node, "division by zero")
                right = sympy.Pow(right, -1)
            terms.append(right)
        return sympy.Add(*terms) if family[0] is ast.Add else sympy.Mul(*terms)

    def _power(self, node: ast.BinOp, base: sympy.Expr, power: sympy.Expr) -> sympy.Expr:
        """Refuse huge constant powers before SymPy evaluates or expands anything."""
        if power.is_number:
            p = _float_or_none(power)
            if p is not None and abs(p) > MAX_POWER:
                self.refuse(node, f"power {_short(power)} (constant exponents must be within +-{MAX_POWER})")
            b = _float_or_none(base) if base.is_number else None
            if b is not None and p is not None:
                if b == 0 and p < 0:
                    self.refuse(node, "division by zero")
                if b != 0 and abs(p) * abs(_log10(abs(b))) > 308:
                    self.refuse(node, "constant beyond 1e308")
        result = sympy.Pow(base, power)
        if result.is_Pow and result.exp.is_number and abs(_float_or_none(result.exp) or 0) > MAX_POWER:
            self.refuse(node, f"power of a power: the combined exponent {_short(result.exp)} is beyond "
                              f"+-{MAX_POWER} (write the power once, within the limit)")
        return result

    def _call(self, node: ast.Call, depth: int) -> sympy.Expr:
        if not isinstance(node.func, ast.Name):
            self._node(node.func, depth + 1)  # refuses attribute access, subscripts, ...
            self.refuse(node, "call of a non-function")
        name = node.func.id
        if name not in FUNCTIONS:
            allowed = ", ".join(FUNCTIONS)
            self.refuse(node, f"call of '{name}' (not an allowed function; allowed: {allowed})")
        if node.keywords:
            kw = node.keywords[0]
            self.refuse(kw, f"keyword argument '{kw.arg}'" if kw.arg else "'**' argument")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                self.refuse(arg, "starred argument")
        arity, build = FUNCTIONS[name]
        if len(node.args) != arity:
            self.refuse(node, f"'{name}' with {len(node.args)} arguments (it takes {arity})")
        nonsmooth = name in NONSMOOTH
        self.nonsmooth_depth += nonsmooth
        if self.nonsmooth_depth > MAX_NONSMOOTH_NESTING:
            self.refuse(node, f"max/min/abs/relu nested more than {MAX_NONSMOOTH_NESTING} deep (each level "
                              f"adds a branch to every derivative); flatten or split the expression")
        try:
            return build(*[self._node(a, depth + 1) for a in node.args])
        finally:
            self.nonsmooth_depth -= nonsmooth


def _float_or_none(value: sympy.Expr) -> Optional[float]:
    try:
        return float(sympy.N(value, 20))
    except (TypeError, ValueError, OverflowError):
        return None


def _log10(x: float) -> float:
    import math

    return math.log10(x)


def _short(value: sympy.Expr) -> str:
    s = str(value)
    return s if len(s) <= 20 else s[:17] + "..."
