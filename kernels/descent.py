"""The descent loop: optimizer steps on any objective, resumable in chunks.

One cached kernel serves every problem (named, expression, data-driven, neural network):
the objective arrives as a first-class function of the fixed signature in
``kernels.signatures`` and the optimizer and schedule as integer ids plus parameter vectors.
All state (parameters, optimizer moments, schedule state, the step counter) is explicit,
so the caller can run the loop in chunks (for progress and Ctrl-C) with results identical
to one long call.

Trajectory convention (row k describes the iterate before step k+1)::

    traj_loss[k]      = f(theta_k)            on the batch used for step k+1
    traj_grad_norm[k] = ||grad f(theta_k)||   before clipping
    traj_lr[k]        = learning rate used for step k+1 (NaN on the final row)
    traj_theta[k]     = theta_k               (every ``theta_every``-th row only)
    traj_grad[k]      = grad f(theta_k)       (same rows as traj_theta)

A run of T steps fills rows 0..T; row T is evaluated on the full data.
"""
import numpy as np
from numba import njit, types

from kernels import optimizers, schedules
from kernels.rng import permutation, stream_key
from kernels.signatures import MAT, VEC, ObjectiveFn

RUNNING = 0     # chunk done, budget not exhausted
CONVERGED = 1   # gradient norm fell to the tolerance
DIVERGED = 2    # non-finite or exploding loss / gradient
COMPLETED = 3   # all steps done

_I64 = types.int64
_F64 = types.float64
_IVEC = types.int64[::1]

_SIG = types.UniTuple(_I64, 2)(
    ObjectiveFn, VEC, MAT, VEC,            # value_grad, P, X, y
    VEC, MAT, VEC, _I64, VEC,              # theta, opt state, opt scalar state, opt id, hyperparameters
    _I64, VEC, VEC, _F64, _F64,            # schedule id, schedule params, schedule state, base lr, clip norm
    _I64, _I64,                            # batch size (0 = full batch), shuffle seed
    _I64, _I64, _I64, _F64, _F64, _F64,    # t0, n_steps, total_steps, grad_tol, explode, loss_ref
    MAT, MAT, _I64, VEC, VEC, VEC,         # traj_theta, traj_grad, theta_every, traj_loss, traj_grad_norm, traj_lr
    VEC, MAT, VEC, _IVEC,                  # scratch: g, batch X, batch y, permutation
)


@njit(cache=True, inline="always")
def _norm(g):
    """||g||.  From 16 entries on, in eight interleaved partial sums added pairwise: one serial
    chain of additions took 21 µs for the 26,634 weights of a 64-128-128-10 network (4% of its
    float32 step), eight take 8.5 (``benchmarks/bench_train.py --parts``).  The order is fixed, so the result does not depend on the
    machine or the thread count; below 16 entries it is the plain left-to-right sum."""
    n = g.size
    if n < 16:
        s = 0.0
        for i in range(n):
            s += g[i] * g[i]
        return np.sqrt(s)
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    m = n - n % 8
    for i in range(0, m, 8):
        a0 += g[i] * g[i]
        a1 += g[i + 1] * g[i + 1]
        a2 += g[i + 2] * g[i + 2]
        a3 += g[i + 3] * g[i + 3]
        a4 += g[i + 4] * g[i + 4]
        a5 += g[i + 5] * g[i + 5]
        a6 += g[i + 6] * g[i + 6]
        a7 += g[i + 7] * g[i + 7]
    for i in range(m, n):
        a0 += g[i] * g[i]
    return np.sqrt(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)))


@njit(cache=True)
def _gather(X, y, perm, lo, hi, Xb, yb):
    """Copy rows perm[lo:hi] into the first hi-lo rows of the batch buffers."""
    k = X.shape[1]
    for r in range(hi - lo):
        src = perm[lo + r]
        yb[r] = y[src]
        for j in range(k):
            Xb[r, j] = X[src, j]


@njit(cache=True, inline="always")
def _record(k, theta, g, loss, gnorm, lr, traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr):
    traj_loss[k] = loss
    traj_gnorm[k] = gnorm
    traj_lr[k] = lr
    if theta_every > 0 and k % theta_every == 0:
        row = k // theta_every
        if row < traj_theta.shape[0]:
            for i in range(theta.size):
                traj_theta[row, i] = theta[i]
                traj_grad[row, i] = g[i]


@njit(cache=True, inline="always")
def _stop(k, theta, g, loss, gnorm, grad_tol, explode, loss_ref,
          traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr):
    """DIVERGED or CONVERGED (row k recorded, with no lr) if the run stops at theta_k, else RUNNING."""
    if not (np.isfinite(loss) and np.isfinite(gnorm)) or abs(loss - loss_ref) > explode:
        status = DIVERGED
    elif gnorm <= grad_tol:
        status = CONVERGED
    else:
        return RUNNING
    _record(k, theta, g, loss, gnorm, np.nan, traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr)
    return status


@njit(cache=True, inline="always")
def _final(total_steps, theta, g, loss, explode, loss_ref,
           traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr):
    """Record the final row (the last iterate on all the data); DIVERGED or COMPLETED."""
    gnorm = _norm(g)
    _record(total_steps, theta, g, loss, gnorm, np.nan, traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr)
    if not (np.isfinite(loss) and np.isfinite(gnorm)) or abs(loss - loss_ref) > explode:
        return DIVERGED
    return COMPLETED


# _nrt=False: descend allocates nothing (every array comes from the caller), and without NRT
# its array arguments and views are not reference counted on every call and step (7.9 vs
# 6.7 million steps/s on the 1-1-1 network, where a step is a few ns of arithmetic).  What it
# calls keeps its own setting: objectives that allocate are compiled with NRT.
@njit(_SIG, cache=True, _nrt=False)
def descend(value_grad, P, X, y,
            theta, state, sstate, opt_id, hp,
            sched_id, sp, sched_state, base_lr, clip_norm,
            batch_size, seed,
            t0, n_steps, total_steps, grad_tol, explode, loss_ref,
            traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr,
            g, Xb, yb, perm):
    """Run steps t0+1 .. t0+n_steps (1-based) of a ``total_steps`` run, in place.

    Returns ``(status, t)``: ``t`` is the number of optimizer steps applied so far.
    Divergence: the loss or gradient norm is non-finite, or ``|f - loss_ref| > explode``.
    Mini-batches (``0 < batch_size < n``): each epoch walks a fresh permutation drawn from
    the counter-based stream ``(seed, epoch)``, so the batches do not depend on chunking.
    """
    n = y.shape[0]
    minibatch = batch_size > 0 and batch_size < n
    batches_per_epoch = (n + batch_size - 1) // batch_size if minibatch else 1
    epoch_loaded = -1
    t_end = min(t0 + n_steps, total_steps)
    for t in range(t0 + 1, t_end + 1):
        if minibatch:
            epoch = (t - 1) // batches_per_epoch
            if epoch != epoch_loaded:
                permutation(n, stream_key(seed, epoch), perm)
                epoch_loaded = epoch
            lo = ((t - 1) % batches_per_epoch) * batch_size
            hi = min(lo + batch_size, n)
            _gather(X, y, perm, lo, hi, Xb, yb)
            loss = value_grad(theta, g, P, Xb[: hi - lo], yb[: hi - lo])
        else:
            loss = value_grad(theta, g, P, X, y)
        gnorm = _norm(g)
        stop = _stop(t - 1, theta, g, loss, gnorm, grad_tol, explode, loss_ref,
                     traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr)
        if stop != RUNNING:
            return stop, t - 1
        lr = schedules.lr_at(sched_id, sp, base_lr, t, total_steps, sched_state, loss)
        _record(t - 1, theta, g, loss, gnorm, lr, traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr)
        if clip_norm > 0.0 and gnorm > clip_norm:
            scale = clip_norm / gnorm
            for i in range(g.size):
                g[i] *= scale
        optimizers.update(opt_id, hp, theta, g, state, sstate, t, lr)
    if t_end < total_steps:
        return RUNNING, t_end
    # Final row: the last iterate, evaluated on all the data.
    loss = value_grad(theta, g, P, X, y)
    return _final(total_steps, theta, g, loss, explode, loss_ref,
                  traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr), total_steps
