"""The analysis of functions behind ``task=analyze`` and ``task=constrained``.

``core`` defines the :class:`~runner.analysis.core.Subject` (a function with its symbolic
form, tape and compiled kernels) and computes derivatives, Jacobians and Hessians by every
method; ``subjects`` builds a Subject from a config; ``taylor``, ``critical``,
``activations`` and ``constrained`` (Lagrange/KKT) are one analysis each; ``report`` formats
tables and ``plots`` draws them.  May import: ``runner.expr``, ``runner.problems``,
``runner.outputs.plots``, ``runner.errors``, ``kernels``.
"""
