"""calclab from Python, for notebooks: the same runs as ``python -m runner``.

    import calclab
    r = calclab.run("problem=rosenbrock optim=adam optimize.steps=2000")
    r                                   # the report and the plots (inline in Jupyter)
    r.trajectory["loss"]                # every step, as arrays
    calclab.sweep("optim=gd,adam optim.lr=1e-3,1e-2")     # one row per job (a DataFrame)
    calclab.runs(optim__name="adam").to_frame()           # runs in a store: config, final metrics

:func:`run` validates, runs, writes the run directory and logs to MLflow exactly as the
command line does (``runner.app.execute``); :func:`sweep` starts the command line's multirun;
:func:`runs` finds runs in an MLflow store by their config values (:class:`Runs`).
"""
from calclab.collection import Runs, runs
from calclab.notebook import RunResult, run, sweep

__all__ = ["run", "sweep", "runs", "Runs", "RunResult"]
