"""Training networks (``task=train``): data sets and models.

``data`` loads or generates the ``conf/data`` options (with a seeded split and
standardisation); ``models`` holds the ``conf/model`` options, each building a ``Network``
(the Problem the descent minimises, plus predict, targets and diagnostics) so the task never
reads a kernel's layout; ``checks`` compares backprop with central differences; ``plots``
draws decision boundaries.  May import: ``runner.problems``, ``runner.config``,
``runner.outputs``, ``runner.errors``, ``kernels``.
"""
