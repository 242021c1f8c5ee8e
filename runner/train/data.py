"""The ``data`` config group of task=train: the tutorial's single point, XOR, two moons,
spirals, linear data, a CSV file, and data sets bundled with scikit-learn (no network).

Every option gives (X, y, kind) with kind 'regression' or 'classification' (y = class index
0..K-1), then a seeded train/validation split and optional standardisation (fitted on the
training rows only).
"""
from __future__ import annotations

import copy
import functools
import typing
from dataclasses import dataclass, field
from typing import Any, List, Optional

import numpy as np

from runner.problems.data import aligned
from runner.errors import ConfigError
from runner.config.validate import in_range, non_negative, positive

BUNDLED = ("digits", "breast_cancer", "iris", "wine")


@dataclass
class TrainData:
    name: str = "moons"
    n: int = 400                    # synthetic: rows
    noise: float = 0.15             # synthetic: noise (sd)
    classes: int = 3                # spirals: arms
    d: int = 2                      # linear: features
    x: Any = None                   # point: rows
    y: Any = None                   # point: targets
    path: Optional[str] = None      # csv
    target: Any = -1                # csv: target column (name or index)
    task: str = "classification"    # csv: classification | regression
    val_fraction: float = 0.2
    standardize: bool = False
    seed: Optional[int] = None      # split and synthetic data; null = the run's seed
    T: int = 10                     # sequence: length

    def check(self):
        positive("n", self.n)
        positive("d", self.d)
        non_negative("noise", self.noise)
        in_range("val_fraction", self.val_fraction, 0.0, 1.0)
        in_range("classes", self.classes, 2, 100, hi_open=False)
        in_range("T", self.T, 1, 10_000, hi_open=False)
        self._check_memory()

    def _check_memory(self):
        """Synthetic data whose arrays cannot fit in the memory available now is refused before
        any work (a MemoryError midway left a FAILED run)."""
        columns = {"moons": 2, "spirals": 2, "linear": self.d, "sequence": self.T}.get(self.name)
        if columns is None:
            return
        needed = DATA_COPIES * 8 * self.n * (columns + 1)
        available = available_memory()
        if available is not None and needed > available:
            raise ConfigError("n", f"{self.n} rows of {columns} features need about {needed:,} bytes of memory "
                              f"({DATA_COPIES} float64 copies: generated, split, batches); {available:,} are "
                              f"available: use a smaller data.n")


# The rows are held about this many times while a run starts: generated, split into train and
# validation (copies), and laid out for the kernels (runner.datasets.aligned).
DATA_COPIES = 3


def available_memory() -> Optional[int]:
    """Bytes of memory available to a new allocation (Linux: MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import os

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


# What a data set changes of TrainData's defaults (its conf/data/NAME.yaml says the same).
OWN_DEFAULTS = {
    "point": {"x": [[0.5]], "y": [0.8], "val_fraction": 0.0},   # the tutorial's one point, kept for training
    "xor": {"val_fraction": 0.0},                               # all four corners are needed to learn XOR
    "sequence": {"noise": 0.0},
    **{name: {"standardize": True} for name in BUNDLED},        # measurements in different units
}


def _schema(name: str) -> type:
    """The dataclass of data set ``name``: TrainData with its name and its own defaults."""
    own = {"name": name, **OWN_DEFAULTS.get(name, {})}
    hints = typing.get_type_hints(TrainData)
    namespace = {k: field(default_factory=functools.partial(copy.deepcopy, v)) if isinstance(v, list) else v
                 for k, v in own.items()}
    namespace["__annotations__"] = {k: hints[k] for k in own}
    return dataclass(type(f"{name.title()}Data", (TrainData,), namespace))


DATA_SCHEMAS = {name: _schema(name) for name in ("point", "xor", "moons", "spirals", "linear", "csv", "sequence", *BUNDLED)}


@dataclass
class Split:
    X: np.ndarray
    y: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    kind: str
    n_classes: int
    columns: List[str] = field(default_factory=list)
    source: str = ""                # the data option's name (data=...)


def load(cfg: TrainData, seed: int) -> Split:
    rng = np.random.Generator(np.random.PCG64(seed if cfg.seed is None else cfg.seed))
    X, y, kind = _raw(cfg, rng)
    n = X.shape[0]
    n_val = int(round(cfg.val_fraction * n)) if n > 1 else 0
    order = rng.permutation(n)
    val, train = order[:n_val], order[n_val:]
    Xt, Xv = X[train], X[val]
    if cfg.standardize:
        mu, sd = Xt.mean(axis=0), Xt.std(axis=0)
        sd[sd == 0] = 1.0
        Xt, Xv = (Xt - mu) / sd, (Xv - mu) / sd
    classes = int(y.max()) + 1 if kind == "classification" else 0
    return Split(aligned(Xt), aligned(y[train]), aligned(Xv), aligned(y[val]), kind, classes,
                 [f"x{j + 1}" for j in range(X.shape[1])], cfg.name)


def _raw(cfg, rng):
    name = cfg.name
    if name == "point":
        if cfg.x is None or cfg.y is None:
            raise ConfigError("data.x", "the point data set needs x (rows) and y (targets)")
        X = np.atleast_2d(np.array(cfg.x, dtype=float))
        y = np.array(cfg.y, dtype=float).reshape(X.shape[0], -1)
        return X, (y[:, 0] if y.shape[1] == 1 else y), "regression"
    if name == "xor":
        X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
        return X, np.array([0, 1, 1, 0], dtype=float), "classification"
    if name == "moons":
        t = rng.uniform(0, np.pi, cfg.n)
        label = rng.integers(0, 2, cfg.n)
        X = np.where(label[:, None] == 0, np.c_[np.cos(t), np.sin(t)], np.c_[1 - np.cos(t), 0.5 - np.sin(t)])
        return X + cfg.noise * rng.standard_normal((cfg.n, 2)), label.astype(float), "classification"
    if name == "spirals":
        k = rng.integers(0, cfg.classes, cfg.n)
        r = rng.uniform(0.05, 1.0, cfg.n)
        angle = 4.0 * r + 2 * np.pi * k / cfg.classes + cfg.noise * rng.standard_normal(cfg.n)
        return np.c_[r * np.cos(angle), r * np.sin(angle)], k.astype(float), "classification"
    if name == "sequence":      # remember the first value over T steps: x = (v, 0, ..., 0), y = v
        v = rng.uniform(-1, 1, cfg.n)
        X = np.zeros((cfg.n, cfg.T))
        X[:, 0] = v
        return X + cfg.noise * np.c_[np.zeros(cfg.n), rng.standard_normal((cfg.n, cfg.T - 1))], v, "regression"
    if name == "linear":
        X = rng.standard_normal((cfg.n, cfg.d))
        w = rng.standard_normal(cfg.d)
        return X, X @ w + 0.5 + cfg.noise * rng.standard_normal(cfg.n), "regression"
    if name == "csv":
        from runner.problems.data import DataConfig, load as load_csv

        if not cfg.path:
            raise ConfigError("data.path", "required for data=csv")
        try:
            data = load_csv(DataConfig(source="csv", path=cfg.path, target=cfg.target), "regression", 0)
        except ConfigError as e:     # the loader names problem.data.*; here the keys are data.*
            raise ConfigError(e.key.replace("problem.data", "data"), e.problem) from None
        if cfg.task == "classification":
            return data.X, _class_index(data.y), "classification"
        return data.X, data.y, "regression"
    return _bundled(name)


def _class_index(y):
    classes, index = np.unique(y, return_inverse=True)
    return index.astype(float)


def _bundled(name):
    try:
        from sklearn import datasets as skd
    except ImportError:
        raise ConfigError("data.name", f"'{name}' ships with scikit-learn: pip install scikit-learn") from None
    loader = {"digits": skd.load_digits, "breast_cancer": skd.load_breast_cancer, "iris": skd.load_iris,
              "wine": skd.load_wine}[name]
    bunch = loader()
    return np.asarray(bunch.data, float), np.asarray(bunch.target, float), "classification"
