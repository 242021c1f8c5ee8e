"""Plain GD at a constant learning rate on a float64 MLP, full batch: width-1 networks (every
layer one unit wide, as the tutorial's 1-1-1 network x -> sigmoid(w1 x + b1) -> sigmoid(w2 h + b2))
in a register loop, the others with ``mlp_value_grad`` called directly.

Through the generic descent loop a step of the 1-1-1 network costs 110-135 ns, most of it not
arithmetic: the objective called through a function pointer, the network's shape read from P
and walked layer by layer through arrays, the optimizer and schedule dispatch.  Here the layer
loop carries the activation in a register, the loss is computed on scalars (``mlp.loss1``) and
the parameters stay in stack scratch between steps (~55 ns a step).  Every number is computed as
``mlp_value_grad`` and ``descend`` compute it, in the same order: the trajectories are
bit-identical (tests/test_train_fast.py).

What is left is the chain of dependent operations one step is made of: per layer an ``exp``
(9.7 ns in a chain of them here) and ``1 / (1 + e)`` (4.4 ns), then the backward pass and the
update, all on the loop-carried path (``benchmarks/bench_train.py --latency``).
"""
from numba import njit

# Inlined here (inline="always"); the on-disk cache is checked against the whole package
# (kernels/_cache.py), so a change to them in kernels/mlp.py or kernels/descent*.py recompiles this.
from kernels.descent import _norm, _record
from kernels.descent_fast import GD_LOOP_SIG, _gd_rows
from kernels.mlp import CCE, HEADER, SOFTMAX, _act, _dact, loss1, mlp_value_grad
from kernels.stack import stack_matrix

MAX_CHAIN = 32                    # layers
_CHAIN_SCRATCH = 4 * MAX_CHAIN    # float64s: room for 2 x d (d <= 2 MAX_CHAIN) and 2 x (L + 1)


@njit(cache=True)
def is_chain(P):
    """Whether gd_mlp's register loop takes the network of P (mlp layout): every layer one unit
    wide, no softmax, at most MAX_CHAIN layers (the loss is then single-output, never CCE)."""
    L = int(P[0])
    if L < 1 or L > MAX_CHAIN or int(P[2]) == CCE:
        return False
    for l in range(L + 1):
        if int(P[HEADER + l]) != 1:
            return False
    for l in range(L):
        if int(P[HEADER + L + 1 + l]) == SOFTMAX:
            return False
    return True


@njit(cache=True, _nrt=False, inline="always")
def _chain_steps(P, X, y, theta, lr, t0, t_end, grad_tol, explode, loss_ref,
                 traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr, L, bias):
    """GD steps t0+1 .. t_end on a width-1 network (is_chain), every number as mlp_value_grad
    and descend compute it, in the same order, but with the layer loop carrying the activation in
    a register, the loss on scalars (mlp.loss1) and the parameters and gradient in stack scratch:
    no call, no dispatch, no array of the caller written until the step is recorded.  Returns
    the row k at which it stopped: t_end, or a row that might stop the run (non-finite, exploding
    or converged), which the general loop re-evaluates and decides.  L and bias are P's depth
    and bias flag; gd_mlp passes them as constants for the shallow networks, so that LLVM unrolls
    the layer loops and keeps the scratch in registers."""
    loss_code = int(P[2])
    lam = P[3]
    alpha = P[4]
    out_act = int(P[HEADER + 2 * L])
    step = 2 if bias else 1
    d = step * L                                  # theta.size
    S = stack_matrix(_CHAIN_SCRATCH, 2, L + 1)    # rows: z and a (a[0] = x) of each layer
    T = stack_matrix(_CHAIN_SCRATCH, 2, d)        # rows: theta, gradient (theta's layout)
    for i in range(d):
        T[0, i] = theta[i]
    n = X.shape[0]
    inv = 1.0 / n
    lim = min(explode, 1.7976931348623157e308)    # finite: an infinite loss fails the test below
    k = t0
    for t in range(t0 + 1, t_end + 1):
        k = t - 1
        for i in range(d):
            T[1, i] = 0.0
        loss = 0.0
        for r in range(n):
            a = X[r, 0]
            z = 0.0
            S[1, 0] = a
            for l in range(L):
                z = (T[0, step * l + 1] if bias else 0.0) + T[0, step * l] * a   # mlp.forward: b + w a
                a = _act(int(P[HEADER + L + 1 + l]), z, alpha)
                S[0, l] = z
                S[1, l + 1] = a
            row_loss, delta = loss1(loss_code, z, a, y[r], out_act, alpha)
            loss += row_loss
            for l in range(L - 1, -1, -1):
                T[1, step * l] += delta * S[1, l]
                if bias:
                    T[1, step * l + 1] += delta
                if l > 0:
                    delta = (delta * T[0, step * l]) * _dact(int(P[HEADER + L + l]), S[0, l - 1], S[1, l], alpha)
        if n > 1:
            loss *= inv
            for i in range(d):
                T[1, i] *= inv
        if lam > 0:                                       # mlp._l2: weights only
            for l in range(L):
                w = T[0, step * l]
                loss += lam * w * w
                T[1, step * l] += 2.0 * lam * w
        gnorm = _norm(T[1, :d])
        if not (abs(loss - loss_ref) < lim and gnorm > grad_tol):   # NaN fails both
            break
        _record(k, T[0, :d], T[1, :d], loss, gnorm, lr, traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr)
        for i in range(d):
            T[0, i] = T[0, i] + (-lr) * T[1, i]
        k = t
    for i in range(d):
        theta[i] = T[0, i]
    return k


@njit(GD_LOOP_SIG, cache=True)
def gd_mlp(P, X, y, theta, lr, t0, n_steps, total_steps, grad_tol, explode, loss_ref,
           traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr, g):
    """Steps t0+1 .. t0+n_steps of full-batch GD at a constant lr on an MLP (float64,
    mlp_value_grad); returns (status, t) like descend.  Width-1 networks (is_chain) step in
    _chain_steps; the rest, and the rows it hands back, in the general loop."""
    t_end = min(t0 + n_steps, total_steps)
    if is_chain(P):
        L, bias = int(P[0]), P[1] > 0.5
        if L == 2 and bias:         # the tutorial's 1-1-1 network: the same loop, depth and bias constant
            t0 = _chain_steps(P, X, y, theta, lr, t0, t_end, grad_tol, explode, loss_ref, traj_theta, traj_grad,
                              theta_every, traj_loss, traj_gnorm, traj_lr, 2, True)
        elif L == 1 and bias:       # one neuron
            t0 = _chain_steps(P, X, y, theta, lr, t0, t_end, grad_tol, explode, loss_ref, traj_theta, traj_grad,
                              theta_every, traj_loss, traj_gnorm, traj_lr, 1, True)
        else:
            t0 = _chain_steps(P, X, y, theta, lr, t0, t_end, grad_tol, explode, loss_ref, traj_theta, traj_grad,
                              theta_every, traj_loss, traj_gnorm, traj_lr, L, bias)
    return _gd_rows(mlp_value_grad, P, X, y, theta, lr, t0, t_end, total_steps, grad_tol, explode, loss_ref,
                    traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr, g)
