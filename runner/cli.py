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

from runner import app, interrupt
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


def _raised_in_launcher(ex: BaseException) -> bool:
    """A multirun launcher plugin (joblib, ray) refused its settings, e.g. hydra.launcher.n_jobs=0."""
    import traceback

    return any("/hydra_plugins/hydra_" in frame.filename and "launcher" in frame.filename
               for frame in traceback.extract_tb(ex.__traceback__))


# optional packages -> the extra of pyproject.toml that installs them, and what needs them
EXTRAS = {"optuna": ("search", "hydra/sweeper=optuna"), "ray": ("ray", "hydra/launcher=ray"),
          "sklearn": ("datasets", "data")}


def missing_extra(ex: BaseException):
    """One line for an optional package that is not installed (anywhere in ``ex``'s chain),
    naming the extra to install; None for any other error."""
    seen = set()
    while ex is not None and id(ex) not in seen:
        seen.add(id(ex))
        if isinstance(ex, ModuleNotFoundError) and (ex.name or "").split(".")[0] in EXTRAS:
            extra, key = EXTRAS[ex.name.split(".")[0]]
            return (f"{key}: needs the optional package '{ex.name.split('.')[0]}', which is not installed: "
                    f"pip install -e \".[{extra}]\" (from the calclab checkout)")
        ex = ex.__cause__ or ex.__context__
    return None


def run():
    interrupt.install()             # Ctrl-C and SIGTERM: a stop that keeps what was computed
    from hydra_plugins.calclab_sweeper.optuna_sweeper import quote_params_overrides
    from runner import completion

    if completion.handle(sys.argv[1:]):
        TrackingWorker.discard_unclaimed()
        return
    _register_plugins()
    sys.argv[1:] = quote_params_overrides(sys.argv[1:])
    user_wants_full = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"          # let Hydra's exceptions reach us
    try:
        _hydra_entry()
    except (HydraException, ValueError, ModuleNotFoundError) as ex:
        # ValueError: Hydra's own command-line checks (e.g. -m with --cfg); from our code it is a bug
        extra = missing_extra(ex)
        if extra and not user_wants_full:
            print(f"calclab: error: {extra}", file=sys.stderr, flush=True)
            raise SystemExit(app.CONFIG_ERROR_EXIT) from None
        if user_wants_full or not (isinstance(ex, HydraException) or _raised_by_hydra(ex)):
            if user_wants_full or not _raised_in_launcher(ex):
                raise
            print(f"calclab: error: hydra.launcher: {type(ex).__name__}: {ex}", file=sys.stderr, flush=True)
            raise SystemExit(app.CONFIG_ERROR_EXIT) from None
        print(f"calclab: error: {one_line(ex)}", file=sys.stderr, flush=True)
        raise SystemExit(app.CONFIG_ERROR_EXIT) from None
    except KeyboardInterrupt:   # a run keeps what it computed as KILLED; a sweep stops, its parent run KILLED
        print(f"calclab: {interrupt.verb()}", file=sys.stderr, flush=True)
        raise SystemExit(interrupt.exit_code()) from None
    finally:
        TrackingWorker.discard_unclaimed()   # --cfg, --help, a multirun: nothing to log
