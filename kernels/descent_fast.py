"""Specialised descent loops for plain gradient descent at a constant learning rate on all the
data: the signature every such loop has (GD_LOOP_SIG, what ``Problem.gd_loop`` holds), the
general loop they share (``_gd_rows``), and the loop for a quadratic (every worked example of
the tutorial's GD section); kernels/train_fast.py has the one for networks.

They take the same state and trajectory arrays as :func:`kernels.descent.descend` and record
the same rows; what they drop is the per-step indirection of the generic loop: the objective
is called directly (and inlined by LLVM), there is no optimizer or schedule dispatch and no
mini-batching.

For one variable the update x - lr (S x + b) is computed as a x + c with a = 1 - lr S and
c = -lr b: one multiply and one add on the loop-carried path instead of a multiply, an add and
a multiply-add (a multiply and add chained on themselves take 1.63 ns here,
``benchmarks/bench_train.py --latency``: the unfolded step could not pass 3e8 steps/s).  The
same step, rounded differently: iterates agree with the generic loop to a few units in the
last place (tested), and the gradient, loss and gradient norm recorded are those of the
iterate recorded.
"""
from numba import njit, types

# Inlined here (inline="always"); the on-disk cache is checked against the whole package
# (kernels/_cache.py), so a change to them in kernels/descent.py recompiles this module too.
from kernels.descent import RUNNING, _final, _norm, _record, _stop
from kernels.objectives import quadratic_value_grad
from kernels.signatures import MAT, VEC

_I64 = types.int64
_F64 = types.float64
# A problem's loop for full-batch GD at a constant lr (runner.problems.Problem.gd_loop): the
# problem's P, X, y, then what descend takes for these steps; returns (status, t) like descend.
GD_LOOP_SIG = types.UniTuple(_I64, 2)(
    VEC, MAT, VEC, VEC, _F64,              # P, X, y, theta, lr
    _I64, _I64, _I64, _F64, _F64, _F64,    # t0, n_steps, total_steps, grad_tol, explode, loss_ref
    MAT, MAT, _I64, VEC, VEC, VEC,         # traj_theta, traj_grad, theta_every, traj_loss, traj_grad_norm, traj_lr
    VEC,                                   # scratch gradient
)


@njit(cache=True)
def _scalar_steps(P, theta, lr, t0, t_end, grad_tol, explode, loss_ref,
                  traj_theta, traj_grad, traj_loss, traj_gnorm, traj_lr):
    """The loop below for one variable, every row recorded, with the iterate in a register
    and the update folded into one multiply-add (see the module docstring)."""
    S, b, c = P[1], P[2], P[3]
    a = 1.0 - lr * S
    shift = -lr * b
    # one test per step sends every row that might stop the run (non-finite, exploding or
    # converged) back to the general loop, which re-evaluates it and decides; NaN fails both
    # comparisons, and lim is finite so that an infinite loss fails the first
    lim = min(explode, 1.7976931348623157e308)
    x = theta[0]
    for t in range(t0 + 1, t_end + 1):
        s = 0.0 + S * x
        gi = s + b
        loss = c + (0.5 * x * s + b * x)
        gnorm = abs(gi)
        k = t - 1
        if not (abs(loss - loss_ref) < lim and gnorm > grad_tol):
            theta[0] = x
            return RUNNING, k
        traj_loss[k] = loss
        traj_gnorm[k] = gnorm
        traj_lr[k] = lr
        traj_theta[k, 0] = x
        traj_grad[k, 0] = gi
        x = a * x + shift
    theta[0] = x
    return RUNNING, t_end


@njit(cache=True, inline="always")
def _gd_rows(value_grad, P, X, y, theta, lr, t0, t_end, total_steps, grad_tol, explode, loss_ref,
             traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr, g):
    """descend's loop for plain GD at a constant lr on the full data, with ``value_grad`` (a
    jitted objective of the protocol) called directly: the rows a fast loop hands back and the
    final row."""
    for t in range(t0 + 1, t_end + 1):
        loss = value_grad(theta, g, P, X, y)
        gnorm = _norm(g)
        stop = _stop(t - 1, theta, g, loss, gnorm, grad_tol, explode, loss_ref,
                     traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr)
        if stop != RUNNING:
            return stop, t - 1
        if theta_every == 1:     # the default: no modulo on the hot path
            k = t - 1
            traj_loss[k] = loss
            traj_gnorm[k] = gnorm
            traj_lr[k] = lr
            for i in range(theta.size):
                traj_theta[k, i] = theta[i]
                traj_grad[k, i] = g[i]
        else:
            _record(t - 1, theta, g, loss, gnorm, lr, traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr)
        for i in range(theta.size):
            theta[i] = theta[i] + (-lr) * g[i]
    if t_end < total_steps:
        return RUNNING, t_end
    loss = value_grad(theta, g, P, X, y)
    return _final(total_steps, theta, g, loss, explode, loss_ref,
                  traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr), total_steps


@njit(GD_LOOP_SIG, cache=True)
def gd_quadratic(P, X, y, theta, lr, t0, n_steps, total_steps, grad_tol, explode, loss_ref,
                 traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr, g):
    """Steps t0+1 .. t0+n_steps of GD on f = 1/2 x'Sx + b'x + c (no data: X and y are empty);
    returns (status, t) like descend."""
    t_end = min(t0 + n_steps, total_steps)
    if theta.size == 1 and theta_every == 1:
        _, t = _scalar_steps(P, theta, lr, t0, t_end, grad_tol, explode, loss_ref,
                             traj_theta, traj_grad, traj_loss, traj_gnorm, traj_lr)
        t0 = t      # t < t_end: row t needs a decision the general loop below makes
    return _gd_rows(quadratic_value_grad, P, X, y, theta, lr, t0, t_end, total_steps,
                    grad_tol, explode, loss_ref, traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr, g)
