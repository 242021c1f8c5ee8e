"""The tasks behind ``task=``: one module each (optimize, integrate, train, analyze,
constrained) and :mod:`~runner.tasks.registry`, which lists them.  A task takes the validated
config, builds plain inputs (arrays, scalars, compiled callables) with the domain wings
(``runner.problems``, ``runner.integrate``, ``runner.analysis``, ``runner.train``) and the
kernels, and returns a :class:`~runner.result.Result`.  Tasks are leaves: they print nothing,
write nothing but through their Result and the run directory, and import no other task.
May import: the domain wings (``runner.problems``, ``runner.descent``, ``runner.integrate``,
``runner.analysis``, ``runner.train``, ``runner.expr``), ``runner.config``, ``runner.outputs``,
``runner.result``, ``runner.errors``, ``kernels``.
"""
