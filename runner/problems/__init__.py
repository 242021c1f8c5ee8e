"""The functions and data that ``task=optimize`` (and analyze, constrained) minimise.

``problem`` defines :class:`~runner.problems.problem.Problem`, the plain inputs a descent
loop takes (compiled objective, start point, data arrays); ``catalog`` holds the table
``PROBLEMS`` (one entry per ``conf/problem`` option: schema, label, default start, known minima,
how to build it) and :func:`~runner.problems.catalog.build_problem`; ``builders`` turns each
family (quadratic, n-D test function, 2-D formula, expression, data-driven loss) into a
Problem; ``data`` loads or generates their data sets.  May import: ``runner.config``,
``runner.expr``, ``runner.errors``, ``kernels``.
"""
