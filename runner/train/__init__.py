"""Training networks (``task=train``): data sets and models.

``data`` loads or generates the ``conf/data`` options (with a seeded split and
standardisation).  May import: ``runner.config``, ``runner.errors``, ``kernels``.
"""
