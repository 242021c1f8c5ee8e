"""What an entry of the optimizer table (``kernels.optimizers.OPTIMIZERS``) holds, and the
kernels derived from the table: the step dispatcher, the state shapes, the packing of the
hyperparameter vector.  Nothing here names an optimizer.

An entry is an :class:`Optimizer`: its name, default learning rate, hyperparameters with
their defaults (in the order its rule takes them), state layout and update rule.  The rule is
a small pure ``@njit`` function::

    rule(theta, g, state, sstate, t, lr, <hyperparameters in the entry's order>)

which updates ``theta``, ``state`` (float64[rows, d]) and ``sstate`` (float64[scalars]) in
place; ``t`` is the 1-based step number, ``lr`` this step's learning rate.  Hyperparameters
arrive as float64 (flags as 0.0 / 1.0).

The hyperparameter vector of optimizer ``i`` is its entry's hyperparameters in order:
``hp[j]`` is the j-th key of ``OPTIMIZERS[i].hyper`` (:func:`pack`).

Why the dispatcher is a chain of jitted closures (numba 0.68; BENCHMARKS.md, "Optimizer
table"): a tuple of rules under ``literal_unroll`` needs numba's experimental first-class
function types and does not type; source generated into a module file would be a second file
to regenerate for every new optimizer.  Each link of the chain is an ``@njit`` closure that
knows one id and its rule's arity (closure variables are compile-time constants, so
``to_fixed_tuple(hp, k)`` unpacks exactly k hyperparameters).  The links are inlined by numba
(``inline="always"``; without it LLVM left them as 14 nested calls): the dispatcher compiles
to one function with a compare per id calling the rules, as the hand-written ``if opt_id ==``
branches did.  The links are not cached themselves (a closure's cache key pickles its
dispatchers, which differ from process to process): the module-level kernels that call the
chain (``kernels.optimizers.update`` and the descent loop) are, and their cache is stamped
with the whole kernels package (kernels/_cache.py), so editing the table recompiles them.
"""
from __future__ import annotations

import inspect
from typing import NamedTuple

import numpy as np
from numba import njit
from numba.np.unsafe.ndarray import to_fixed_tuple

STEP_ARGS = ("theta", "g", "state", "sstate", "t", "lr")


class Optimizer(NamedTuple):
    """One optimizer: ``hyper`` maps each hyperparameter to its default, in the order
    ``rule`` takes them after STEP_ARGS (``beta1`` and ``beta2`` are the config's ``betas``);
    ``lr`` is the default learning rate; ``doc`` says what it is and where it comes from."""
    name: str
    rule: object
    lr: float
    hyper: dict
    rows: int
    scalars: int
    doc: str


def check(table) -> None:
    """Raise TypeError if an entry's rule does not take STEP_ARGS then its ``hyper`` keys, in
    order, or a name repeats, or the state has no row or scalar (callers index row 0)."""
    names = [e.name for e in table]
    if len(set(names)) != len(names):
        raise TypeError(f"optimizer names repeat: {names}")
    for e in table:
        params = tuple(inspect.signature(e.rule.py_func).parameters)
        if params != STEP_ARGS + tuple(e.hyper):
            raise TypeError(f"optimizer {e.name!r}: rule {e.rule.py_func.__name__}{params} must take "
                            f"{STEP_ARGS + tuple(e.hyper)} (STEP_ARGS, then the hyper keys in order)")
        if e.rows < 1 or e.scalars < 1:
            raise TypeError(f"optimizer {e.name!r}: rows and scalars must be >= 1")


def pack(entry: Optimizer, values: dict) -> np.ndarray:
    """float64[len(entry.hyper)]: ``values`` over the entry's defaults, in the entry's order.
    Booleans become 0.0 / 1.0.  Raises KeyError for a name the entry does not have."""
    unknown = set(values) - set(entry.hyper)
    if unknown:
        raise KeyError(f"optimizer {entry.name!r} has no hyperparameter {sorted(unknown)}; "
                       f"it has {list(entry.hyper)}")
    merged = {**entry.hyper, **values}
    return np.array([float(merged[key]) for key in entry.hyper], dtype=np.float64)


def step_chain(table, i: int = 0):
    """An njit ``step(opt_id, hp, theta, g, state, sstate, t, lr) -> bool``: runs the rule of
    ``table[opt_id]`` with ``hp`` unpacked into its hyperparameters and returns True, or
    returns False (nothing touched) for an id outside the table or an ``hp`` too short."""
    if i == len(table):
        @njit(_nrt=False, inline="always")
        def unknown(opt_id, hp, theta, g, state, sstate, t, lr):
            return False
        return unknown
    rule, k, rest = table[i].rule, len(table[i].hyper), step_chain(table, i + 1)

    @njit(error_model="numpy", _nrt=False, inline="always")
    def step(opt_id, hp, theta, g, state, sstate, t, lr):
        if opt_id != i:
            return rest(opt_id, hp, theta, g, state, sstate, t, lr)
        if hp.size < k:
            return False
        rule(theta, g, state, sstate, t, lr, *to_fixed_tuple(hp, k))
        return True
    return step
