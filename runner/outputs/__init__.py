"""What a run writes to its directory: ``files`` (result.json, trajectory.npz, config.yaml,
written atomically), ``plots`` (matplotlib figures with plain-text log labels) and
``report`` (the table printed at the end of a run).  May import: ``runner.result``,
``runner.errors``, ``kernels.surface``.
"""
