"""The descent, driven: a problem, an optimizer and a schedule through the shared descent
kernel (``kernels.descent``), in chunks for the progress bar and Ctrl-C, into a Result.

Shared by ``task=optimize`` and ``task=train``.  Chunking does not change a single number:
all state is explicit (:class:`Run`) and mini-batches come from a counter-based stream.
Data crosses this module as named records: :class:`DescentInputs` (what the kernel takes
besides the problem), :class:`DescentOutcome` (how a descent ended).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from kernels import descent, optimizers
from kernels.schedules import CONSTANT
from runner import interrupt
from runner.pacing import call_sizes, progress_bar
from runner.outputs import plots
from runner.errors import ConfigError
from runner.config.optim import schedule_to_kernel, to_kernel
from runner.result import DIVERGED, FINISHED, KILLED, Result, Series
from runner.config.validate import non_negative, positive

MAX_PARAM_METRICS = 3            # log each parameter as a metric up to this many parameters
MAX_RECORDED_FLOATS = 20_000_000  # params + grads kept in memory for trajectory.npz (~320 MB)
SGD_DEFAULT_BATCH = 32
MAX_STEPS = 100_000_000


@dataclass
class DescentKnobs:
    """The ``optimize:`` (and ``train:``) block: when the descent stops and what it keeps."""

    steps: int = 20000
    grad_tol: float = 1.0e-6
    batch_size: Optional[int] = None
    divergence: float = 1.0e12
    record_params: int = 1

    def check(self):
        if self.steps < 1:
            raise ConfigError("steps", f"must be >= 1, got {self.steps}")
        if self.steps > MAX_STEPS:
            raise ConfigError("steps", f"must be <= {MAX_STEPS:.0e} (every step's loss, gradient norm and lr "
                              f"are kept: 2.4 GB at the limit), got {self.steps}")
        non_negative("grad_tol", self.grad_tol)
        positive("divergence", self.divergence)
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError("batch_size", f"must be >= 1 or null (full batch), got {self.batch_size}")
        if self.record_params < 0:
            raise ConfigError("record_params", f"must be >= 0, got {self.record_params}")


def _batch_size(knobs: DescentKnobs, optim_name: str, problem) -> int:
    """0 means full batch."""
    if knobs.batch_size is not None and problem.n_data == 0:
        raise ConfigError("optimize.batch_size", f"problem '{problem.name}' has no data rows to batch; remove it")
    size = knobs.batch_size
    if size is None:
        size = SGD_DEFAULT_BATCH if optim_name == "sgd" and problem.n_data > 0 else 0
    return 0 if size >= problem.n_data else size


@dataclass(frozen=True)
class DescentInputs:
    """What the descent kernel takes besides the problem: the optimizer (id and packed
    hyperparameters, ``kernels.optimizers``), the schedule (id and parameters,
    ``kernels.schedules``), the base learning rate, the gradient clip norm (0: off), the
    mini-batch size (0: full batch) and the seed of the mini-batch stream."""

    opt_id: int
    hp: np.ndarray
    sched_id: int
    sp: np.ndarray
    lr: float
    clip: float = 0.0
    batch: int = 0
    seed: int = 0

    @classmethod
    def from_config(cls, optim_obj, sched_obj, batch: int, seed: int) -> "DescentInputs":
        opt_id, hp = to_kernel(optim_obj)
        sched_id, sp = schedule_to_kernel(sched_obj)
        clip = float(getattr(optim_obj, "clip_norm", None) or 0.0)
        return cls(opt_id, hp, sched_id, sp, float(optim_obj.lr), clip, batch, seed)


HUGE_PAGE = 1 << 21


def _trajectory(kept: int, d: int, rows: int):
    """Uninitialised (traj_theta (kept, d), traj_grad (kept, d), loss, grad_norm, lr (rows each)),
    carved out of one block that starts on a 2 MiB boundary when it is large: NumPy asks the
    kernel for transparent huge pages on allocations of 4 MiB and more, and only 2 MiB-aligned
    stretches get them, so five separate arrays would first-touch a quarter of their pages
    4 KiB at a time (a page fault each: ~2,600 for a 1,000,000-step run of one variable, ~60 as
    one block; benchmarks/bench_optimize.py, gd)."""
    sizes = (kept * d, kept * d, rows, rows, rows)
    total = sum(sizes)
    pad = HUGE_PAGE // 8 if total * 8 >= 2 * HUGE_PAGE else 0
    raw = np.empty(total + pad)
    start = (-raw.ctypes.data % HUGE_PAGE) // 8 if pad else 0
    out = []
    for n in sizes:
        out.append(raw[start:start + n])
        start += n
    return out[0].reshape(kept, d), out[1].reshape(kept, d), out[2], out[3], out[4]


class Run:
    """The kernel's inputs and all mutable state of one descent, chunk after chunk."""

    def __init__(self, problem, inputs: DescentInputs, knobs: DescentKnobs):
        d = problem.dim
        opt_id, sched_id, batch = inputs.opt_id, inputs.sched_id, inputs.batch
        self.problem, self.inputs, self.knobs = problem, inputs, knobs
        self.theta = np.ascontiguousarray(problem.x0, dtype=np.float64).copy()
        self.state, self.sstate = optimizers.init_state(opt_id, d)
        from kernels import schedules

        self.sched_state = schedules.init_sched_state()
        rows = knobs.steps + 1
        every = knobs.record_params
        if every and rows * d * 2 > MAX_RECORDED_FLOATS:  # keep memory bounded: thin the iterates
            every = int(np.ceil(rows * d * 2 / MAX_RECORDED_FLOATS))
        self.theta_every = every
        kept = (knobs.steps // every + 1) if every else 0
        # every row up to the last step taken is written by the kernel before it is read
        self.traj_theta, self.traj_grad, self.loss, self.grad_norm, self.lr = _trajectory(kept, d, rows)
        self.g = np.zeros(d)
        k = problem.X.shape[1] if problem.X.ndim == 2 else 0
        self.Xb = np.zeros((max(batch, 1), k)) if batch else np.zeros((1, k))
        self.yb = np.zeros(max(batch, 1))
        self.perm = np.zeros(max(problem.n_data, 1), dtype=np.int64)
        self.loss_ref = self._evaluate(self.theta)[0]
        self.t = 0
        # plain GD at a constant lr on all the data: the problem's specialised loop, if it has one
        # (a quadratic, a float64 MLP), with the generic loop's arithmetic
        plain_gd = opt_id == optimizers.ID["gd"] and sched_id == CONSTANT and not inputs.clip and not batch
        self.fast = problem.gd_loop if plain_gd else None

    def _evaluate(self, theta):
        g = np.zeros_like(theta)
        p = self.problem
        return float(p.value_grad(theta, g, p.P, p.X, p.y)), g

    def explode_and_ref(self) -> tuple:
        """(explode, loss_ref) as the kernel takes them: the run diverges when
        ``|f - loss_ref| > explode`` (``divergence`` times the starting loss's size)."""
        if not np.isfinite(self.loss_ref):
            return np.inf, 0.0
        return self.knobs.divergence * max(1.0, abs(self.loss_ref)), self.loss_ref

    def step(self, n_steps: int) -> int:
        p, k, i = self.problem, self.knobs, self.inputs
        explode, loss_ref = self.explode_and_ref()
        trajectory = (self.traj_theta, self.traj_grad, self.theta_every, self.loss, self.grad_norm, self.lr, self.g)
        if self.fast is not None:
            status, self.t = self.fast(p.P, p.X, p.y, self.theta, i.lr, self.t, n_steps, k.steps, k.grad_tol, explode,
                                       loss_ref, *trajectory)
            return status
        status, self.t = descent.descend(
            p.value_grad, p.P, p.X, p.y,
            self.theta, self.state, self.sstate, i.opt_id, i.hp,
            i.sched_id, i.sp, self.sched_state, i.lr, i.clip,
            i.batch, i.seed,
            self.t, n_steps, k.steps, k.grad_tol, explode, loss_ref,
            *trajectory, self.Xb, self.yb, self.perm)
        return status

    def finish_interrupted(self):
        """After Ctrl-C between chunks: evaluate the last iterate so row t exists."""
        loss, g = self._evaluate(self.theta)
        self.loss[self.t], self.grad_norm[self.t] = loss, float(np.linalg.norm(g))
        if self.theta_every and self.t % self.theta_every == 0:
            self.traj_theta[self.t // self.theta_every] = self.theta
            self.traj_grad[self.t // self.theta_every] = g


def _drive(run: Run, progress: Callable) -> tuple:
    """Call the kernel in chunks of about CHUNK_SECONDS; returns (kernel status, compile s)."""
    t0 = time.perf_counter()
    run.step(0)   # compiles or loads the cached kernel; does no step
    compile_s = time.perf_counter() - t0
    total = run.knobs.steps
    status = descent.RUNNING
    with progress_bar(progress, total, f"{run.problem.name}", shown=total >= 20_000) as advance:
        for chunk in call_sizes(min(total, 1000), 100, 50_000_000):
            before = run.t
            status = run.step(chunk)
            advance(run.t - before)
            if status != descent.RUNNING:
                break
    return status, compile_s




BLOW_UP = 100.0   # a diverged run's curves stop where |loss - loss_0| passes this x max(1, |loss_0|)


def meaningful_rows(loss: np.ndarray) -> int:
    """How many leading rows of a diverged run's loss are worth charting: up to the last one
    before the loss became non-finite or moved more than BLOW_UP x max(1, |loss_0|) away from
    its start (past that, one point at 1e35 flattens every chart it is compared in).  The
    trajectory keeps every row; only the metrics sent for charts stop here."""
    scale = BLOW_UP * max(1.0, abs(float(loss[0]))) if np.isfinite(loss[0]) else np.inf
    bad = ~np.isfinite(loss) | (np.abs(loss - loss[0]) > scale)
    first_bad = int(np.argmax(bad)) if bad.any() else loss.size
    return max(first_bad, 1)


def _divergence_hint(run: Run) -> str:
    """What to do about a divergence: a loss that exploded upwards overshot (a smaller step
    helps); one that fell without bound has no minimum to find (no step size helps)."""
    last = run.loss[run.t]
    if not np.isnan(last) and last < run.loss_ref:
        return (f"the loss fell from {run.loss_ref:.6g} without bound: f looks unbounded below "
                f"(no minimum, e.g. a saddle), which no learning rate fixes")
    return "lower optim.lr or add a schedule"


@dataclass
class DescentOutcome:
    """How a descent ended: the Run with its trajectory, the run status (FINISHED, DIVERGED or
    KILLED), the kernel's status (``kernels.descent.CONVERGED``, ...; None after Ctrl-C), a
    message for the user, and the seconds spent compiling or loading the kernel."""

    run: Run
    status: str
    kernel_status: Optional[int]
    message: str
    compile_seconds: float

    @property
    def converged(self) -> bool:
        return self.kernel_status == descent.CONVERGED


def minimise(problem, optim_obj, sched_obj, knobs: DescentKnobs, seed: int, progress: Callable) -> DescentOutcome:
    """Run the descent on ``problem`` with the validated optimizer and schedule;
    ``progress(total, desc)`` makes a progress bar (``TaskContext.progress``)."""
    batch = _batch_size(knobs, optim_obj.name, problem)
    run = Run(problem, DescentInputs.from_config(optim_obj, sched_obj, batch, seed), knobs)
    return run_to_end(run, progress)


def run_to_end(run: Run, progress: Callable) -> DescentOutcome:
    """Drive ``run`` to its end (Ctrl-C or SIGTERM: KILLED with what it computed)."""
    try:
        status, compile_s = _drive(run, progress)
    except KeyboardInterrupt:
        run.finish_interrupted()
        status, compile_s = None, float("nan")
    return outcome_of(run, status, compile_s)


def outcome_of(run: Run, status: Optional[int], compile_s: float) -> DescentOutcome:
    """The outcome of ``run`` whose kernel ended with ``status`` (None: interrupted)."""
    knobs, message = run.knobs, ""
    if status is None:
        outcome = KILLED
        message = f"{interrupt.reason()} after {run.t} steps"
    elif status == descent.DIVERGED:
        outcome = DIVERGED
        message = (f"diverged at step {run.t}: loss={run.loss[run.t]:.6g}, "
                   f"grad_norm={run.grad_norm[run.t]:.6g} ({_divergence_hint(run)})")
    else:
        outcome = FINISHED
        if status == descent.CONVERGED:
            message = f"converged: grad_norm <= {knobs.grad_tol:g} after {run.t} steps"
    return DescentOutcome(run, outcome, status, message, compile_s)


def descent_result(outcome: DescentOutcome, optim_obj, sched_obj, task: str = "optimize",
                   extra_compile_seconds: float = 0.0) -> Result:
    """The Result of a descent: the trajectory (every step's loss, gradient norm and lr; the
    iterates and gradients every ``record_params``-th step), the final point, its distance to
    the problem's nearest known minimum, metrics by step and the plots."""
    run_, problem = outcome.run, outcome.run.problem
    t = run_.t
    rows = t + 1
    steps = np.arange(rows, dtype=np.int64)
    loss, gnorm, lr = run_.loss[:rows], run_.grad_norm[:rows], run_.lr[:rows]
    trajectory = {"step": steps, "loss": loss, "grad_norm": gnorm, "lr": lr}
    if run_.theta_every:
        kept = t // run_.theta_every + 1
        trajectory["params"] = run_.traj_theta[:kept]
        trajectory["grad"] = run_.traj_grad[:kept]
        trajectory["params_step"] = np.arange(kept, dtype=np.int64) * run_.theta_every
    final = {
        "params": run_.theta.tolist(),
        "loss": float(loss[-1]),
        "grad_norm": float(gnorm[-1]),
        "converged": outcome.converged,
        "x0": np.asarray(problem.x0, dtype=float).tolist(),
    }
    if problem.minima:
        gaps = [float(np.linalg.norm(run_.theta - np.asarray(xm, dtype=float))) for xm, _ in problem.minima]
        best = int(np.argmin(gaps))
        final["distance_to_minimum"] = gaps[best]
        final["loss_gap"] = float(loss[-1] - problem.minima[best][1])
    shown = meaningful_rows(loss) if outcome.status == DIVERGED else rows
    metrics = {"loss": Series(steps[:shown], loss[:shown]), "grad_norm": Series(steps[:shown], gnorm[:shown])}
    finite_lr = np.isfinite(lr[:shown])
    metrics["lr"] = Series(steps[:shown][finite_lr], lr[:shown][finite_lr])
    if problem.dim <= MAX_PARAM_METRICS and run_.theta_every:
        pst = trajectory["params_step"]
        keep = pst < shown
        for i, name in enumerate(problem.param_names):
            metrics[f"param.{name}"] = Series(pst[keep], trajectory["params"][keep, i])
    info = {"problem": problem.name, "optimizer": optim_obj.name, "schedule": sched_obj.name,
            "steps": int(t), "dim": int(problem.dim), "batch_size": int(run_.inputs.batch)}
    compile_s = outcome.compile_seconds + extra_compile_seconds
    tags = {"numba_compile_s": f"{compile_s:.3f}", "problem_label": problem.label}
    if outcome.status == DIVERGED:
        tags.update({"calclab.diverged_at_step": str(t), "calclab.curve_shown_to_step": str(shown - 1)})
    result = Result(task=task, status=outcome.status, message=outcome.message, final=final, info=info,
                    trajectory=trajectory, metrics=metrics, tags=tags)
    result.plots = plots.optimize_plots(result, problem)
    return result
