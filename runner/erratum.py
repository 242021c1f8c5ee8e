"""A preset that reproduces an example where the tutorial is wrong says so in its run.

The preset carries an ``erratum`` node (what the tutorial prints, what is correct, why); the
correct value is read from the run's own Result (``value``: a path such as ``final.gradient``,
``trajectory.grad.0`` or ``trajectory.grad.0.0:2``), never written into the preset.  The line

    tutorial prints (344, 484); correct is (172, 244): ...

goes into ``final["erratum"]`` and the tag ``calclab.erratum``, and is printed last.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from runner.errors import ConfigError
from runner.result import Result

TAG = "calclab.erratum"


@dataclass
class Erratum:
    tutorial: str                 # what the tutorial prints
    correct: str = "{value}"      # what is correct; {value} is replaced by the run's value
    value: Optional[str] = None   # where the run keeps that value: final.<key>..., trajectory.<key>...
    digits: int = 6               # significant digits of the value as printed
    why: str = ""                 # one clause: where the tutorial goes wrong

    def check(self):
        if not self.tutorial.strip():
            raise ConfigError("tutorial", "must say what the tutorial prints")
        if ("{value}" in self.correct + self.why) != (self.value is not None):
            raise ConfigError("value", "is needed exactly when 'correct' or 'why' contains {value}")
        if self.value is not None and self.value.split(".")[0] not in ("final", "trajectory", "info"):
            raise ConfigError("value", f"must start with final., trajectory. or info., got {self.value!r}")
        if not 1 <= self.digits <= 17:
            raise ConfigError("digits", f"must be between 1 and 17, got {self.digits}")


def attach(result: Result, erratum: Erratum) -> None:
    """Write the erratum line into ``result`` (final and tags); a value the run did not
    produce (e.g. it failed first) leaves the result alone."""
    text = None
    if erratum.value is not None:
        value = lookup(result, erratum.value)
        if value is None:
            return
        text = fmt(value, erratum.digits)
    line = (f"tutorial prints {erratum.tutorial}; correct is {erratum.correct.format(value=text)}"
            + (f": {erratum.why.format(value=text)}" if erratum.why else ""))
    result.final["erratum"] = line
    result.tags[TAG] = line


def lookup(result: Result, path: str) -> Any:
    """The value at ``path`` (dots between keys and indices, ``a:b`` a slice), or None."""
    head, *rest = path.split(".")
    node: Any = getattr(result, head)
    try:
        for part in rest:
            if isinstance(node, dict):
                node = node[part]
            elif ":" in part:
                lo, hi = (int(p) if p else None for p in part.split(":"))
                node = node[lo:hi]
            else:
                node = node[int(part)]
    except (KeyError, IndexError, ValueError, TypeError):
        return None
    return node


def fmt(value: Any, digits: int) -> str:
    """Numbers to ``digits`` significant digits; a vector as (a, b, ...)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        flat = np.ravel(np.asarray(value, dtype=float))
        return "(" + ", ".join(fmt(float(v), digits) for v in flat) + ")"
    if isinstance(value, (float, np.floating, int, np.integer)) and not isinstance(value, bool):
        return f"{float(value) + 0.0:.{digits}g}"
    return str(value)
