"""Full-batch GD at a constant lr on an MLP runs in kernels/train_fast.py: width-1 networks
(the tutorial's 1-1-1) in a register loop, the others through the objective called directly.
Both must give the generic descent kernel's trajectory bit for bit: the same rows, statuses and
iterates, in one call or in chunks, whatever the activations, loss, bias, L2, data size,
recording interval, and whether the run completes, converges or diverges."""
import numpy as np
import pytest
from conftest import descent_outcome

from kernels import mlp as K
from kernels.train_fast import gd_mlp
from runner.config.optim import OPTIM_SCHEMAS, SCHEDULE_SCHEMAS, schedule_to_kernel, to_kernel
from runner.problems.problem import Problem
from runner.descent.driver import DescentInputs, Run
from runner.tasks.train import TrainKnobs

ACTS = {"identity": K.IDENTITY, "sigmoid": K.SIGMOID, "tanh": K.TANH, "relu": K.RELU, "leaky_relu": K.LEAKY_RELU}
LOSSES = {"mse": K.MSE, "bce": K.BCE, "hinge": K.HINGE, "logistic": K.LOGISTIC}


def make_run(sizes, acts, loss, bias, n, lr, steps, *, l2=0.0, grad_tol=0.0, every=1, seed=0, fast=True):
    rng = np.random.default_rng(seed)
    L = len(sizes) - 1
    P = np.array([L, 1.0 if bias else 0.0, LOSSES[loss], l2, 0.05, *sizes, *(ACTS[a] for a in acts)], float)
    count = sum(sizes[i + 1] * sizes[i] + (sizes[i + 1] if bias else 0) for i in range(L))
    X = rng.normal(size=(n, sizes[0]))
    if loss == "bce":
        y = rng.integers(0, 2, n).astype(float)
    elif loss in ("hinge", "logistic"):
        y = rng.choice([-1.0, 1.0], n)
    else:
        y = rng.uniform(size=n * sizes[-1])
    problem = Problem("mlp", "test", count, rng.normal(scale=0.8, size=count), K.mlp_value_grad, None, P, X, y,
                      [], [], n, gd_loop=gd_mlp)
    opt_id, hp = to_kernel(OPTIM_SCHEMAS["gd"](lr=lr))
    sched_id, sp = schedule_to_kernel(SCHEDULE_SCHEMAS["constant"]())
    run = Run(problem, DescentInputs(opt_id, hp, sched_id, sp, lr),
              TrainKnobs(steps=steps, grad_tol=grad_tol, batch_size=None, record_params=every))
    assert run.fast is gd_mlp
    run.fast = gd_mlp if fast else None
    return run


def assert_same(case, kwargs, chunks):
    a = descent_outcome(make_run(*case, **kwargs, fast=True), chunks)
    b = descent_outcome(make_run(*case, **kwargs, fast=False), chunks)
    assert a[:2] == b[:2]
    for x, y in zip(a[2:], b[2:]):
        np.testing.assert_array_equal(x, y)
    return a


WIDTH_ONE = [
    # sizes, activations, loss, bias, rows, lr, steps
    ([1, 1, 1], ["sigmoid", "sigmoid"], "mse", True, 1, 0.1, 400),        # the tutorial's network
    ([1, 1], ["sigmoid"], "mse", True, 1, 0.5, 300),                        # one neuron (practice problem 2)
    ([1, 1, 1, 1], ["tanh", "relu", "identity"], "mse", False, 5, 0.05, 300),
    ([1, 1, 1], ["leaky_relu", "sigmoid"], "bce", True, 6, 0.3, 300),
    ([1, 1, 1], ["tanh", "identity"], "hinge", True, 4, 0.1, 300),
    ([1, 1, 1], ["sigmoid", "identity"], "logistic", False, 3, 0.2, 300),
    ([1] * 9, ["tanh"] * 8, "mse", True, 2, 0.1, 200),                       # 18 parameters: _norm's partial sums
    ([1] * 33, ["tanh"] * 31 + ["identity"], "mse", True, 3, 0.05, 100),     # MAX_CHAIN layers: the most scratch
]


@pytest.mark.parametrize("case", WIDTH_ONE)
@pytest.mark.parametrize("chunks", [[10_000], [0, 37, 1, 100, 10_000]])
def test_width_one_loop_matches_the_generic_loop(case, chunks):
    status, t, *_ = assert_same(case, {}, chunks)
    assert t == case[-1]


@pytest.mark.parametrize("kwargs", [{"l2": 0.01}, {"every": 7}, {"every": 0}])
def test_width_one_loop_with_l2_and_thinned_iterates(kwargs):
    assert_same(WIDTH_ONE[0], kwargs, [0, 50, 10_000])


def test_width_one_loop_stops_as_the_generic_loop():
    from kernels.descent import CONVERGED, DIVERGED

    converged = assert_same(([1, 1], ["identity"], "mse", True, 1, 0.2, 5_000), {"grad_tol": 1e-6}, [0, 13, 10_000])
    assert converged[0] == CONVERGED and 0 < converged[1] < 5_000
    diverged = assert_same(([1, 1, 1], ["identity", "identity"], "mse", True, 4, 3.0, 5_000), {}, [10_000])
    assert diverged[0] == DIVERGED and 0 < diverged[1] < 100


def test_other_networks_take_the_direct_loop():
    """Wider networks are not width-1: gd_mlp steps them with mlp_value_grad called directly."""
    from kernels.train_fast import is_chain

    case = ([2, 3, 1], ["tanh", "sigmoid"], "mse", True, 5, 0.1, 200)
    assert not is_chain(make_run(*case).problem.P)
    assert_same(case, {}, [0, 37, 10_000])


def test_is_chain():
    from kernels.train_fast import MAX_CHAIN, is_chain

    def P(sizes, out=K.SIGMOID, loss=K.MSE):
        L = len(sizes) - 1
        return np.array([L, 1.0, loss, 0.0, 0.05, *sizes, *([K.TANH] * (L - 1) + [out])], float)

    assert is_chain(P([1, 1, 1])) and is_chain(P([1, 1])) and is_chain(P([1] * (MAX_CHAIN + 1)))
    assert not is_chain(P([1] * (MAX_CHAIN + 2)))
    assert not is_chain(P([1, 2, 1])) and not is_chain(P([2, 1]))
    assert not is_chain(P([1, 1], out=K.SOFTMAX, loss=K.CCE))


def _seed_network(*overrides):
    from conftest import compose

    from runner import app
    from runner.train.data import load

    cfg = compose(["+experiment=seed/backprop_111", *overrides])
    _, validated = app.validate(cfg)
    return validated["model"].network(load(validated["data"], 0), 0).problem


def test_the_tutorials_network_runs_the_width_one_loop():
    """The train task's float64 networks bring the loop, float32 ones do not (their objective is
    another); the seed experiment's network and optimizer qualify (else it would silently run
    the generic loop): one step from the tutorial's weights gives its updated weights."""
    assert _seed_network("model.precision=float32").gd_loop is None
    problem = _seed_network()
    assert problem.gd_loop is gd_mlp
    opt_id, hp = to_kernel(OPTIM_SCHEMAS["gd"](lr=0.1))
    sched_id, sp = schedule_to_kernel(SCHEDULE_SCHEMAS["constant"]())
    run = Run(problem, DescentInputs(opt_id, hp, sched_id, sp, 0.1), TrainKnobs(steps=1, batch_size=None))
    assert run.fast is gd_mlp
    run.step(1)
    np.testing.assert_allclose(run.theta, [0.4006, 0.1011, 0.6045, 0.2078], atol=6e-5)
    np.testing.assert_allclose(run.loss[0], 0.028, atol=5e-4)


def test_width_one_loop_takes_the_steps_itself():
    """The register loop really runs (else the tests above would compare the generic loop with
    itself): on a run that neither stops nor diverges it returns only at the last row."""
    from kernels.train_fast import _chain_steps

    for case in WIDTH_ONE:
        run = make_run(*case)
        p, tt = run.problem, run.traj_theta
        steps = case[-1]                              # the trajectory has room for this many rows
        k = _chain_steps(p.P, p.X, p.y, run.theta, case[5], 0, steps, 0.0, 1e300, run.loss_ref,
                         tt, run.traj_grad, run.theta_every, run.loss, run.grad_norm, run.lr,
                         int(p.P[0]), p.P[1] > 0.5)
        assert k == steps, case
