"""The ``model`` config group of task=train, each model behind one small interface.

A model option is a schema (its keys and defaults) whose :meth:`network` builds, for a data
set, a :class:`Network`: the Problem the descent minimises (the loss over the training rows
as a numba ``value_grad``, the initial parameters as ``x0``) plus what the task needs to read
a result without knowing the kernel's layout: ``predict(theta, X)``, the number of outputs,
the layer sizes it reports, each layer's block of parameters (for per-layer gradient norms),
and optional diagnostics (the RNN's ||dL/dh_t||) and a forward trace (the tutorial's
one-point MLP).  Adding a model is one schema here, its kernels, ``conf/model/NAME.yaml``
and its tests; the task does not change.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from kernels import mlp as K
from runner.config.validate import in_range, non_negative, one_of
from runner.errors import ConfigError
from runner.problems.problem import Problem

ACTIVATIONS = {"identity": K.IDENTITY, "sigmoid": K.SIGMOID, "tanh": K.TANH, "relu": K.RELU,
               "leaky_relu": K.LEAKY_RELU, "softmax": K.SOFTMAX}
LOSSES = {"mse": K.MSE, "bce": K.BCE, "cce": K.CCE, "hinge": K.HINGE, "logistic": K.LOGISTIC}
NEEDS = {"bce": "sigmoid", "cce": "softmax", "hinge": "identity", "logistic": "identity"}


@dataclass
class Network:
    """A model built for one data set (see the module docstring)."""

    problem: Problem
    summary: str                                       # e.g. "mlp 2-16-16-1" (the run's info.problem)
    n_outputs: int
    predict: Callable[[np.ndarray, np.ndarray], np.ndarray]   # (theta, X) -> outputs (rows, n_outputs)
    targets: Callable[[np.ndarray], np.ndarray]        # y as the loss kernel reads it
    facts: Dict[str, object] = field(default_factory=dict)    # fixed entries of result.json final
    layer_blocks: List[int] = field(default_factory=list)     # parameters per layer, in theta's order
    forward: Optional[Callable[[np.ndarray, np.ndarray], dict]] = None        # (theta, x) -> {z, a}
    # (theta at the start, theta at the end) -> (final entries, metrics, plots)
    diagnostics: Optional[Callable[[np.ndarray, np.ndarray], Tuple[dict, dict, list]]] = None
    binary_threshold: float = 0.5                      # one output: class 1 above this
    labels: bool = True                                # outputs read as classes (accuracy)


def _check_head(m) -> None:
    """Activations, output and loss that exist and fit each other."""
    one_of("activation", m.activation, [a for a in ACTIVATIONS if a != "softmax"])
    one_of("output", m.output, list(ACTIVATIONS))
    one_of("loss", m.loss, list(LOSSES))
    non_negative("l2", m.l2)
    if m.loss in NEEDS and m.output != NEEDS[m.loss]:
        raise ConfigError("loss", f"'{m.loss}' needs output={NEEDS[m.loss]} (got output={m.output})")


def output_size(model, data) -> int:
    """How many outputs the loss needs on this data; ConfigError if they do not fit."""
    labels = data.y.ndim == 1 and data.y.size and (data.y >= 0).all() and (data.y == np.round(data.y)).all()
    if model.loss == "cce":
        if data.kind != "classification" and not labels:
            raise ConfigError("model.loss", "cce needs class labels 0..K-1 (a classification data set)")
        n_out = max(data.n_classes, int(data.y.max()) + 1)
    elif model.loss == "mse" and data.y.ndim == 2:
        n_out = data.y.shape[1]
    else:
        n_out = 1
    if model.loss in ("bce", "hinge", "logistic") and data.kind == "classification" and data.n_classes > 2:
        raise ConfigError("model.loss", f"'{model.loss}' is for two classes; this data has {data.n_classes}: use cce")
    if model.output == "softmax" and model.loss != "cce" and n_out == 1:
        raise ConfigError("model.output", "softmax over one output is constant; use sigmoid, or loss=cce")
    return n_out


def targets(y, model, n_out):
    """y as the kernel reads it: classes as -1/+1 for hinge/logistic, flattened rows for MSE."""
    y = np.asarray(y, dtype=float)
    if model.loss in ("hinge", "logistic"):
        return np.where(y > 0, 1.0, -1.0)
    if model.loss == "bce" and not np.isin(y, (0.0, 1.0)).all():
        raise ConfigError("data", "bce needs targets 0 or 1")
    return np.ascontiguousarray(y.reshape(-1))


def _given_or(weights, count: int, what: str, init: Callable[[], np.ndarray]) -> np.ndarray:
    """``model.weights`` when given (ConfigError unless it has ``count`` values), else ``init()``."""
    if weights is None:
        return init()
    if len(weights) != count:
        raise ConfigError("model.weights", f"expected {count} values{what}, got {len(weights)}")
    return np.array(weights, dtype=float)


def _threshold(model) -> float:
    return 0.0 if model.loss in ("hinge", "logistic") else 0.5


def _predictor(kernel, P, n_out):
    def predict(theta, X):
        out = np.zeros((X.shape[0], n_out))
        kernel(np.ascontiguousarray(theta), P, np.ascontiguousarray(X), out)
        return out
    return predict


@dataclass
class MLP:
    name: str = "mlp"
    hidden: List[int] = field(default_factory=lambda: [16, 16])
    activation: str = "tanh"          # hidden layers
    output: str = "sigmoid"           # output activation
    loss: str = "bce"
    bias: bool = True
    init: str = "xavier"              # xavier | he | normal
    init_sigma: float = 0.1           # normal: standard deviation
    weights: Optional[List[float]] = None   # the flat parameter vector (W_l row-major, then b_l, per layer)
    l2: float = 0.0
    alpha: float = 0.01               # leaky_relu slope for z <= 0
    precision: str = "float64"        # float64 | float32 (forward/backward in float32, weights kept in float64)

    def check(self):
        _check_head(self)
        one_of("init", self.init, ("xavier", "he", "normal"))
        one_of("precision", self.precision, ("float64", "float32"))
        if any(h < 1 for h in self.hidden):
            raise ConfigError("hidden", f"layer sizes must be >= 1, got {list(self.hidden)}")

    def network(self, data, seed: int) -> Network:
        """The loss over (X, y) as kernels.mlp's value_grad (layout ``P`` built here), x0 the
        initial parameters; ConfigError if sizes, outputs or labels do not fit the data."""
        from kernels.train_fast import gd_mlp

        n_out = output_size(self, data)
        sizes = [data.X.shape[1], *self.hidden, n_out]
        acts = [ACTIVATIONS[self.activation]] * len(self.hidden) + [ACTIVATIONS[self.output]]
        P = np.array([len(sizes) - 1, 1.0 if self.bias else 0.0, LOSSES[self.loss], self.l2, self.alpha,
                      *sizes, *acts], dtype=float)
        blocks = [sizes[i + 1] * sizes[i] + (sizes[i + 1] if self.bias else 0) for i in range(len(sizes) - 1)]
        count = sum(blocks)
        x0 = _given_or(self.weights, count, f" for layers {sizes} ({'with' if self.bias else 'without'} biases)",
                       lambda: init_weights(sizes, self, seed))
        names = [f"w{i + 1}" for i in range(count)] if count <= 3 else [f"theta{i}" for i in range(count)]
        f32 = self.precision == "float32"
        label = f"MLP {'-'.join(map(str, sizes))} ({self.activation}, {self.loss}, {self.precision})"
        problem = Problem("mlp", label, count, x0, K.mlp_value_grad_f32 if f32 else K.mlp_value_grad,
                          K.mlp_hessian, P, data.X, targets(data.y, self, n_out), names, [], data.X.shape[0],
                          gd_loop=None if f32 else gd_mlp)
        return Network(problem, f"mlp {'-'.join(map(str, sizes))}", n_out, _predictor(K.predict, P, n_out),
                       lambda y: targets(y, self, n_out), facts={"layers": sizes}, layer_blocks=blocks,
                       forward=lambda theta, x: forward_trace(P, theta, x),
                       binary_threshold=_threshold(self))


@dataclass
class CNN1D:
    """filters x (1-D convolution of width kernel_size, the tutorial's convention; bias;
    activation), then a dense read-out of all filters' outputs (kernels.rnn.cnn_value_grad)."""
    name: str = "cnn1d"
    filters: int = 4
    kernel_size: int = 3
    activation: str = "relu"
    output: str = "softmax"
    loss: str = "cce"
    init_sigma: float = 0.3
    weights: Optional[List[float]] = None
    l2: float = 0.0
    alpha: float = 0.01

    def check(self):
        in_range("filters", self.filters, 1, 256, hi_open=False)
        in_range("kernel_size", self.kernel_size, 1, 1024, hi_open=False)
        _check_head(self)

    def network(self, data, seed: int) -> Network:
        from kernels.rnn import cnn_predict, cnn_value_grad

        N = data.X.shape[1]
        n_out = output_size(self, data)
        C, Kw = self.filters, self.kernel_size
        count = C * Kw + C + n_out * C * N + n_out

        def init():
            rng = np.random.Generator(np.random.PCG64([seed, 13]))
            return np.concatenate([rng.standard_normal(C * Kw) * self.init_sigma, np.zeros(C),
                                   rng.standard_normal(n_out * C * N) * np.sqrt(2.0 / (C * N)), np.zeros(n_out)])

        x0 = _given_or(self.weights, count, "", init)
        P = np.array([C, Kw, ACTIVATIONS[self.activation], ACTIVATIONS[self.output], n_out, LOSSES[self.loss],
                      self.l2, self.alpha], dtype=float)
        problem = Problem("cnn1d", f"1-D CNN {C}x{Kw} -> {n_out} ({self.activation}, {self.loss})", count, x0,
                          cnn_value_grad, None, P, data.X, targets(data.y, self, n_out),
                          [f"theta{i}" for i in range(count)], [], data.X.shape[0])
        sizes = [N, C * N, n_out]
        return Network(problem, f"cnn1d {'-'.join(map(str, sizes))}", n_out, _predictor(cnn_predict, P, n_out),
                       lambda y: targets(y, self, n_out), facts={"layers": sizes},
                       binary_threshold=_threshold(self))


@dataclass
class RNN:
    """Elman RNN h_t = tanh(W_h h_{t-1} + W_x x_t + b), read out by w_o . h_T + c (kernels.rnn)."""
    name: str = "rnn"
    hidden: int = 8
    init_sigma: float = 0.5        # weights ~ N(0, init_sigma^2 / hidden); biases 0
    weights: Optional[List[float]] = None

    def check(self):
        in_range("hidden", self.hidden, 1, 1024, hi_open=False)

    def network(self, data, seed: int) -> Network:
        """BPTT on sequences (rows of T inputs, one target each); its diagnostics are
        ||dL/dh_t|| for every t, which show the gradient that reaches early steps vanish."""
        from kernels import rnn as R

        if data.source != "sequence":
            raise ConfigError("data.name", "model=rnn reads sequences: use data=sequence")
        H, T = self.hidden, data.X.shape[1]
        count = H * H + 3 * H + 1

        def init():
            rng = np.random.Generator(np.random.PCG64([seed, 11]))
            return np.concatenate([rng.standard_normal(H * H) * self.init_sigma / np.sqrt(H),
                                   rng.standard_normal(H) * self.init_sigma, np.zeros(H),
                                   rng.standard_normal(H) * self.init_sigma / np.sqrt(H), [0.0]])

        x0 = _given_or(self.weights, count, f" for hidden={H}", init)
        P = np.array([float(H)])
        problem = Problem("rnn", f"Elman RNN, hidden {H}, T={T}", count, x0, R.rnn_value_grad, None, P,
                          data.X, np.ascontiguousarray(data.y), [f"theta{i}" for i in range(count)], [],
                          data.X.shape[0])

        def norms(theta):
            out = np.zeros(T)
            R.hidden_grad_norms(np.ascontiguousarray(theta), P, data.X, problem.y, out)
            return out

        def diagnostics(theta_start, theta_end):
            start, end = norms(theta_start), norms(theta_end)
            steps = np.arange(1, T + 1, dtype=np.int64)
            final = {"dL_dh_norm_start": start.tolist(), "dL_dh_norm_end": end.tolist(),
                     "dL_dh_ratio_first_to_last": float(start[0] / start[-1]) if start[-1] > 0 else None}
            metrics = {"dL_dh_norm_start": (steps, start), "dL_dh_norm_end": (steps, end)}
            return final, metrics, [("hidden_grad_norms.png", lambda: grad_norm_plot(start, end, T))]

        def predict(theta, X):
            raise NotImplementedError("model=rnn is read as a regression; it predicts no classes")

        return Network(problem, f"rnn H={H} T={T}", 1, predict, np.ascontiguousarray, facts={"T": T}, diagnostics=diagnostics,
                       labels=False)


MODEL_SCHEMAS = {"mlp": MLP, "rnn": RNN, "cnn1d": CNN1D}


def init_weights(sizes, model, seed):
    rng = np.random.Generator(np.random.PCG64([seed, 7]))
    parts = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        if model.init == "xavier":
            W = rng.uniform(-1, 1, (n_out, n_in)) * np.sqrt(6.0 / (n_in + n_out))
        elif model.init == "he":
            W = rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)
        else:
            W = rng.standard_normal((n_out, n_in)) * model.init_sigma
        parts.append(W.ravel())
        if model.bias:
            parts.append(np.zeros(n_out))
    return np.concatenate(parts)


def forward_trace(P, theta, x) -> dict:
    """Pre-activations z_l and activations a_l of every layer of an MLP for one input (the
    tutorial's forward pass)."""
    L, _, sizes, _, _, width = K.layout(P)
    A, Z = np.zeros((L + 1, width)), np.zeros((L, width))
    K.forward(np.ascontiguousarray(theta), P, np.ascontiguousarray(x), A, Z)
    return {"z": [Z[l, : sizes[l + 1]].tolist() for l in range(L)],
            "a": [A[l + 1, : sizes[l + 1]].tolist() for l in range(L)]}


def grad_norm_plot(start, end, T):
    """The RNN's mean ||dL/dh_t|| against t, at the start and after training (log scale)."""
    from runner.outputs import plots

    fig = plots.figure()
    ax = fig.add_subplot()
    t = np.arange(1, T + 1)
    ax.semilogy(t, np.maximum(start, 1e-300), "o-", label="at the start")
    ax.semilogy(t, np.maximum(end, 1e-300), "s-", label="after training")
    ax.set(xlabel="time step t", ylabel="mean ||dL/dh_t||", title=f"gradient reaching h_t (T = {T})")
    ax.legend()
    return fig
