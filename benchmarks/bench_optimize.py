"""Optimize-task speed, side by side in one process: calclab's kernels, NumPy, and (when
installed) PyTorch and JAX+optax on the same work.

    python benchmarks/bench_optimize.py              # default thread count
    python benchmarks/bench_optimize.py --threads 1  # one thread everywhere
    python benchmarks/bench_optimize.py --threads 1 --only adam --stream   # + one pass over X alone

Cases (the issue's targets in brackets):
  gd      1,000,000 GD steps on x^2 - 4x + 5 with the full trajectory recorded, every step's
          x, gradient, loss, gradient norm and lr (40 MB), by calclab and by JAX's lax.scan
          [>= 1.5x JAX's scan]
  adam    full-batch Adam on linear regression, n=100,000, d=32, float64, 500 steps
          [>= 2,000 steps/s on one thread]
  step    200,000 steps of gd, adam and lion on the 2-D Rosenbrock function through the generic
          descent loop (a step is a few tens of ns: what the optimizer dispatch costs shows)
Each figure is the best of --repeat runs after a warm-up (compilation excluded); the
machine is shared and noisy, so compare the ratios printed on the same line.
"""
from __future__ import annotations

import argparse
import os
import sys

from timing import best_of, use_cpu_time


def _set_threads(n: int | None) -> None:
    if n is None:
        return
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()


# ---- case 1: GD on a 1-D quadratic with the trajectory ------------------------------------

def gd_calclab(steps: int):
    import numpy as np

    from runner.config.optim import OPTIM_SCHEMAS, SCHEDULE_SCHEMAS, schedule_to_kernel, to_kernel
    from runner.problems.catalog import PROBLEM_SCHEMAS, build_problem
    from runner.descent.driver import DescentInputs, DescentKnobs as OptimizeKnobs, Run

    problem = build_problem(PROBLEM_SCHEMAS["quadratic"](A=[[1.0]], b=[-4.0], c=5.0, x0=[0.0]), 0)
    opt_id, hp = to_kernel(OPTIM_SCHEMAS["gd"](lr=0.1))
    sched_id, sp = schedule_to_kernel(SCHEDULE_SCHEMAS["constant"]())
    knobs = OptimizeKnobs(steps=steps, grad_tol=0.0, record_params=1)

    def go():
        r = Run(problem, DescentInputs(opt_id, hp, sched_id, sp, 0.1), knobs)
        r.step(steps)
        assert np.isclose(r.theta[0], 2.0) and np.isfinite(r.loss[-1])
    return go


def gd_calclab_kernel(steps: int):
    """The kernel alone, writing into a trajectory allocated (and paged in) once beforehand."""
    import numpy as np

    from kernels.descent_fast import gd_quadratic

    P = np.array([1.0, 2.0, -4.0, 5.0])          # d, S = A + A' = 2, b, c: x^2 - 4x + 5
    rows = steps + 1
    traj = (np.zeros((rows, 1)), np.zeros((rows, 1)), np.zeros(rows), np.zeros(rows), np.zeros(rows))
    tt, tg, L, G, R = traj
    X, y = np.zeros((0, 0)), np.zeros(0)          # a quadratic has no data

    def go():
        theta, g = np.zeros(1), np.zeros(1)
        status, t = gd_quadratic(P, X, y, theta, 0.1, 0, steps, steps, 0.0, 5e12, 5.0, tt, tg, 1, L, G, R, g)
        assert t == steps and np.isclose(theta[0], 2.0)
    return go


def gd_bare_write(steps: int):
    """The floor of a whole run: the same five arrays allocated as a run allocates them
    (runner.tasks.optimize._trajectory, one block) and written by a loop that only copies a
    counter into them: the first touch of 40 MB and the write, no gradient, no test."""
    import numpy as np
    from numba import njit

    from runner.descent.driver import _trajectory

    @njit(cache=False)
    def fill(tt, tg, L, G, R):
        for k in range(L.size):
            v = float(k)
            L[k] = v
            G[k] = v
            R[k] = v
            tt[k, 0] = v
            tg[k, 0] = v

    def go():
        fill(*_trajectory(steps + 1, 1, steps + 1))
    return go


def gd_numpy(steps: int):
    import numpy as np

    def go():
        x = np.empty(steps + 1)
        f = np.empty(steps + 1)
        x[0] = 0.0
        xi = 0.0
        for t in range(steps):
            f[t] = xi * xi - 4 * xi + 5
            xi = xi - 0.1 * (2 * xi - 4)
            x[t + 1] = xi
        f[steps] = xi * xi - 4 * xi + 5
    return go


def gd_jax(steps: int):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    lr = jnp.float64(0.1)

    @jax.jit
    def run(x0):        # records what calclab's run records each step: x, gradient, loss, |gradient|, lr
        def body(x, _):
            g = 2 * x - 4
            return x - lr * g, (x, g, x * x - 4 * x + 5, jnp.abs(g), lr)
        return jax.lax.scan(body, x0, None, length=steps)

    def go():
        out = run(jnp.float64(0.0))
        jax.block_until_ready(out)
    return go


def gd_torch(steps: int):
    import torch

    def go():  # the idiomatic eager loop; PyTorch has no compiled scan on CPU
        x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.SGD([x], lr=0.1)
        traj = torch.empty(steps + 1, dtype=torch.float64)
        for t in range(steps):
            opt.zero_grad()
            loss = x * x - 4 * x + 5
            loss.backward()
            traj[t] = loss.detach()
            opt.step()
    return go


# ---- case 3: the optimizer step through the generic loop ------------------------------------

def step_calclab(name: str, steps: int):
    from runner.config.optim import OPTIM_SCHEMAS, SCHEDULE_SCHEMAS, schedule_to_kernel, to_kernel
    from runner.descent.driver import DescentInputs, DescentKnobs as OptimizeKnobs, Run
    from runner.problems.catalog import PROBLEM_SCHEMAS, build_problem

    problem = build_problem(PROBLEM_SCHEMAS["rosenbrock"](), 0)
    opt_id, hp = to_kernel(OPTIM_SCHEMAS[name](lr=1e-4))
    sched_id, sp = schedule_to_kernel(SCHEDULE_SCHEMAS["constant"]())
    knobs = OptimizeKnobs(steps=steps, grad_tol=0.0, record_params=1)

    def go():
        r = Run(problem, DescentInputs(opt_id, hp, sched_id, sp, 1e-4), knobs)
        r.fast = None                  # the generic loop, with its optimizer dispatch, also for gd
        assert r.step(steps) == 3      # COMPLETED
    return go


# ---- case 2: full-batch Adam on linear regression ------------------------------------------

def linreg_data(n: int, d: int):
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    y = X @ w + 0.5 + 0.1 * rng.normal(size=n)
    return X, y


def adam_calclab(X, y, steps: int):
    import numpy as np

    from runner.config.optim import OPTIM_SCHEMAS, SCHEDULE_SCHEMAS, schedule_to_kernel, to_kernel
    from runner.problems.catalog import PROBLEM_SCHEMAS, build_problem
    from runner.descent.driver import DescentInputs, DescentKnobs as OptimizeKnobs, Run

    from runner.problems.data import DataConfig, aligned

    data = DataConfig(source="inline", x=[[0.0] * X.shape[1]], y=[0.0])
    problem = build_problem(PROBLEM_SCHEMAS["linreg"](data=data), 0)
    problem.X, problem.y, problem.n_data = aligned(X), aligned(y), len(y)     # as data_problem lays them out
    opt_id, hp = to_kernel(OPTIM_SCHEMAS["adam"](lr=1e-2))
    sched_id, sp = schedule_to_kernel(SCHEDULE_SCHEMAS["constant"]())
    knobs = OptimizeKnobs(steps=steps, grad_tol=0.0, record_params=1)

    def go():
        r = Run(problem, DescentInputs(opt_id, hp, sched_id, sp, 1e-2), knobs)
        r.step(steps)
    return go


def stream_parts(X, y, repeat: int) -> dict:
    """Passes over X per second (one thread): calclab's loss and gradient alone, two bare
    reads of X that do no other work, a flat 1-D sum and a row-by-row X[i, j] sum, and the
    BLAS matrix-vector products NumPy runs (each one read of X; NumPy's Adam step does both):
    the memory stream the Adam target has to fit in."""
    import numpy as np
    from numba import njit

    from kernels.objectives import REASSOC, mse_value_grad
    from runner.problems.data import aligned

    Xa, ya = aligned(X), aligned(y)
    theta, g, P = np.zeros(X.shape[1] + 1), np.zeros(X.shape[1] + 1), np.array([0.0, 1.0, 0.0])

    @njit(fastmath=REASSOC)
    def sum_flat(v):
        s = 0.0
        for i in range(v.size):
            s += v[i]
        return s

    @njit(fastmath=REASSOC)
    def sum_rows(A):
        s = 0.0
        for i in range(A.shape[0]):
            for j in range(A.shape[1]):
                s += A[i, j]
        return s

    flat = Xa.reshape(-1)
    w, r = np.ones(X.shape[1]), np.ones(X.shape[0])
    cases = {"loss and gradient (objectives.mse_value_grad)": lambda: mse_value_grad(theta, g, P, Xa, ya),
             "bare read: flat 1-D sum of X": lambda: sum_flat(flat),
             "bare read: X[i, j] sum, row by row": lambda: sum_rows(Xa),
             "BLAS (NumPy's) X @ w, one read of X": lambda: Xa @ w,
             "BLAS (NumPy's) r @ X, one read of X": lambda: r @ Xa}
    return {label: 1.0 / best_of(fn, max(repeat, 20)) for label, fn in cases.items()}


def adam_numpy(X, y, steps: int):
    import numpy as np

    n, d = X.shape

    def go():
        w = np.zeros(d + 1)
        m = np.zeros(d + 1)
        v = np.zeros(d + 1)
        for t in range(1, steps + 1):
            r = X @ w[:d] + w[d] - y
            g = np.empty(d + 1)
            g[:d] = (2.0 / n) * (X.T @ r)
            g[d] = (2.0 / n) * r.sum()
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            w -= 1e-2 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    return go


def adam_jax(X, y, steps: int):
    import jax
    import jax.numpy as jnp
    import optax

    jax.config.update("jax_enable_x64", True)
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    opt = optax.adam(1e-2)

    def loss(p):
        return jnp.mean((Xj @ p[:-1] + p[-1] - yj) ** 2)

    @jax.jit
    def run(p):
        def body(carry, _):
            p, s = carry
            g = jax.grad(loss)(p)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), None
        (p, _), _ = jax.lax.scan(body, (p, opt.init(p)), None, length=steps)
        return p

    def go():
        jax.block_until_ready(run(jnp.zeros(X.shape[1] + 1)))
    return go


def adam_torch(X, y, steps: int):
    import torch

    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def go():
        w = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
        b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([w, b], lr=1e-2)
        for _ in range(steps):
            opt.zero_grad()
            loss = torch.mean((Xt @ w + b - yt) ** 2)
            loss.backward()
            opt.step()
    return go


def _available(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--gd-steps", type=int, default=1_000_000)
    ap.add_argument("--adam-steps", type=int, default=500)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--step-steps", type=int, default=200_000)
    ap.add_argument("--only", choices=["gd", "adam", "step"], default=None)
    ap.add_argument("--stream", action="store_true", help="also time one pass over X alone (gradient, bare reads)")
    ap.add_argument("--cpu-time", action="store_true", help="time CPU seconds of the process, not wall time")
    args = ap.parse_args(argv)
    use_cpu_time(args.cpu_time)
    _set_threads(args.threads)
    if args.threads is not None and _available("torch"):
        import torch

        torch.set_num_threads(args.threads)
    import numba

    print(f"# threads={args.threads or 'default'} numba_threads={numba.get_num_threads()} python={sys.version.split()[0]}")

    if args.only in (None, "gd"):
        steps = args.gd_steps
        cases = [("calclab", gd_calclab), ("calclab-kernel", gd_calclab_kernel), ("bare-write", gd_bare_write),
                 ("numpy-loop", gd_numpy)]
        cases += [("jax-scan", gd_jax)] if _available("jax") else []
        cases += [("torch-eager", gd_torch)] if _available("torch") else []
        _report(f"gd x^2-4x+5, {steps} steps + trajectory", steps,
                [(name, mk(steps if name != "torch-eager" else steps // 100)) for name, mk in cases],
                args.repeat, scale={"torch-eager": 100})
    if args.only in (None, "adam"):
        X, y = linreg_data(args.n, args.d)
        steps = args.adam_steps
        cases = [("calclab", adam_calclab), ("numpy", adam_numpy)]
        cases += [("jax+optax", adam_jax)] if _available("optax") else []
        cases += [("torch", adam_torch)] if _available("torch") else []
        _report(f"adam linreg n={args.n} d={args.d} float64, {steps} steps", steps,
                [(name, mk(X, y, steps)) for name, mk in cases], args.repeat)
        if args.stream:
            print("\n## one pass over X, passes/s")
            for label, rate in stream_parts(X, y, args.repeat).items():
                print(f"  {label:48s} {rate:8,.0f}")
    if args.only in (None, "step"):
        steps = args.step_steps
        print(f"\n## optimizer step, generic loop, 2-D rosenbrock, {steps} steps")
        for name in ("gd", "adam", "lion"):
            rate = steps / best_of(step_calclab(name, steps), args.repeat)
            print(f"{name:>12}: {rate:14,.0f} steps/s")


def _report(title, steps, cases, repeat, scale=None):
    scale = scale or {}
    print(f"\n## {title}")
    rates = {}
    for name, fn in cases:
        sec = best_of(fn, repeat if name not in scale else 1)
        rates[name] = steps / (sec * scale.get(name, 1))
    base = rates["calclab"]
    for name, rate in rates.items():
        note = " (timed on 1/100 of the steps)" if name in scale else ""
        print(f"{name:>12}: {rate:14,.0f} steps/s   calclab/this = {base / rate:8.2f}x{note}")


if __name__ == "__main__":
    main()
