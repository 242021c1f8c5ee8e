"""A multilayer perceptron's loss and gradient by backpropagation, as an objective of the
protocol in :mod:`kernels.signatures`, so the descent loop (every optimizer, schedules,
seeded mini-batches) trains it unchanged.

theta: for each layer l = 0..L-1, W_l (n_{l+1} x n_l, row-major) then b_l (n_{l+1}) if biased.
P = [L, bias (0/1), loss, l2, alpha, n_0, ..., n_L, act_0, ..., act_{L-1}]
Activations: IDENTITY, SIGMOID, TANH, RELU (derivative 0 at 0), LEAKY_RELU (alpha for z <= 0),
SOFTMAX (output layer only).  Losses, averaged over the rows of the batch, with the output
activation they require (checked by the caller):
  MSE       sum_k (yhat_k - t_k)^2                       any output
  BCE       -(t log yhat + (1 - t) log(1 - yhat))        sigmoid output, t in {0, 1};  dL/dz = yhat - t
  CCE       -log softmax(z)_c                            softmax output, t = class c;  dL/dz = yhat - onehot
  HINGE     max(0, 1 - s z)                              identity output, s in {-1, +1}
  LOGISTIC  log(1 + exp(-s z))                           identity output, s in {-1, +1}
plus l2 * sum of squared weights (not biases).  y holds the targets: one column per output
for MSE (y is (n * n_L,) flattened), else one value per row.

Length (over ~400 lines): the forward and backward passes in float64 and float32, batched and
row by row, share their layout, activation and loss helpers, which numba inlines across the
file; split, each half would import the other's private helpers.
"""
import math

import numpy as np
from numba import njit

from kernels.signatures import HESSIAN_SIG, OBJECTIVE_SIG
from kernels.stack import stack_matrix
from kernels.vmath import tanh_f64, tanh_f64_into

IDENTITY, SIGMOID, TANH, RELU, LEAKY_RELU, SOFTMAX = 0, 1, 2, 3, 4, 5
MSE, BCE, CCE, HINGE, LOGISTIC = 0, 1, 2, 3, 4
HEADER = 5


@njit(cache=True, inline="always")
def _act(code, z, alpha):
    if code == SIGMOID:
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
    if code == TANH:
        return tanh_f64(z)      # as the batched path computes it (within 2 ulp of math.tanh)
    if code == RELU:
        return z if z > 0 else 0.0
    if code == LEAKY_RELU:
        return z if z > 0 else alpha * z
    return z


@njit(cache=True, inline="always")
def _dact(code, z, a, alpha):
    """d act / dz at z, given a = act(z)."""
    if code == SIGMOID:
        return a * (1.0 - a)
    if code == TANH:
        return 1.0 - a * a
    if code == RELU:
        return 1.0 if z > 0 else 0.0
    if code == LEAKY_RELU:
        return 1.0 if z > 0 else alpha
    return 1.0


@njit(cache=True)
def layout(P):
    """(L, bias, sizes, acts, offsets of W_l in theta, widest layer)."""
    L = int(P[0])
    bias = P[1] > 0.5
    sizes = np.empty(L + 1, np.int64)
    acts = np.empty(L, np.int64)
    for l in range(L + 1):
        sizes[l] = int(P[HEADER + l])
    for l in range(L):
        acts[l] = int(P[HEADER + L + 1 + l])
    offsets = np.empty(L + 1, np.int64)
    offsets[0] = 0
    for l in range(L):
        offsets[l + 1] = offsets[l] + _layer_count(P, l)
    return L, bias, sizes, acts, offsets, sizes.max()


@njit(cache=True, inline="always")
def _layer(P, l):
    """(n_in, n_out, activation) of layer l, read from P without allocating."""
    L = int(P[0])
    return int(P[HEADER + l]), int(P[HEADER + l + 1]), int(P[HEADER + L + 1 + l])


@njit(cache=True, inline="always")
def _layer_count(P, l):
    """Parameters of layer l: n_out x n_in weights, plus n_out biases if biased."""
    n_in, n_out, _ = _layer(P, l)
    return n_out * n_in + (n_out if P[1] > 0.5 else 0)


@njit(cache=True, inline="always")
def widest(P):
    """The widest layer (inputs and outputs included)."""
    w = 0
    for l in range(int(P[0]) + 1):
        w = max(w, int(P[HEADER + l]))
    return w


@njit(cache=True, inline="always")
def forward(theta, P, x, A, Z):
    """Fill A[l, :n_l] (activations, A[0] = x) and Z[l, :n_{l+1}] (pre-activations).
    Allocates nothing."""
    L = int(P[0])
    bias = P[1] > 0.5
    alpha = P[4]
    for j in range(int(P[HEADER])):
        A[0, j] = x[j]
    w0 = 0
    for l in range(L):
        n_in, n_out, code = _layer(P, l)
        b0 = w0 + n_out * n_in
        for o in range(n_out):
            z = theta[b0 + o] if bias else 0.0
            for j in range(n_in):
                z += theta[w0 + o * n_in + j] * A[l, j]
            Z[l, o] = z
            A[l + 1, o] = _act(code, z, alpha)      # from the register, not a reload of Z
        if code == SOFTMAX:
            m = Z[l, 0]
            for o in range(n_out):
                m = max(m, Z[l, o])
            s = 0.0
            for o in range(n_out):
                A[l + 1, o] = math.exp(Z[l, o] - m)
                s += A[l + 1, o]
            for o in range(n_out):
                A[l + 1, o] /= s
        w0 = b0 + (n_out if bias else 0)


# tanh in float32 as XLA and Eigen compute it: a 13/6 rational function on [-c, c], exact
# sign and saturation outside; error within 3 ulps of float32 (tested against math.tanh).  A plain
# polynomial loop LLVM vectorises, where a call to tanhf per element does not.
_T_CLAMP = np.float32(7.90531110763549805)
_T_TINY = np.float32(0.0004)
_A1, _A3, _A5 = np.float32(4.89352455891786e-03), np.float32(6.37261928875436e-04), np.float32(1.48572235717979e-05)
_A7, _A9 = np.float32(5.12229709037114e-08), np.float32(-8.60467152213735e-11)
_A11, _A13 = np.float32(2.00018790482477e-13), np.float32(-2.76076847742355e-16)
_B0, _B2 = np.float32(4.89352518554385e-03), np.float32(2.26843463243900e-03)
_B4, _B6 = np.float32(1.18534705686654e-04), np.float32(1.19825839466702e-06)


@njit(cache=True, inline="always", error_model="numpy")
def tanh_f32(z):
    """tanh of a float32 by the rational approximation above (float32 in, float32 out)."""
    x = min(max(z, -_T_CLAMP), _T_CLAMP)
    x2 = x * x
    p = x2 * _A13 + _A11
    p = x2 * p + _A9
    p = x2 * p + _A7
    p = x2 * p + _A5
    p = x2 * p + _A3
    p = x2 * p + _A1
    p = x * p
    q = x2 * _B6 + _B4
    q = x2 * q + _B2
    q = x2 * q + _B0
    return z if abs(z) < _T_TINY else p / q


@njit(cache=True, error_model="numpy")
def _tanh_f32_into(F, G):
    """G = tanh_f32(F) elementwise; numpy's error model (no ZeroDivisionError branch) lets
    LLVM vectorise the loop (q >= 4.89e-3 > 0: it never divides by zero)."""
    for i in range(F.size):
        G[i] = tanh_f32(F[i])


@njit(cache=True)
def _activate(code, Z, alpha):
    n, m = Z.shape
    A = np.empty_like(Z)
    if code == SOFTMAX:
        for i in range(n):
            mx = Z[i, 0]
            for k in range(m):
                mx = max(mx, Z[i, k])
            s = 0.0
            for k in range(m):
                A[i, k] = math.exp(Z[i, k] - mx)
                s += A[i, k]
            for k in range(m):
                A[i, k] /= s
    elif code == TANH:
        if Z.itemsize == 4:     # float32
            _tanh_f32_into(Z.ravel(), A.ravel())
        else:                   # float64: vectorised, within 2 ulp (kernels/vmath.py)
            tanh_f64_into(Z.ravel(), A.ravel())
    else:
        for i in range(n):
            for k in range(m):
                A[i, k] = _act(code, Z[i, k], alpha)
    return A


@njit(cache=True, inline="always")
def loss1(loss_code, z, a, t, out_act, alpha):
    """(loss, dL/dz) of one row of a single-output network under any loss but CCE: z and a are
    its output pre-activation and activation, t its target.  The arithmetic _row_delta does for
    such rows, on scalars (the width-1 descent loop keeps them in registers)."""
    if loss_code == MSE:
        e = a - t
        return e * e, 2.0 * e * _dact(out_act, z, a, alpha)
    if loss_code == BCE:
        return max(z, 0.0) + math.log1p(math.exp(-abs(z))) - t * z, a - t
    if loss_code == HINGE:
        slack = 1.0 - t * z
        return (slack, -t) if slack > 0 else (0.0, 0.0)
    mz = -t * z                                        # LOGISTIC
    return max(mz, 0.0) + math.log1p(math.exp(-abs(mz))), -t * _act(SIGMOID, mz, alpha)


@njit(cache=True, inline="always")
def _row_delta(loss_code, n_out, z, a, y, i, out_act, alpha, delta):
    """Loss of one row (z[:n_out], a[:n_out]: its output pre-activations and activations,
    y[i...]: its target); dL/dz into delta[:n_out]."""
    if loss_code == MSE:
        loss = 0.0
        s = 0.0
        for k in range(n_out):
            e = a[k] - y[i * n_out + k]
            loss += e * e
            delta[k] = 2.0 * e * _dact(out_act, z[k], a[k], alpha)
            s += 2.0 * e * a[k]
        if out_act == SOFTMAX:
            for k in range(n_out):
                delta[k] = a[k] * (2.0 * (a[k] - y[i * n_out + k]) - s)
        return loss
    if loss_code == CCE:
        c = int(y[i])
        mx = z[0]
        for k in range(n_out):
            mx = max(mx, z[k])
        s = 0.0
        for k in range(n_out):
            s += math.exp(z[k] - mx)
            delta[k] = a[k]
        delta[c] -= 1.0
        return mx + math.log(s) - z[c]
    loss, delta[0] = loss1(loss_code, z[0], a[0], y[i], out_act, alpha)
    return loss


@njit(cache=True)
def _batch_delta(P, Z, A, y, out_act, delta):
    """Sum over the batch of the loss; dL/dz of every row at the output layer into delta."""
    loss_code = int(P[2])
    loss = 0.0
    for i in range(Z.shape[0]):
        loss += _row_delta(loss_code, Z.shape[1], Z[i], A[i], y, i, out_act, P[4], delta[i])
    return loss


@njit(cache=True)
def _times_dact(code, D, Z, A, alpha):
    """D *= act'(Z) elementwise (A = act(Z)); one loop per activation, so that the common ones
    vectorise (a branch on the code per element kept them scalar)."""
    n, m = D.shape
    if code == TANH:
        for i in range(n):
            for j in range(m):
                D[i, j] *= 1.0 - A[i, j] * A[i, j]
    elif code == SIGMOID:
        for i in range(n):
            for j in range(m):
                D[i, j] *= A[i, j] * (1.0 - A[i, j])
    else:
        for i in range(n):
            for j in range(m):
                D[i, j] *= _dact(code, Z[i, j], A[i, j], alpha)


@njit(cache=True, _nrt=True)
def _batched(W_all, grad_out, P, X, y):
    """Loss (summed over the batch, before the 1/n) and gradient of the data term: one matrix
    product per layer forward and two backward (BLAS), in the dtype of W_all and X (float64
    or float32); grad_out (float64) gets the gradient averaged over the batch."""
    L, bias, sizes, acts, off, width = layout(P)
    alpha = P[4]
    n = X.shape[0]
    grad_out[:] = 0.0
    loss = 0.0
    if n > 0:
        As = [X]
        Zs = [np.empty((0, 0), X.dtype)]
        for l in range(L):
            n_in, n_out = sizes[l], sizes[l + 1]
            W = W_all[off[l]: off[l] + n_out * n_in].reshape((n_out, n_in))
            Z = np.dot(As[l], W.T)
            if bias:
                b = W_all[off[l] + n_out * n_in: off[l + 1]]
                for i in range(n):
                    for k in range(n_out):
                        Z[i, k] += b[k]
            Zs.append(Z)
            As.append(_activate(acts[l], Z, alpha))
        D = np.empty((n, sizes[L]), X.dtype)
        loss = _batch_delta(P, Zs[L], As[L], y, acts[L - 1], D)
        inv = 1.0 / n
        loss *= inv
        for l in range(L - 1, -1, -1):
            n_in, n_out = sizes[l], sizes[l + 1]
            W = W_all[off[l]: off[l] + n_out * n_in].reshape((n_out, n_in))
            gW = np.dot(D.T, As[l])
            k0 = off[l]
            for o in range(n_out):
                for j in range(n_in):
                    grad_out[k0 + o * n_in + j] = gW[o, j] * inv
            if bias:        # column sums, walked row by row (contiguous; by column it strides through D)
                kb = k0 + n_out * n_in
                for o in range(n_out):
                    grad_out[kb + o] = 0.0
                for i in range(n):
                    for o in range(n_out):
                        grad_out[kb + o] += D[i, o]
                for o in range(n_out):
                    grad_out[kb + o] *= inv
            if l > 0:
                Dp = np.dot(D, W)
                _times_dact(acts[l - 1], Dp, Zs[l], As[l], alpha)
                D = Dp
    return loss


@njit(cache=True, inline="always")
def _l2(theta, grad_out, P, loss):
    """Add l2 * sum of squared weights (not biases) and its gradient."""
    lam = P[3]
    if lam > 0:
        w0 = 0
        for l in range(int(P[0])):
            n_in, n_out, _ = _layer(P, l)
            for k in range(w0, w0 + n_out * n_in):
                loss += lam * theta[k] * theta[k]
                grad_out[k] += 2.0 * lam * theta[k]
            w0 += _layer_count(P, l)
    return loss


# Networks no wider than SMALL_WIDTH whose scratch fits in SCRATCH float64s (on the stack)
# go row by row (_rows); larger ones through BLAS (_batched).  Below this width the BLAS calls
# and per-call arrays of _batched cost more than the arithmetic (measured: benchmarks/bench_train.py).
SMALL_WIDTH = 16
SCRATCH = 1024      # float64s of stack for each of A (L+1, W), Z (L, W) and D (2, W): 24 KB in all


@njit(cache=True, inline="always")
def is_small(P):
    """Whether mlp_value_grad takes the row-by-row path for the network of P."""
    W = widest(P)
    return W <= SMALL_WIDTH and (2 * int(P[0]) + 3) * W <= SCRATCH


# _nrt=False: the views of rows and layers are not reference counted (numba cannot prune the
# atomic increments and decrements across these loops: ~50 ns a call on a 1-1-1 network).
# Inlined into mlp_value_grad with _l2 (a call each: 92 -> 78 ns a 1-1-1 call here).
@njit(cache=True, _nrt=False, inline="always")
def _rows(theta, grad_out, P, X, y):
    """What _batched computes, one row at a time in scalar loops with the scratch on the stack
    (no BLAS, no allocation; needs is_small(P)): forward fills A and Z, the output delta goes to
    D[0], and each layer's gradient is accumulated before its delta is sent one layer down."""
    L = int(P[0])
    bias = P[1] > 0.5
    loss_code = int(P[2])
    alpha = P[4]
    W = widest(P)
    A = stack_matrix(SCRATCH, L + 1, W)
    Z = stack_matrix(SCRATCH, L, W)
    D = stack_matrix(SCRATCH, 2, W)
    n = X.shape[0]
    end = 0
    for l in range(L):
        end += _layer_count(P, l)
    for k in range(end):
        grad_out[k] = 0.0
    n_last = int(P[HEADER + L])
    out_act = int(P[HEADER + 2 * L])
    loss = 0.0
    for i in range(n):
        forward(theta, P, X[i], A, Z)
        loss += _row_delta(loss_code, n_last, Z[L - 1], A[L], y, i, out_act, alpha, D[0])
        cur = 0
        w0 = end
        for l in range(L - 1, -1, -1):
            n_in, n_out, _ = _layer(P, l)
            b0 = w0 - (n_out if bias else 0)
            w0 = b0 - n_out * n_in
            for o in range(n_out):
                d = D[cur, o]
                for j in range(n_in):
                    grad_out[w0 + o * n_in + j] += d * A[l, j]
                if bias:
                    grad_out[b0 + o] += d
            if l > 0:
                below = int(P[HEADER + L + l])      # activation of layer l - 1
                for j in range(n_in):
                    s = 0.0
                    for o in range(n_out):
                        s += D[cur, o] * theta[w0 + o * n_in + j]
                    D[1 - cur, j] = s * _dact(below, Z[l - 1, j], A[l, j], alpha)
                cur = 1 - cur
    if n > 1:       # (times 1.0 would change nothing)
        inv = 1.0 / n
        loss *= inv
        for k in range(end):
            grad_out[k] *= inv
    return loss


# _nrt=False: no reference counting of the arguments on entry (7 atomic increments and as
# many decrements, ~30 ns, numba does not prune them across the two paths); _batched sets
# _nrt=True, so that it and what it calls still allocate and free their arrays.
@njit(OBJECTIVE_SIG, cache=True, _nrt=False)
def mlp_value_grad(theta, grad_out, P, X, y):
    """Loss and gradient in float64: row by row for small networks (is_small), else the batch
    at once through BLAS (see _batched)."""
    if is_small(P):
        loss = _rows(theta, grad_out, P, X, y)
    else:
        loss = _batched(theta, grad_out, P, X, y)
    return _l2(theta, grad_out, P, loss)


@njit(OBJECTIVE_SIG, cache=True)
def mlp_value_grad_f32(theta, grad_out, P, X, y):
    """The batch at once in float32 (weights and batch rounded to float32 on entry; tanh by
    tanh_f32); the optimizer keeps its float64 master copy of the weights, the loss is summed
    in float64."""
    return _l2(theta, grad_out, P, _batched(theta.astype(np.float32), grad_out, P, X.astype(np.float32), y))


@njit(HESSIAN_SIG, cache=True)
def mlp_hessian(theta, H_out, P, X, y):
    """Central differences of the backprop gradient (networks have no closed-form Hessian here)."""
    d = theta.size
    g1 = np.empty(d)
    g2 = np.empty(d)
    t = theta.copy()
    for k in range(d):
        h = 1e-5 * max(1.0, abs(theta[k]))
        t[k] = theta[k] + h
        mlp_value_grad(t, g1, P, X, y)
        t[k] = theta[k] - h
        mlp_value_grad(t, g2, P, X, y)
        t[k] = theta[k]
        for j in range(d):
            H_out[j, k] = (g1[j] - g2[j]) / (2 * h)
    for j in range(d):
        for k in range(j + 1, d):
            s = 0.5 * (H_out[j, k] + H_out[k, j])
            H_out[j, k] = s
            H_out[k, j] = s


@njit(cache=True)
def predict(theta, P, X, out):
    """Output-layer activations for every row of X into out (n, n_L)."""
    L, bias, sizes, acts, off, width = layout(P)
    A = np.empty((L + 1, width))
    Z = np.empty((L, width))
    for i in range(X.shape[0]):
        forward(theta, P, X[i], A, Z)
        for k in range(sizes[L]):
            out[i, k] = A[L, k]
