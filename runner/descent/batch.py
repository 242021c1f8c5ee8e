"""Many descents on one problem as one kernel call (``kernels.batch.descend_batch``).

Each job is set up exactly as :func:`runner.descent.driver.minimise` sets up a single run
(a :class:`~runner.descent.driver.Run` of its own), then the jobs' arrays are stacked and
every Run's arrays become views of its rows, so after the batch each job's Run reads as if
it had run alone and :func:`~runner.descent.driver.descent_result` makes its Result
unchanged.  The kernel runs each job through the very step code of a single run, so the
numbers are the same bit for bit (tests/test_batch_descent.py).
"""
from __future__ import annotations

import time
from typing import List, Sequence

import numpy as np

from kernels import descent
from runner.descent.driver import (DescentInputs, DescentKnobs, DescentOutcome, Run, _batch_size,
                                   outcome_of, run_to_end)
from runner.pacing import call_sizes

# the Run attributes stacked along a new first axis (jobs), then replaced by views of their rows:
# those with a starting value are copied, the trajectories (written by the kernel before they are
# read) are only allocated (copying ~100 KB of uninitialised memory per job cost more than the steps)
_STACKED = ("theta", "state", "sstate", "sched_state", "g", "Xb", "yb", "perm")
_ALLOCATED = ("traj_theta", "traj_grad", "loss", "grad_norm", "lr")


def batch_key(run: Run) -> tuple:
    """Runs with equal keys can share one kernel call: the same objective and data, the same
    array shapes (steps, kept iterates, optimizer state, mini-batch buffers), and the same loop
    (a problem's own loop for plain GD, Problem.gd_loop, rounds differently from the generic step)."""
    p, k, i = run.problem, run.knobs, run.inputs
    return (id(p.value_grad), _digest(p.P), _digest(p.X), _digest(p.y), p.dim,
            k.steps, k.record_params, i.opt_id, i.batch, run.fast is not None)


def _digest(a: np.ndarray) -> tuple:
    return (a.shape, a.dtype.str, hash(np.ascontiguousarray(a).tobytes()))


def prepare(problem, optim_obj, sched_obj, knobs: DescentKnobs, seed: int) -> Run:
    """One job's Run, as :func:`runner.descent.driver.minimise` makes it."""
    batch = _batch_size(knobs, optim_obj.name, problem)
    return Run(problem, DescentInputs.from_config(optim_obj, sched_obj, batch, seed), knobs)


class Batch:
    """The stacked state of runs that share a :func:`batch_key`; :meth:`step` advances them all."""

    def __init__(self, runs: Sequence[Run]):
        self.runs = list(runs)
        first = self.runs[0]
        self.problem = first.problem
        for name in _STACKED + _ALLOCATED:
            if name in _STACKED:
                stacked = np.ascontiguousarray(np.stack([getattr(r, name) for r in self.runs]))
            else:
                stacked = np.empty((len(self.runs),) + getattr(first, name).shape)
            setattr(self, name, stacked)
            for j, r in enumerate(self.runs):
                setattr(r, name, stacked[j])
        i = [r.inputs for r in self.runs]
        self.opt_id = np.array([x.opt_id for x in i], dtype=np.int64)
        self.hp = np.ascontiguousarray(np.stack([x.hp for x in i]))
        self.sched_id = np.array([x.sched_id for x in i], dtype=np.int64)
        self.sp = np.ascontiguousarray(np.stack([x.sp for x in i]))
        self.base_lr = np.array([x.lr for x in i])
        self.clip = np.array([x.clip for x in i])
        self.batch_size = np.array([x.batch for x in i], dtype=np.int64)
        self.seed = np.array([x.seed for x in i], dtype=np.int64)
        self.t = np.zeros(len(self.runs), dtype=np.int64)
        self.status = np.full(len(self.runs), descent.RUNNING, dtype=np.int64)
        k = [r.knobs for r in self.runs]
        self.total_steps = np.array([x.steps for x in k], dtype=np.int64)
        self.grad_tol = np.array([x.grad_tol for x in k])
        self.explode = np.array([r.explode_and_ref()[0] for r in self.runs])
        self.loss_ref = np.array([r.explode_and_ref()[1] for r in self.runs])
        self.theta_every = np.array([r.theta_every for r in self.runs], dtype=np.int64)

    def step(self, n_steps: int) -> None:
        from kernels.batch import descend_batch

        p = self.problem
        descend_batch(p.value_grad, p.P, p.X, p.y,
                      self.theta, self.state, self.sstate, self.opt_id, self.hp,
                      self.sched_id, self.sp, self.sched_state, self.base_lr, self.clip,
                      self.batch_size, self.seed,
                      self.t, self.status, n_steps, self.total_steps, self.grad_tol, self.explode, self.loss_ref,
                      self.traj_theta, self.traj_grad, self.theta_every, self.loss, self.grad_norm, self.lr,
                      self.g, self.Xb, self.yb, self.perm)
        for j, r in enumerate(self.runs):
            r.t = int(self.t[j])

    @property
    def running(self) -> bool:
        return bool((self.status == descent.RUNNING).any())


def minimise_batch(runs: Sequence[Run]) -> List[DescentOutcome]:
    """Run every job of ``runs`` (sharing one :func:`batch_key`) to its end in one kernel call
    per chunk of steps (chunks of about CHUNK_SECONDS, so Ctrl-C is seen between them); their
    outcomes, in order.  After Ctrl-C, the jobs that had not stopped end KILLED with what they
    computed, as a single run does.  Runs that take their problem's own GD loop run one by one
    through it (microseconds each), as they would alone."""
    if runs[0].fast is not None:
        return [run_to_end(run, lambda total, desc: None) for run in runs]
    batch = Batch(runs)
    tic = time.perf_counter()
    batch.step(0)    # loads the cached kernel; does no step
    compile_s = time.perf_counter() - tic
    interrupted = False
    try:
        for chunk in call_sizes(min(int(batch.total_steps.max()), 1000), 100, 50_000_000):
            if not batch.running:
                break
            batch.step(chunk)
    except KeyboardInterrupt:
        interrupted = True
    outcomes = []
    for j, run in enumerate(batch.runs):
        status = int(batch.status[j])
        if interrupted and status == descent.RUNNING:
            run.finish_interrupted()
            outcomes.append(outcome_of(run, None, float("nan")))
        else:
            outcomes.append(outcome_of(run, status, compile_s))
    return outcomes

