"""The Hydra application behind ``python -m runner`` and the ``calclab`` console script.

The config tree ships inside the installed package ``conf`` (found after a plain
``pip install .`` as well as an editable install).

Hydra reports a bad override (``optim.lrr=1`` for a key that does not exist, ``optim=adamm``,
a syntax error) over several lines; here it becomes one line and exit code 2, like the
errors found by :func:`runner.app.validate`.  ``HYDRA_FULL_ERROR=1`` keeps Hydra's own report.
"""
import os
import re
import sys

import hydra
from hydra.errors import HydraException

from runner import app
from runner.result import KILLED
from runner.tracking.worker import TrackingWorker


@hydra.main(config_path="pkg://conf", config_name="config", version_base="1.3")
def _hydra_entry(cfg):
    return app.main(cfg)


def one_line(ex: BaseException) -> str:
    """Hydra's multi-line message (and its cause's first line) as one line."""
    text = str(ex).split("\nConfig search path")[0]
    bad = re.match(r"Could not override '([^']+)'", text)
    if bad and "not in struct" in str(ex.__cause__):
        return (f"{bad.group(1)}: unknown key (a typo? `python -m runner --cfg job` with the same "
                f"groups lists every key)")
    cause = ex.__cause__
    if cause is not None and str(cause).strip() and str(cause).splitlines()[0] not in text:
        text += "\n" + str(cause).splitlines()[0]
    parts = []
    for line in text.splitlines():
        item = line.strip()
        if not item or item.startswith(("full_key:", "object_type=", "reference_type=")):
            continue
        if line.startswith("\t") and parts:      # an indented list, e.g. the available options
            parts[-1] += (" " if parts[-1].endswith(":") else ", ") + item
        else:
            parts.append(item.rstrip("."))
    return "; ".join(parts)


def _register_plugins() -> None:
    """Hydra finds plugins by scanning the ``hydra_plugins`` namespace, which misses packages
    installed in editable mode (``pip install -e .``); register ours explicitly, and make
    ``hydra/sweeper=basic`` ours (hydra_plugins/calclab_sweeper/basic_sweeper.py)."""
    from hydra.core.plugins import Plugins

    from hydra_plugins.calclab_sweeper import basic_sweeper, batched_launcher
    from hydra_plugins.calclab_sweeper.optuna_sweeper import CalclabOptunaSweeper

    plugins = Plugins.instance()   # first: its scan re-runs Hydra's modules that store their configs
    basic_sweeper.register()
    plugins.register(batched_launcher.BatchedLauncher)
    plugins.register(basic_sweeper.CalclabBasicSweeper)
    plugins.register(CalclabOptunaSweeper)


def _raised_by_hydra(ex: BaseException) -> bool:
    import traceback
    from pathlib import Path

    import hydra

    frames = traceback.extract_tb(ex.__traceback__)
    return bool(frames) and Path(frames[-1].filename).is_relative_to(Path(hydra.__file__).parent)


def run():
    _register_plugins()
    user_wants_full = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"          # let Hydra's exceptions reach us
    try:
        _hydra_entry()
    except (HydraException, ValueError) as ex:
        # ValueError: Hydra's own command-line checks (e.g. -m with --cfg); from our code it is a bug
        if user_wants_full or not (isinstance(ex, HydraException) or _raised_by_hydra(ex)):
            raise
        print(f"calclab: error: {one_line(ex)}", file=sys.stderr, flush=True)
        raise SystemExit(app.CONFIG_ERROR_EXIT) from None
    except KeyboardInterrupt:   # a run keeps what it computed as KILLED; a sweep stops, its parent run KILLED
        print("calclab: interrupted", file=sys.stderr, flush=True)
        raise SystemExit(app.EXIT_CODES[KILLED]) from None
    finally:
        TrackingWorker.discard_unclaimed()   # --cfg, --help, a multirun: nothing to log
