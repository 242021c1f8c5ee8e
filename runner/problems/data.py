"""Data for the data-driven problems (linreg, logreg, svm): inline rows, a synthetic
generator, or a CSV file.  Every problem with the data is a ConfigError naming the key,
raised before any work.

``problem.data`` keys::

    source: inline | synthetic | csv
    x, y:        inline rows (list of lists, or a list of numbers for one feature) and targets
    n, d, noise, seed:  synthetic (seed null = the run's seed)
    path, target, header, delimiter:  csv (target: a column name, or an index, -1 = last)
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from runner.errors import ConfigError
from runner.config.validate import in_range, non_negative, one_of, positive

SOURCES = ("inline", "synthetic", "csv")
KEY = "problem.data"
ALIGN = 64      # bytes: a cache line, and one AVX-512 register


def aligned(a) -> np.ndarray:
    """A C-contiguous float64 copy of ``a`` that starts on a 64-byte boundary.

    NumPy's allocator aligns to 16 bytes, so the kernels' 64-byte vector loads over data
    rows would straddle two cache lines; on aligned rows the full-batch linear-regression
    gradient runs 10-20% faster here (benchmarks/bench_optimize.py)."""
    a = np.asarray(a, dtype=np.float64)
    buf = np.empty(a.nbytes + ALIGN, dtype=np.uint8)
    start = (-buf.ctypes.data) % ALIGN
    out = buf[start:start + a.nbytes].view(np.float64).reshape(a.shape)
    out[...] = a
    return out


@dataclass
class DataConfig:
    source: str = "inline"
    x: Any = None
    y: Any = None
    n: int = 100
    d: int = 1
    noise: float = 0.1
    seed: Optional[int] = None
    path: Optional[str] = None
    target: Any = -1
    header: bool = True
    delimiter: str = ","

    def check(self) -> None:
        one_of("source", self.source, SOURCES)
        if self.source == "synthetic":
            positive("n", self.n)
            positive("d", self.d)
            non_negative("noise", self.noise)
            if self.seed is not None:
                non_negative("seed", self.seed)
        if self.source == "csv" and not self.path:
            raise ConfigError("path", "required when source=csv")
        if self.path is not None and self.source != "csv":   # it would be ignored silently
            raise ConfigError("path", f"is read only when source=csv, and source is {self.source}: "
                                      "add source=csv (or drop path)")
        if self.source == "inline" and (self.x is None or self.y is None):
            raise ConfigError("x" if self.x is None else "y", "required when source=inline (rows and targets)")


@dataclass
class Dataset:
    X: np.ndarray          # (n, k) float64, C-contiguous
    y: np.ndarray          # (n,) float64
    columns: list          # feature names (k)
    meta: dict = field(default_factory=dict)


def load(cfg: DataConfig, kind: str, seed: int) -> Dataset:
    """The rows and targets for ``kind`` ('regression' or 'classification') per ``cfg``."""
    if cfg.source == "inline":
        data = _inline(cfg)
    elif cfg.source == "csv":
        data = _csv(cfg)
    else:
        data = _synthetic(cfg, kind, seed if cfg.seed is None else cfg.seed)
    if data.X.shape[0] == 0:
        raise ConfigError(f"{KEY}", "no data rows")
    if not (np.isfinite(data.X).all() and np.isfinite(data.y).all()):
        raise ConfigError(f"{KEY}", "the data contain NaN or infinite values")
    return data


def _inline(cfg: DataConfig) -> Dataset:
    try:
        X = np.asarray(cfg.x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{KEY}.x", "must be a list of rows of numbers (all rows the same length)") from None
    try:
        y = np.asarray(cfg.y, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{KEY}.y", "must be a list of numbers") from None
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or y.ndim != 1:
        raise ConfigError(f"{KEY}.x", "must be a list of rows (list of lists) and y a list of numbers")
    if X.shape[0] != y.shape[0]:
        raise ConfigError(f"{KEY}.y", f"has {y.shape[0]} targets for {X.shape[0]} rows of x")
    cols = [f"x{j + 1}" for j in range(X.shape[1])]
    return Dataset(np.ascontiguousarray(X), y, cols, {"source": "inline", "n": int(X.shape[0])})


def _synthetic(cfg: DataConfig, kind: str, seed: int) -> Dataset:
    """Rows X ~ N(0, I_d), a true hyperplane w* ~ N(0, I_d), b* ~ N(0, 1).
    regression: y = X w* + b* + noise * N(0, 1).
    classification: y = sign(X w* + b*) in {-1, +1}, each label flipped with probability noise."""
    if kind == "classification":
        in_range(f"{KEY}.noise", cfg.noise, 0.0, 0.5, hi_open=False)
    rng = np.random.Generator(np.random.PCG64(seed))
    X = rng.standard_normal((cfg.n, cfg.d))
    w = rng.standard_normal(cfg.d)
    b = float(rng.standard_normal())
    z = X @ w + b
    if kind == "regression":
        y = z + cfg.noise * rng.standard_normal(cfg.n)
    else:
        y = np.where(z >= 0.0, 1.0, -1.0)
        y = np.where(rng.random(cfg.n) < cfg.noise, -y, y)
    meta = {"source": "synthetic", "n": cfg.n, "d": cfg.d, "noise": cfg.noise, "data_seed": seed,
            "true_w": w.tolist(), "true_b": b}
    return Dataset(np.ascontiguousarray(X), y, [f"x{j + 1}" for j in range(cfg.d)], meta)


def _csv(cfg: DataConfig) -> Dataset:
    path = Path(str(cfg.path)).expanduser()
    if not path.is_file():
        raise ConfigError(f"{KEY}.path", f"file not found: {path.resolve()}")
    try:
        with path.open(newline="") as fh:
            rows = [r for r in csv.reader(fh, delimiter=cfg.delimiter) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ConfigError(f"{KEY}.path", f"cannot read {path}: {e}") from None
    names = [c.strip() for c in rows.pop(0)] if (cfg.header and rows) else None
    if not rows:
        raise ConfigError(f"{KEY}.path", f"no data rows in {path}")
    width = len(rows[0])
    names = names or [f"column{j}" for j in range(width)]
    if len(names) != width:
        raise ConfigError(f"{KEY}.path", f"the header has {len(names)} columns but row 1 has {width}")
    t = _target_index(cfg.target, names)
    first = 2 if cfg.header else 1
    values = np.empty((len(rows), width))
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ConfigError(f"{KEY}.path", f"line {i + first} has {len(row)} columns, expected {width}")
        for j, cell in enumerate(row):
            try:
                values[i, j] = float(cell)
            except ValueError:
                raise ConfigError(f"{KEY}.path", f"line {i + first}, column '{names[j]}': "
                                  f"not a number ({cell.strip()!r})") from None
    keep = [j for j in range(width) if j != t]
    if not keep:
        raise ConfigError(f"{KEY}.path", "needs at least one feature column besides the target")
    meta = {"source": "csv", "path": str(path.resolve()), "n": len(rows), "target": names[t]}
    return Dataset(np.ascontiguousarray(values[:, keep]), values[:, t].copy(), [names[j] for j in keep], meta)


def _target_index(target: Any, names: list) -> int:
    if isinstance(target, int) and not isinstance(target, bool):
        if -len(names) <= target < len(names):
            return target % len(names)
        raise ConfigError(f"{KEY}.target", f"column index {target} out of range for {len(names)} columns")
    if str(target) in names:
        return names.index(str(target))
    raise ConfigError(f"{KEY}.target", f"no column named {target!r}; columns: {', '.join(names)}")


def as_signs(y: np.ndarray) -> np.ndarray:
    """Class labels as -1/+1: accepts 0/1 or -1/+1 (0 becomes -1)."""
    bad = ~np.isin(y, (-1.0, 0.0, 1.0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ConfigError(f"{KEY}.y", f"class labels must be 0/1 or -1/+1; row {i + 1} has {y[i]:g}")
    if (y == 0).any() and (y == -1).any():
        raise ConfigError(f"{KEY}.y", "class labels mix 0 and -1; use 0/1 or -1/+1")
    return np.where(y > 0, 1.0, -1.0)
