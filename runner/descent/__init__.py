"""The descent loop as the tasks use it: ``driver`` runs a problem, an optimizer and a
schedule through the shared numba descent kernel in chunks and packs the trajectory into a
Result.  Shared by ``task=optimize`` and ``task=train`` (so it lives below both).  May import:
``runner.interrupt``, ``runner.pacing``, ``runner.config``, ``runner.outputs.plots``, ``runner.result``,
``runner.errors``, ``kernels``.
"""
