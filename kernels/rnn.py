"""An Elman RNN trained by backpropagation through time, and a 1-D convolution layer.

RNN (objective protocol of kernels.signatures): each row of X is a sequence x_1..x_T (scalar
inputs), y its target; h_0 = 0, h_t = tanh(W_h h_{t-1} + W_x x_t + b), yhat = w_o . h_T + c,
loss = mean over rows of (yhat - y)^2.
theta = [W_h (H x H, row-major), W_x (H), b (H), w_o (H), c];  P = [H].

Convolution (the tutorial's convention, as in PyTorch's Conv1d: a cross-correlation):
y_n = sum_m w_m x_{n+m}, n = 0..N-1, with x_j = 0 for j >= N ("same" length, zero padding on
the right).  Then dL/dw_m = sum_n g_n x_{n+m} and dL/dx_j = sum_m g_{j-m} w_m.
"""
import math

import numpy as np
from numba import njit

from kernels.signatures import OBJECTIVE_SIG


@njit(cache=True)
def _bptt(theta, grad_out, H, x, target, hs, dh_norms):
    """Loss of one sequence; adds its gradient into grad_out and ||dL/dh_t|| into dh_norms[t-1]."""
    T = x.size
    wh, wx, b, wo = 0, H * H, H * H + H, H * H + 2 * H
    c = H * H + 3 * H
    hs[0, :] = 0.0
    for t in range(1, T + 1):
        for i in range(H):
            z = theta[b + i] + theta[wx + i] * x[t - 1]
            for j in range(H):
                z += theta[wh + i * H + j] * hs[t - 1, j]
            hs[t, i] = math.tanh(z)
    yhat = theta[c]
    for i in range(H):
        yhat += theta[wo + i] * hs[T, i]
    e = yhat - target
    dy = 2.0 * e
    grad_out[c] += dy
    dh = np.empty(H)
    dz = np.empty(H)
    for i in range(H):
        grad_out[wo + i] += dy * hs[T, i]
        dh[i] = dy * theta[wo + i]
    for t in range(T, 0, -1):
        s = 0.0
        for i in range(H):
            s += dh[i] * dh[i]
            dz[i] = dh[i] * (1.0 - hs[t, i] * hs[t, i])
        dh_norms[t - 1] += math.sqrt(s)
        for i in range(H):
            grad_out[b + i] += dz[i]
            grad_out[wx + i] += dz[i] * x[t - 1]
            for j in range(H):
                grad_out[wh + i * H + j] += dz[i] * hs[t - 1, j]
        for j in range(H):
            s = 0.0
            for i in range(H):
                s += theta[wh + i * H + j] * dz[i]
            dh[j] = s
    return e * e


@njit(OBJECTIVE_SIG, cache=True)
def rnn_value_grad(theta, grad_out, P, X, y):
    H = int(P[0])
    n, T = X.shape
    hs = np.empty((T + 1, H))
    norms = np.zeros(T)
    grad_out[:] = 0.0
    loss = 0.0
    for r in range(n):
        loss += _bptt(theta, grad_out, H, X[r], y[r], hs, norms)
    inv = 1.0 / n if n > 0 else 0.0
    for k in range(grad_out.size):
        grad_out[k] *= inv
    return loss * inv


@njit(cache=True)
def hidden_grad_norms(theta, P, X, y, out):
    """out[t-1] = mean over rows of ||dL/dh_t||, t = 1..T: how the gradient reaching h_t fades
    (vanishes) as t moves away from the output at T."""
    H = int(P[0])
    n, T = X.shape
    hs = np.empty((T + 1, H))
    g = np.zeros(theta.size)
    out[:] = 0.0
    for r in range(n):
        _bptt(theta, g, H, X[r], y[r], hs, out)
    for t in range(T):
        out[t] /= max(n, 1)


@njit(cache=True)
def conv1d(x, w, y):
    """y_n = sum_m w_m x_{n+m} (x zero beyond its end)."""
    N, M = x.size, w.size
    for n in range(N):
        s = 0.0
        for m in range(M):
            if n + m < N:
                s += w[m] * x[n + m]
        y[n] = s


@njit(cache=True)
def conv1d_backward(x, w, gy, gx, gw):
    """Given g = dL/dy: gw_m = sum_n g_n x_{n+m}, gx_j = sum_m g_{j-m} w_m."""
    N, M = x.size, w.size
    gw[:] = 0.0
    gx[:] = 0.0
    for n in range(N):
        for m in range(M):
            if n + m < N:
                gw[m] += gy[n] * x[n + m]
                gx[n + m] += gy[n] * w[m]
