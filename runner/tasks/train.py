"""task=train: fit a network (``runner.train.models``: MLP, RNN, 1-D CNN) by backpropagation
with the same descent loop, optimizers, schedules and seeded mini-batches as task=optimize.

    python -m runner task=train model=mlp data=moons optim=adam
    python -m runner +experiment=seed/backprop_111
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from runner.config.optim import OPTIM_SCHEMAS, SCHEDULE_SCHEMAS
from runner.descent.driver import DescentKnobs, descent_result, minimise
from runner.result import Result, Series
from runner.train.checks import grad_check
from runner.train.data import DATA_SCHEMAS, load
from runner.train.models import MODEL_SCHEMAS, output_size
from runner.train.plots import decision_boundary


@dataclass
class TrainKnobs(DescentKnobs):
    steps: int = 2000
    grad_tol: float = 0.0
    batch_size: Optional[int] = 32
    record_params: int = 10
    grad_check: bool = False
    # a training loss 10^3 times its start has diverged (optimize's 1e12 suits arbitrary functions;
    # optim.lr=1000 grew a loss of 0.7 to 1.35e6 and ended FINISHED)
    divergence: float = 1.0e3


SCHEMA = TrainKnobs
GROUPS = {"model": MODEL_SCHEMAS, "data": DATA_SCHEMAS, "optim": OPTIM_SCHEMAS, "schedule": SCHEDULE_SCHEMAS}


def warmup() -> None:
    import kernels.mlp  # noqa: F401
    import kernels.rnn  # noqa: F401
    import kernels.train_fast  # noqa: F401  (GD on width-1 networks)


def check_inputs(validated, seed: int) -> None:
    """The checks that need the data, without training: a model with a loss head (MLP,
    CNN; the RNN reads out one value) has a loss that fits the data's targets (ConfigError
    naming the key otherwise)."""
    model = validated["model"]
    if getattr(model, "loss", None) is not None:
        output_size(model, load(validated["data"], seed))


def run(cfg, ctx) -> Result:
    v = ctx.validated
    model, data_cfg, knobs = v["model"], v["data"], v["train"]
    data = load(data_cfg, ctx.seed)
    network = model.network(data, ctx.seed)
    problem = network.problem
    check = grad_check(problem, getattr(model, "precision", "float64")) if knobs.grad_check else None
    outcome = minimise(problem, v["optim"], v["schedule"], knobs, ctx.seed, ctx.progress)
    result = descent_result(outcome, v["optim"], v["schedule"], task="train")
    theta = outcome.run.theta
    final = result.final
    final.pop("x0", None)
    final["params_count"] = int(theta.size)
    final.update(network.facts)
    result.info.update(model=model.name, data=data_cfg.name, problem=network.summary)
    if data.kind == "classification" and network.labels:
        final["train_accuracy"] = accuracy(network, theta, data.X, data.y)
        if data.X_val.shape[0]:
            final["val_accuracy"] = accuracy(network, theta, data.X_val, data.y_val)
    if network.diagnostics is not None:
        extra, curves, extra_plots = network.diagnostics(problem.x0, theta)
        final.update(extra)
        result.metrics.update({name: Series(*curve) for name, curve in curves.items()})
    if data.X_val.shape[0]:
        final["val_loss"] = loss_on(problem, theta, data.X_val, network.targets(data.y_val))
    if check is not None:
        final["grad_check"] = check
        result.tags["calclab.grad_check"] = check["verdict"]
    if data.X.shape[0] == 1 and problem.dim <= 20 and network.forward is not None:
        final["forward"] = network.forward(problem.x0, data.X[0])
    result.trajectory["weights"] = theta.copy()
    _layer_grad_norms(result, network.layer_blocks)
    result.plots = [p for p in result.plots if p[0] == "loss.png"]
    if network.diagnostics is not None:
        result.plots.extend(extra_plots)
    if data.X.shape[1] == 2 and data.kind == "classification" and network.labels:
        result.plots.append(("decision_boundary.png",
                             lambda: decision_boundary(network, theta, data, result.info["problem"])))
    return result


def accuracy(network, theta, X, y) -> float:
    """The share of rows whose predicted class is y (argmax of several outputs; one output
    against the model's threshold)."""
    out = network.predict(theta, X)
    pred = out.argmax(axis=1) if network.n_outputs > 1 else (out[:, 0] > network.binary_threshold).astype(float)
    return float((pred == y).mean())


def loss_on(problem, theta, X, y) -> float:
    """The problem's loss at theta on other rows (X, y as the kernel reads them)."""
    g = np.zeros(theta.size)
    return float(problem.value_grad(theta, g, problem.P, np.ascontiguousarray(X), np.ascontiguousarray(y)))


def _layer_grad_norms(result, blocks) -> None:
    """Metrics grad_norm.layer<l>: the norm of each layer's (W, b) gradient at the recorded
    steps (every train.record_params-th step)."""
    grads = result.trajectory.get("grad")
    if not blocks or grads is None or not len(grads):
        return
    steps = result.trajectory["params_step"]
    start = 0
    for layer, count in enumerate(blocks, start=1):
        result.metrics[f"grad_norm.layer{layer}"] = Series(steps, np.linalg.norm(grads[:, start:start + count], axis=1))
        start += count
