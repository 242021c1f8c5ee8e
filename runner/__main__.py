"""Entry point: ``python -m runner [overrides]`` and the ``calclab`` console script.

Before Hydra is imported, a helper process is forked to get MLflow ready on the other core
(see :mod:`runner.tracking.worker`); the application itself is :mod:`runner.cli`.
"""
import atexit
import gc
import sys


def main():
    # Registered first, so it runs after every other exit hook: a run leaves Hydra, numba,
    # MLflow, SQLAlchemy and matplotlib in memory, and the garbage collections of interpreter
    # shutdown walk all of it (~0.5 s here) to free what the process is about to drop anyway.
    # Our files are closed and the store's writes committed by then.
    atexit.register(gc.freeze)
    from runner.tracking.worker import TrackingWorker

    TrackingWorker.prestart(sys.argv[1:])
    from runner import cli

    cli.run()


if __name__ == "__main__":
    main()
