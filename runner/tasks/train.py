"""task=train: fit a multilayer perceptron by backpropagation (kernels.mlp) with the same
descent loop, optimizers, schedules and seeded mini-batches as task=optimize.

    python -m runner task=train model=mlp data=moons optim=adam
    python -m runner +experiment=seed/backprop_111
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from kernels import mlp as K
from runner import plots
from runner.errors import ConfigError
from runner.optim_config import OPTIM_SCHEMAS, SCHEDULE_SCHEMAS
from runner.problems import Problem
from runner.result import Series
from runner.tasks.optimize import OptimizeKnobs, _result, minimise
from runner.train_data import DATA_SCHEMAS, load
from runner.validate import in_range, non_negative, one_of, validate_group, validate_node

ACTIVATIONS = {"identity": K.IDENTITY, "sigmoid": K.SIGMOID, "tanh": K.TANH, "relu": K.RELU,
               "leaky_relu": K.LEAKY_RELU, "softmax": K.SOFTMAX}
LOSSES = {"mse": K.MSE, "bce": K.BCE, "cce": K.CCE, "hinge": K.HINGE, "logistic": K.LOGISTIC}
NEEDS = {"bce": "sigmoid", "cce": "softmax", "hinge": "identity", "logistic": "identity"}


def _check_head(m) -> None:
    """Activations, output and loss that exist and fit each other."""
    one_of("activation", m.activation, [a for a in ACTIVATIONS if a != "softmax"])
    one_of("output", m.output, list(ACTIVATIONS))
    one_of("loss", m.loss, list(LOSSES))
    non_negative("l2", m.l2)
    if m.loss in NEEDS and m.output != NEEDS[m.loss]:
        raise ConfigError("loss", f"'{m.loss}' needs output={NEEDS[m.loss]} (got output={m.output})")


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


@dataclass
class RNN:
    """Elman RNN h_t = tanh(W_h h_{t-1} + W_x x_t + b), read out by w_o . h_T + c (kernels.rnn)."""
    name: str = "rnn"
    hidden: int = 8
    init_sigma: float = 0.5        # weights ~ N(0, init_sigma^2 / hidden); biases 0
    weights: Optional[List[float]] = None

    def check(self):
        in_range("hidden", self.hidden, 1, 1024, hi_open=False)


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


@dataclass
class TrainKnobs(OptimizeKnobs):
    steps: int = 2000
    grad_tol: float = 0.0
    batch_size: Optional[int] = 32
    record_params: int = 10
    grad_check: bool = False
    # a training loss 10^3 times its start has diverged (optimize's 1e12 suits arbitrary functions;
    # optim.lr=1000 grew a loss of 0.7 to 1.35e6 and ended FINISHED)
    divergence: float = 1.0e3


SCHEMA = TrainKnobs
GROUPS = {"model": {"mlp": MLP, "rnn": RNN, "cnn1d": CNN1D}, "data": DATA_SCHEMAS, "optim": OPTIM_SCHEMAS, "schedule": SCHEDULE_SCHEMAS}


def warmup() -> None:
    import kernels.mlp  # noqa: F401
    import kernels.rnn  # noqa: F401
    import kernels.train_fast  # noqa: F401  (GD on width-1 networks)


def run(cfg, ctx):
    v = ctx.validated if ctx.validated else {}
    model = v.get("model") or validate_group("model", cfg.model, GROUPS["model"])
    data_cfg = v.get("data") or validate_group("data", cfg.data, DATA_SCHEMAS)
    knobs = v.get("train") or validate_node("train", cfg.get("train") or {}, TrainKnobs)
    optim_obj = v.get("optim") or validate_group("optim", cfg.optim, OPTIM_SCHEMAS)
    sched_obj = v.get("schedule") or validate_group("schedule", cfg.schedule, SCHEDULE_SCHEMAS)
    data = load(data_cfg, ctx.seed)
    if model.name == "rnn":
        return _train_rnn(model, data, data_cfg, knobs, optim_obj, sched_obj, ctx)
    if model.name == "cnn1d":
        problem, sizes = cnn_problem(model, data, ctx.seed)
    else:
        problem, sizes = network_problem(model, data, ctx.seed)
    check = grad_check(problem) if knobs.grad_check else None
    run_, outcome, kstatus, message, compile_s, batch = minimise(problem, optim_obj, sched_obj, knobs, ctx)
    result = _result(run_, problem, optim_obj, sched_obj, batch, outcome, kstatus, message, compile_s)
    result.task = "train"
    theta = run_.theta
    result.final.pop("x0", None)
    result.final["params_count"] = int(theta.size)
    result.final["layers"] = sizes
    result.info.update(model=model.name, data=data_cfg.name, problem=f"{model.name} {'-'.join(map(str, sizes))}")
    if data.kind == "classification":
        result.final["train_accuracy"] = accuracy(theta, problem, data.X, data.y, model)
        if data.X_val.shape[0]:
            result.final["val_accuracy"] = accuracy(theta, problem, data.X_val, data.y_val, model)
    if data.X_val.shape[0]:
        result.final["val_loss"] = problem_loss(problem, theta, data.X_val, targets(data.y_val, model, sizes[-1]))
    if check is not None:
        result.final["grad_check"] = check
    if data.X.shape[0] == 1 and problem.dim <= 20:
        result.final["forward"] = forward_trace(problem, problem.x0, data.X[0])
    result.trajectory["weights"] = theta.copy()
    if model.name == "mlp":
        _layer_grad_norms(result, sizes, model.bias)
    result.plots = [p for p in result.plots if p[0] == "loss.png"]
    if data.X.shape[1] == 2 and data.kind == "classification":
        result.plots.append(("decision_boundary.png",
                             lambda: decision_boundary(problem, theta, data, model, result.info["problem"])))
    return result


def _layer_grad_norms(result, sizes, bias) -> None:
    """Metrics grad_norm.layer<l>: the norm of each layer's (W, b) gradient at the recorded
    steps (every train.record_params-th step)."""
    grads = result.trajectory.get("grad")
    if grads is None or not len(grads):
        return
    steps = result.trajectory["params_step"]
    start = 0
    for l in range(len(sizes) - 1):
        count = sizes[l + 1] * sizes[l] + (sizes[l + 1] if bias else 0)
        result.metrics[f"grad_norm.layer{l + 1}"] = Series(steps, np.linalg.norm(grads[:, start:start + count], axis=1))
        start += count


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


def network_problem(model, data, seed):
    """The Problem whose value_grad is the network's loss over (X, y) and whose x0 is the
    initial parameter vector; ConfigError if sizes, outputs or labels do not fit the data."""
    n_in = data.X.shape[1]
    n_out = output_size(model, data)
    sizes = [n_in, *model.hidden, n_out]
    acts = [ACTIVATIONS[model.activation]] * len(model.hidden) + [ACTIVATIONS[model.output]]
    P = np.array([len(sizes) - 1, 1.0 if model.bias else 0.0, LOSSES[model.loss], model.l2, model.alpha,
                  *sizes, *acts], dtype=float)
    count = sum(sizes[i + 1] * sizes[i] + (sizes[i + 1] if model.bias else 0) for i in range(len(sizes) - 1))
    if model.weights is not None:
        if len(model.weights) != count:
            raise ConfigError("model.weights", f"expected {count} values for layers {sizes} "
                              f"({'with' if model.bias else 'without'} biases), got {len(model.weights)}")
        x0 = np.array(model.weights, dtype=float)
    else:
        x0 = init_weights(sizes, model, seed)
    y = targets(data.y, model, n_out)
    names = [f"w{i + 1}" for i in range(count)] if count <= 3 else [f"theta{i}" for i in range(count)]
    from kernels.train_fast import gd_mlp

    f32 = model.precision == "float32"
    problem = Problem("mlp", f"MLP {'-'.join(map(str, sizes))} ({model.activation}, {model.loss}, {model.precision})",
                      count, x0, K.mlp_value_grad_f32 if f32 else K.mlp_value_grad, K.mlp_hessian, P, data.X, y,
                      names, [], data.X.shape[0], gd_loop=None if f32 else gd_mlp)
    return problem, sizes


def cnn_problem(model, data, seed):
    from kernels.rnn import cnn_value_grad

    N = data.X.shape[1]
    n_out = output_size(model, data)
    C, Kw = model.filters, model.kernel_size
    count = C * Kw + C + n_out * C * N + n_out
    if model.weights is not None:
        if len(model.weights) != count:
            raise ConfigError("model.weights", f"expected {count} values, got {len(model.weights)}")
        x0 = np.array(model.weights, dtype=float)
    else:
        rng = np.random.Generator(np.random.PCG64([seed, 13]))
        x0 = np.concatenate([rng.standard_normal(C * Kw) * model.init_sigma, np.zeros(C),
                             rng.standard_normal(n_out * C * N) * np.sqrt(2.0 / (C * N)), np.zeros(n_out)])
    P = np.array([C, Kw, ACTIVATIONS[model.activation], ACTIVATIONS[model.output], n_out, LOSSES[model.loss],
                  model.l2, model.alpha], dtype=float)
    problem = Problem("cnn1d", f"1-D CNN {C}x{Kw} -> {n_out} ({model.activation}, {model.loss})", count, x0,
                      cnn_value_grad, None, P, data.X, targets(data.y, model, n_out),
                      [f"theta{i}" for i in range(count)], [], data.X.shape[0])
    return problem, [N, C * N, n_out]


def targets(y, model, n_out):
    """y as the kernel reads it: classes as -1/+1 for hinge/logistic, flattened rows for MSE."""
    y = np.asarray(y, dtype=float)
    if model.loss in ("hinge", "logistic"):
        return np.where(y > 0, 1.0, -1.0)
    if model.loss == "bce" and not np.isin(y, (0.0, 1.0)).all():
        raise ConfigError("data", "bce needs targets 0 or 1")
    return np.ascontiguousarray(y.reshape(-1))


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


def forward_trace(problem, theta, x) -> dict:
    """Pre-activations z_l and activations a_l of every layer for one input (the tutorial's
    forward pass, at the initial parameters)."""
    L, _, sizes, _, _, width = K.layout(problem.P)
    A, Z = np.zeros((L + 1, width)), np.zeros((L, width))
    K.forward(np.ascontiguousarray(theta), problem.P, np.ascontiguousarray(x), A, Z)
    return {"z": [Z[l, : sizes[l + 1]].tolist() for l in range(L)],
            "a": [A[l + 1, : sizes[l + 1]].tolist() for l in range(L)]}


def problem_loss(problem, theta, X, y) -> float:
    g = np.zeros(theta.size)
    return float(problem.value_grad(theta, g, problem.P, np.ascontiguousarray(X), np.ascontiguousarray(y)))


def outputs(problem, theta, X, n_out):
    out = np.zeros((X.shape[0], n_out))
    if problem.name == "cnn1d":
        from kernels.rnn import cnn_predict

        cnn_predict(theta, problem.P, np.ascontiguousarray(X), out)
    else:
        K.predict(theta, problem.P, np.ascontiguousarray(X), out)
    return out


def n_outputs(problem) -> int:
    return int(problem.P[4]) if problem.name == "cnn1d" else int(problem.P[K.HEADER + int(problem.P[0])])


def accuracy(theta, problem, X, y, model) -> float:
    n_out = n_outputs(problem)
    out = outputs(problem, theta, X, n_out)
    if model.loss == "cce" or n_out > 1:
        pred = out.argmax(axis=1)
    elif model.loss in ("hinge", "logistic"):
        pred = (out[:, 0] > 0).astype(float)
    else:
        pred = (out[:, 0] > 0.5).astype(float)
    return float((pred == y).mean())


def grad_check(problem, batch: int = 64) -> dict:
    """Backprop against central differences with h = eps^(1/3) max(1, |theta_k|) on the first
    rows; every coordinate up to 200 parameters, else 20 random directions (v'grad against
    (L(theta + h v) - L(theta - h v)) / 2h).  max_rel_error = max |backprop - numeric| over
    max |numeric| (the gradient's scale), where = the coordinate or direction of the max."""
    X, y = problem.X[:batch], problem.y[: batch * max(1, problem.y.size // max(problem.X.shape[0], 1))]
    theta = problem.x0.copy()
    g = np.zeros(theta.size)
    f = lambda t: problem.value_grad(np.ascontiguousarray(t), np.zeros(t.size), problem.P, X, y)
    problem.value_grad(theta, g, problem.P, X, y)
    eps = np.finfo(float).eps ** (1 / 3)
    if theta.size <= 200:
        dirs = np.eye(theta.size)
    else:
        dirs = np.random.Generator(np.random.PCG64(0)).standard_normal((20, theta.size))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    numeric, analytic = np.empty(len(dirs)), np.empty(len(dirs))
    for k, v in enumerate(dirs):
        h = eps * max(1.0, float(np.abs(theta[v != 0]).max()))
        numeric[k] = (f(theta + h * v) - f(theta - h * v)) / (2 * h)
        analytic[k] = float(v @ g)
    err = np.abs(numeric - analytic)
    scale = max(np.abs(numeric).max(), np.abs(analytic).max(), 1e-300)
    where = int(err.argmax())
    # relative to the gradient's largest entry: a coordinate whose gradient is 0 has no relative error
    return {"max_abs_error": float(err.max()), "max_rel_error": float(err.max() / scale), "where": where,
            "mode": "coordinates" if theta.size <= 200 else "20 random directions"}


def decision_boundary(problem, theta, data, model, title):
    fig = plots.figure()
    ax = fig.add_subplot()
    X = np.vstack([data.X, data.X_val]) if data.X_val.size else data.X
    lo, hi = X.min(axis=0) - 0.3, X.max(axis=0) + 0.3
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 150), np.linspace(lo[1], hi[1], 150))
    grid = np.c_[gx.ravel(), gy.ravel()]
    n_out = n_outputs(problem)
    out = outputs(problem, theta, grid, n_out)
    cls = out.argmax(axis=1) if n_out > 1 else (out[:, 0] > (0.0 if model.loss in ("hinge", "logistic") else 0.5))
    ax.contourf(gx, gy, cls.reshape(gx.shape).astype(float), alpha=0.3, cmap="coolwarm")
    ax.scatter(data.X[:, 0], data.X[:, 1], c=data.y, s=12, cmap="coolwarm", edgecolors="k", linewidths=0.3)
    ax.set(title=f"decision boundary · {title}", xlabel="x1", ylabel="x2")
    return fig


def _train_rnn(model, data, data_cfg, knobs, optim_obj, sched_obj, ctx):
    """BPTT on sequences; ||dL/dh_t|| for every t (at the start and at the end) shows how the
    gradient that reaches early steps vanishes as T grows."""
    from kernels import rnn as R

    if data_cfg.name != "sequence":
        raise ConfigError("data.name", "model=rnn reads sequences: use data=sequence")
    H, T = model.hidden, data.X.shape[1]
    count = H * H + 3 * H + 1
    if model.weights is not None:
        if len(model.weights) != count:
            raise ConfigError("model.weights", f"expected {count} values for hidden={H}, got {len(model.weights)}")
        x0 = np.array(model.weights, dtype=float)
    else:
        rng = np.random.Generator(np.random.PCG64([ctx.seed, 11]))
        x0 = np.concatenate([rng.standard_normal(H * H) * model.init_sigma / np.sqrt(H),
                             rng.standard_normal(H) * model.init_sigma, np.zeros(H),
                             rng.standard_normal(H) * model.init_sigma / np.sqrt(H), [0.0]])
    P = np.array([float(H)])
    problem = Problem("rnn", f"Elman RNN, hidden {H}, T={T}", count, x0, R.rnn_value_grad, None, P,
                      data.X, np.ascontiguousarray(data.y), [f"theta{i}" for i in range(count)], [], data.X.shape[0])
    start = np.zeros(T)
    R.hidden_grad_norms(x0, P, data.X, problem.y, start)
    check = grad_check(problem) if knobs.grad_check else None
    run_, outcome, kstatus, message, compile_s, batch = minimise(problem, optim_obj, sched_obj, knobs, ctx)
    result = _result(run_, problem, optim_obj, sched_obj, batch, outcome, kstatus, message, compile_s)
    end = np.zeros(T)
    R.hidden_grad_norms(run_.theta, P, data.X, problem.y, end)
    result.task = "train"
    result.final.pop("x0", None)
    result.final.update(params_count=count, T=T, dL_dh_norm_start=start.tolist(), dL_dh_norm_end=end.tolist(),
                        dL_dh_ratio_first_to_last=float(start[0] / start[-1]) if start[-1] > 0 else None)
    if check is not None:
        result.final["grad_check"] = check
    if data.X_val.shape[0]:
        result.final["val_loss"] = problem_loss(problem, run_.theta, data.X_val, np.ascontiguousarray(data.y_val))
    result.info.update(model="rnn", data="sequence", problem=f"rnn H={H} T={T}")
    steps = np.arange(1, T + 1, dtype=np.int64)
    result.metrics["dL_dh_norm_start"] = Series(steps, start)
    result.metrics["dL_dh_norm_end"] = Series(steps, end)
    result.trajectory["weights"] = run_.theta.copy()
    result.plots = [p for p in result.plots if p[0] == "loss.png"]
    result.plots.append(("hidden_grad_norms.png", lambda: _grad_norm_plot(start, end, T)))
    return result


def _grad_norm_plot(start, end, T):
    fig = plots.figure()
    ax = fig.add_subplot()
    t = np.arange(1, T + 1)
    ax.semilogy(t, np.maximum(start, 1e-300), "o-", label="at the start")
    ax.semilogy(t, np.maximum(end, 1e-300), "s-", label="after training")
    ax.set(xlabel="time step t", ylabel="mean ||dL/dh_t||", title=f"gradient reaching h_t (T = {T})")
    ax.legend()
    return fig
