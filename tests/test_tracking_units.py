"""The tracker's pure pieces: downsampling, flattening, store resolution."""
import json
from pathlib import Path

import numpy as np
import pytest

from runner.tracking.store import MAX_PARAM_LENGTH, default_uri, downsample, flatten, resolve_store


def test_downsample_keeps_short_series_whole():
    s = np.arange(50)
    v = np.sin(s)
    ds, dv = downsample(s, v, 100)
    assert np.array_equal(ds, s) and np.array_equal(dv, v)


@pytest.mark.parametrize("n,cap", [(100_001, 1000), (12_345, 64), (5000, 8)])
def test_downsample_is_bounded_and_faithful(n, cap):
    rng = np.random.default_rng(0)
    steps = np.arange(n)
    values = np.cumsum(rng.normal(size=n)) + 1e3 * (steps == n // 3)  # a spike mid-way
    ds, dv = downsample(steps, values, cap)
    assert len(ds) <= cap
    assert ds[0] == 0 and ds[-1] == n - 1                  # first and last step
    assert np.all(np.diff(ds) > 0)                          # strictly increasing steps
    assert dv.max() == values.max() and dv.min() == values.min()  # global extremes, incl. the spike
    assert np.array_equal(values[ds], dv)                   # real points, not interpolations
    # every bucket's range is represented: the envelope of the downsample matches the data
    buckets = np.array_split(np.arange(n), cap // 4)
    for b in buckets:
        inside = (ds >= b[0]) & (ds <= b[-1])
        assert dv[inside].max() == values[b].max() and dv[inside].min() == values[b].min()


def test_downsample_keeps_first_non_finite_value():
    v = np.linspace(1, 2, 10_000)
    v[7000:] = np.inf
    ds, dv = downsample(np.arange(10_000), v, 100)
    assert 7000 in ds and np.isinf(dv[list(ds).index(7000)])


def test_flatten_dotted_keys_lists_as_json_and_truncation():
    flat = flatten({"optim": {"lr": 0.1, "betas": [0.9, 0.999]}, "seed": 3, "big": "x" * 10_000})
    assert flat["optim.lr"] == "0.1"
    assert json.loads(flat["optim.betas"]) == [0.9, 0.999]
    assert flat["seed"] == "3"
    assert len(flat["big"]) <= MAX_PARAM_LENGTH and flat["big"].endswith("[10000 chars]")


def test_store_default_is_absolute_sqlite_under_outputs(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri, artifacts = resolve_store(cwd=tmp_path)
    assert uri == f"sqlite:///{(tmp_path / 'outputs' / 'mlflow.db').resolve()}" == default_uri(tmp_path)
    assert Path(artifacts) == (tmp_path / "outputs" / "mlartifacts").resolve()


def test_store_precedence_config_then_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert resolve_store(cwd=tmp_path)[0] == "http://127.0.0.1:5999"
    assert resolve_store(cwd=tmp_path)[1] is None          # the server decides
    uri, artifacts = resolve_store("sqlite:///rel/db.sqlite", cwd=tmp_path)
    assert uri == f"sqlite:///{(tmp_path / 'rel' / 'db.sqlite').resolve()}"  # relative to the user's cwd
    assert Path(artifacts) == (tmp_path / "rel" / "mlartifacts").resolve()   # never MLflow's ./mlruns
