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

from kernels.mlp import _act, _activate, _batch_delta, _dact
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


@njit(cache=True)
def _cnn_forward(theta, P, X):
    """The forward pass of cnn_value_grad's network: the filters' pre-activations Zc and
    activations Ac (n x C*N), the read-out's pre-activations Z and outputs A (n x n_out)."""
    C, K, act, out_act, n_out = int(P[0]), int(P[1]), int(P[2]), int(P[3]), int(P[4])
    alpha = P[7]
    n, N = X.shape
    F = C * N
    wo = C * K + C
    bo = wo + n_out * F
    Zc = np.empty((n, F))
    Ac = np.empty((n, F))
    y_conv = np.empty(N)
    for r in range(n):
        for c in range(C):
            conv1d(X[r], theta[c * K:(c + 1) * K], y_conv)
            for j in range(N):
                z = y_conv[j] + theta[C * K + c]
                Zc[r, c * N + j] = z
                Ac[r, c * N + j] = _act(act, z, alpha)
    Z = np.dot(Ac, theta[wo:bo].reshape((n_out, F)).T)
    for r in range(n):
        for k in range(n_out):
            Z[r, k] += theta[bo + k]
    return Zc, Ac, Z, _activate(out_act, Z, alpha)


@njit(OBJECTIVE_SIG, cache=True)
def cnn_value_grad(theta, grad_out, P, X, y):
    """A 1-D convolutional network on signals (rows of X, length N): C filters of width K in the
    convolution convention above, bias and activation per filter, then a dense read-out of the
    C x N features to the output layer and loss of kernels.mlp.
    P = [C, K, act, out_act, n_out, loss, l2, alpha];
    theta = [w (C x K), b (C), W_out (n_out x C*N), b_out (n_out)]."""
    C, K, act, out_act, n_out = int(P[0]), int(P[1]), int(P[2]), int(P[3]), int(P[4])
    alpha = P[7]
    n, N = X.shape
    F = C * N
    wo = C * K + C
    bo = wo + n_out * F
    grad_out[:] = 0.0
    Zc, Ac, Z, A = _cnn_forward(theta, P, X)
    W = theta[wo:bo].reshape((n_out, F))
    Pm = np.zeros(5)
    Pm[2] = P[5]
    Pm[4] = alpha
    D = np.empty((n, n_out))
    loss = _batch_delta(Pm, Z, A, y, out_act, D)
    inv = 1.0 / max(n, 1)
    gW = np.dot(D.T, Ac)
    for k in range(n_out):
        s = 0.0
        for r in range(n):
            s += D[r, k]
        grad_out[bo + k] = s * inv
        for f in range(F):
            grad_out[wo + k * F + f] = gW[k, f] * inv
    dF = np.dot(D, W)
    gx = np.empty(N)
    gw = np.empty(K)
    dy = np.empty(N)
    for r in range(n):
        for c in range(C):
            for j in range(N):
                dy[j] = dF[r, c * N + j] * _dact(act, Zc[r, c * N + j], Ac[r, c * N + j], alpha)
                grad_out[C * K + c] += dy[j] * inv
            conv1d_backward(X[r], theta[c * K:(c + 1) * K], dy, gx, gw)
            for m in range(K):
                grad_out[c * K + m] += gw[m] * inv
    loss *= inv
    lam = P[6]
    if lam > 0:
        for k in range(C * K):
            loss += lam * theta[k] * theta[k]
            grad_out[k] += 2.0 * lam * theta[k]
        for k in range(wo, bo):
            loss += lam * theta[k] * theta[k]
            grad_out[k] += 2.0 * lam * theta[k]
    return loss


@njit(cache=True)
def cnn_predict(theta, P, X, out):
    """Output-layer activations of cnn_value_grad's network for every row of X into out."""
    out[:, :] = _cnn_forward(theta, P, X)[3]
