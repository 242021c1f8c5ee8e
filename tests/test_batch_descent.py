"""A batch of descents (kernels.batch, runner.descent.batch) gives every job the numbers of the
same job run alone, bit for bit: every optimizer, every schedule, mini-batch SGD with its seeded
shuffles, whatever the batch's other jobs and the thread count."""
from __future__ import annotations

import numba
import numpy as np
import pytest

from runner.config.optim import OPTIM_SCHEMAS, SCHEDULE_SCHEMAS
from runner.config.validate import validate_group, validate_node
from runner.descent.batch import batch_key, minimise_batch, prepare
from runner.descent.driver import DescentKnobs, descent_result, minimise
from runner.problems.catalog import PROBLEM_SCHEMAS, build_problem
from tests.conftest import NullProgress, compose


def _validated(*overrides):
    cfg = compose(list(overrides) + ["tracking=none"])
    optim = validate_group("optim", cfg.optim, OPTIM_SCHEMAS, "optim")
    sched = validate_group("schedule", cfg.schedule, SCHEDULE_SCHEMAS, "schedule")
    problem = validate_group("problem", cfg.problem, PROBLEM_SCHEMAS, "problem")
    knobs = validate_node("optimize", cfg.optimize, DescentKnobs, "optimize")
    return problem, optim, sched, knobs


def _alone(problem, optim, sched, knobs, seed):
    outcome = minimise(problem, optim, sched, knobs, seed, lambda total, desc: NullProgress())
    return descent_result(outcome, optim, sched)


def _same(a, b):
    assert a.status == b.status and a.message == b.message
    assert a.trajectory.keys() == b.trajectory.keys()
    for key in a.trajectory:
        np.testing.assert_array_equal(a.trajectory[key], b.trajectory[key], err_msg=key)
    assert a.final == b.final


def _batch_vs_alone(jobs, seeds):
    """jobs: (problem, optim, sched, knobs) validated; each run alone and all in one batch."""
    problems = [build_problem(j[0], s) for j, s in zip(jobs, seeds)]
    runs = [prepare(p, j[1], j[2], j[3], s) for p, j, s in zip(problems, jobs, seeds)]
    assert len({batch_key(r) for r in runs}) == 1
    batched = [descent_result(o, j[1], j[2]) for o, j in zip(minimise_batch(runs), jobs)]
    for (problem_obj, optim, sched, knobs), seed, p, b in zip(jobs, seeds, problems, batched):
        _same(_alone(p, optim, sched, knobs, seed), b)
    return batched


@pytest.mark.parametrize("optim", sorted(OPTIM_SCHEMAS))
def test_every_optimizer_batched_is_bit_identical_to_alone(optim):
    lrs = (1e-3, 3e-3, 1e-2)
    jobs = [_validated("problem=rosenbrock", f"optim={optim}", f"optim.lr={lr}", "optimize.steps=300")
            for lr in lrs]
    batched = _batch_vs_alone(jobs, [0] * len(jobs))
    assert len({r.final["loss"] for r in batched}) == len(lrs)   # the jobs really differ


@pytest.mark.parametrize("schedule", sorted(SCHEDULE_SCHEMAS))
def test_every_schedule_batched_is_bit_identical_to_alone(schedule):
    jobs = [_validated("problem=rosenbrock", "optim=momentum", f"schedule={schedule}", f"optim.lr={lr}",
                       "optimize.steps=250") for lr in (1e-4, 5e-4)]
    _batch_vs_alone(jobs, [0, 0])


def test_minibatch_sgd_batched_keeps_each_jobs_seeded_shuffles():
    over = ["problem=linreg", "problem.data.source=synthetic", "problem.data.n=50", "problem.data.seed=7",
            "optim=sgd", "optimize.batch_size=8", "optimize.steps=200"]
    jobs = [_validated(*over, f"optim.lr={lr}") for lr in (0.01, 0.01, 0.02)]
    batched = _batch_vs_alone(jobs, [0, 1, 2])
    # the seeds change the shuffles: equal lrs, different seeds, different paths
    assert not np.array_equal(batched[0].trajectory["loss"], batched[1].trajectory["loss"])


def test_a_diverging_job_stops_alone_and_the_batch_goes_on():
    jobs = [_validated("problem=rosenbrock", "optim=gd", f"optim.lr={lr}", "optimize.steps=400")
            for lr in (1e-3, 1.0, 2e-3)]
    batched = _batch_vs_alone(jobs, [0, 0, 0])
    assert [r.status for r in batched] == ["FINISHED", "DIVERGED", "FINISHED"]
    assert batched[0].info["steps"] == 400 and batched[1].info["steps"] < 400


def test_the_thread_count_does_not_change_a_number():
    jobs = [_validated("problem=rosenbrock", "optim=adam", f"optim.lr={lr}", "optimize.steps=200")
            for lr in np.geomspace(1e-3, 1e-1, 7)]

    def batched():
        problems = [build_problem(j[0], 0) for j in jobs]
        runs = [prepare(p, *j[1:], 0) for p, j in zip(problems, jobs)]
        return [descent_result(o, j[1], j[2]) for o, j in zip(minimise_batch(runs), jobs)]

    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = batched()
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = batched()
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one, many):
        _same(a, b)


def test_plain_gd_on_a_quadratic_batched_matches_its_specialised_loop():
    """Alone, full-batch GD at a constant lr takes the problem's own loop (Problem.gd_loop);
    batched, the generic step: the same arithmetic, so the same numbers."""
    jobs = [_validated("problem=quadratic", "optim=gd", f"optim.lr={lr}", "optimize.steps=100")
            for lr in (0.01, 0.05)]
    assert build_problem(jobs[0][0], 0).gd_loop is not None
    _batch_vs_alone(jobs, [0, 0])
