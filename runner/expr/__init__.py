"""User formulas, safely: parse, differentiate, generate code, compile, record tapes.

``parse`` reads a formula with Python's ``ast`` into SymPy under a whitelist (user text is
never passed to eval, exec or sympify); ``codegen`` prints a SymPy expression and its
derivatives as numba source in a real module file (so numba caches it); ``compile`` ties the
two together with an on-disk cache; ``tape`` records an expression as flat arrays for the
autodiff kernels.  May import: ``runner.errors``, ``kernels``, SymPy.
"""
