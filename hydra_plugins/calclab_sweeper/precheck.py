"""The sweep's up-front check of calclab's own rules (``runner.app.check_job``: the schemas,
and what a task checks against its data), after Hydra's check that every job composes.

A config error that every job of a batch would hit (``task=train data=iris`` with the
default two-class loss) stops the sweep before any job starts, as a bad override does.  An
error of some jobs only (``optim.lr=0.1,-1``) does not: those jobs fail with one line each
and the sweep goes on.  One job per structure (``basic_sweeper.representatives``) is checked;
only when each of them fails are the others checked too, to tell the two cases apart.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig, open_dict, read_write


def _job_error(compose: Callable[[Sequence[str]], DictConfig], overrides: Sequence[str]) -> Optional[str]:
    from runner.app import check_job
    from runner.errors import ConfigError

    cfg = compose(list(overrides))
    with read_write(cfg), open_dict(cfg):   # the job's own config, as Hydra hands it to the job
        cfg.pop("hydra", None)
    try:
        check_job(cfg)
    except ConfigError as e:
        return str(e)
    return None


def check_batch(batch: Sequence[Sequence[str]], representatives: Sequence[Sequence[str]],
                compose: Callable[[Sequence[str]], DictConfig]) -> None:
    """Raise (one line: the first job's error) if every job of ``batch`` has a config error."""
    first = None
    for overrides in representatives:
        error = _job_error(compose, overrides)
        if error is None:
            return
        first = first or error
    if first is None or any(_job_error(compose, o) is None for o in batch if o not in representatives):
        return
    raise ConfigCompositionException(f"{first} (in every job of the sweep)")
