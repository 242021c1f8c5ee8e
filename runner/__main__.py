"""Entry point: ``python -m runner [overrides]`` and the ``calclab`` console script.

Before Hydra is imported, a helper process is forked to get MLflow ready on the other core
(see :mod:`runner.tracking_worker`); the application itself is :mod:`runner.cli`.
"""
import sys


def main():
    from runner.tracking_worker import TrackingWorker

    TrackingWorker.prestart(sys.argv[1:])
    from runner import cli

    cli.run()


if __name__ == "__main__":
    main()
