"""Ctrl-C in a sweep (runner.interrupt): the first interrupts only a computing task and marks the
sweep for every process; a second interrupts whatever runs.  End to end: test_sweep.py."""
import signal

import pytest

from runner import interrupt


@pytest.fixture
def handler(tmp_path, monkeypatch):
    previous = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(interrupt, "_presses", 0)
    monkeypatch.setattr(interrupt, "_signal", None)
    interrupt.install(tmp_path)
    yield tmp_path
    signal.signal(signal.SIGINT, previous)


def test_the_first_ctrl_c_marks_the_sweep_and_interrupts_only_a_computing_task(handler):
    assert not interrupt.interrupted(handler)
    with pytest.raises(KeyboardInterrupt):
        with interrupt.computing():
            signal.raise_signal(signal.SIGINT)
    assert interrupt.interrupted(handler)
    interrupt.clear(handler)
    assert not interrupt.interrupted(handler)


def test_outside_a_task_the_first_ctrl_c_only_marks_and_a_second_interrupts(handler):
    signal.raise_signal(signal.SIGINT)          # e.g. the sweeping process waiting for its workers
    assert interrupt.interrupted(handler)
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)


def test_a_signal_an_earlier_run_received_is_not_the_next_runs(tmp_path, monkeypatch):
    """In one process (the notebook API, a test session) a run after an interrupted one
    finishes with exit 0: the earlier run's signal is not carried over."""
    from runner import app
    from tests.conftest import compose

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(interrupt, "_signal", signal.SIGTERM)
    monkeypatch.setattr(interrupt, "_presses", 1)
    result = app.main(compose(["problem=bowl", "optim=gd", "optimize.steps=5", "quiet=true", "tracking=none"]))
    assert result.status == "FINISHED" and interrupt.received() is None
