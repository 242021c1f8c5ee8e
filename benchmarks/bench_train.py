"""Training speed: SGD steps/s of calclab's backprop kernel (through the shared descent loop)
against NumPy and, when installed, PyTorch and JAX, side by side in one process.

    NUMBA_NUM_THREADS=1 python benchmarks/bench_train.py --threads 1 [--steps 1000] [--parts] [--latency]
        [--only float64|float32|111]

(a) MLP 64-128-128-10, tanh, softmax cross-entropy, batch 256, plain SGD, in float64 and in
    float32 (calclab: model.precision=float32, float64 master weights);  (b) the tutorial's 1-1-1
    sigmoid network on its single point, full-batch GD: calclab as a run takes it (the width-1
    loop of kernels/train_fast.py), through the shared descent loop (as momentum, Adam or a
    schedule would) and the width-1 kernel alone on arrays already touched, against the same
    SGD hand-written for that one network in numba and a jitted JAX lax.scan; --latency times
    the dependent operations a step is made of.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys


def _threads_before_numpy():
    """--threads N sets the BLAS and OpenMP thread counts before NumPy is imported: OpenBLAS reads
    them once, when it loads (set later, NumPy's BLAS ran on every core, busy-waiting on the others)."""
    for i, a in enumerate(sys.argv[:-1]):
        if a == "--threads":
            for v in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
                os.environ[v] = sys.argv[i + 1]


_threads_before_numpy()

import numpy as np  # noqa: E402

from timing import best_of, use_cpu_time  # noqa: E402


def mlp_P(sizes, acts, loss):
    """The mlp kernels' P for a network with biases, no L2, alpha 0.01 (kernels.mlp.layout)."""
    return np.array([len(sizes) - 1, 1.0, loss, 0.0, 0.01, *sizes, *acts], dtype=float)


def calclab_case(sizes, acts, loss, X, y, batch, steps, lr, f32=False, generic=False):
    from kernels import mlp as K
    from kernels.train_fast import gd_mlp
    from runner.config.optim import OPTIM_SCHEMAS, SCHEDULE_SCHEMAS, schedule_to_kernel, to_kernel
    from runner.problems.problem import Problem
    from runner.descent.driver import DescentInputs, Run
    from runner.tasks.train import TrainKnobs

    P = mlp_P(sizes, acts, loss)
    count = sum(sizes[i + 1] * sizes[i] + sizes[i + 1] for i in range(len(sizes) - 1))
    x0 = np.random.default_rng(0).normal(scale=0.1, size=count)
    vg = K.mlp_value_grad_f32 if f32 else K.mlp_value_grad
    problem = Problem("mlp", "bench", count, x0, vg, None, P, X, y, [], [], X.shape[0],
                      gd_loop=None if f32 else gd_mlp)           # as runner.train.models.MLP.network
    opt_id, hp = to_kernel(OPTIM_SCHEMAS["gd"](lr=lr))
    sid, sp = schedule_to_kernel(SCHEDULE_SCHEMAS["constant"]())
    knobs = TrainKnobs(steps=steps, batch_size=batch, record_params=0)

    full = batch >= X.shape[0]

    def go():
        r = Run(problem, DescentInputs(opt_id, hp, sid, sp, lr, batch=0 if full else batch), knobs)
        if generic:         # the shared descent loop, as momentum, Adam or a schedule would run it
            r.fast = None
        elif full and not f32:
            assert r.fast is gd_mlp     # full-batch float64 GD: the loop a run takes
        r.step(steps)
    return go


def numpy_mlp(X, y, batch, steps, lr, dt=np.float64):
    rng = np.random.default_rng(0)
    W1, W2, W3 = (rng.normal(scale=0.1, size=s).astype(dt) for s in ((64, 128), (128, 128), (128, 10)))
    b1, b2, b3 = np.zeros(128, dt), np.zeros(128, dt), np.zeros(10, dt)
    Y = np.eye(10, dtype=dt)[y.astype(int)]
    X, lr = X.astype(dt), dt(lr)

    def go():
        nonlocal W1, W2, W3, b1, b2, b3
        for t in range(steps):
            i = (t * batch) % (X.shape[0] - batch)
            xb, yb = X[i:i + batch], Y[i:i + batch]
            h1 = np.tanh(xb @ W1 + b1)
            h2 = np.tanh(h1 @ W2 + b2)
            z = h2 @ W3 + b3
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            d3 = (p - yb) / batch
            d2 = (d3 @ W3.T) * (1 - h2 ** 2)
            d1 = (d2 @ W2.T) * (1 - h1 ** 2)
            W3 -= lr * h2.T @ d3; b3 -= lr * d3.sum(0)
            W2 -= lr * h1.T @ d2; b2 -= lr * d2.sum(0)
            W1 -= lr * xb.T @ d1; b1 -= lr * d1.sum(0)
    return go


def torch_mlp(X, y, batch, steps, lr, dt=np.float64):
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.Tanh(), torch.nn.Linear(128, 128), torch.nn.Tanh(),
                              torch.nn.Linear(128, 10))
    net = net.double() if dt == np.float64 else net.float()
    X = X.astype(dt)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    Xt, yt = torch.tensor(X), torch.tensor(y, dtype=torch.long)

    def go():
        for t in range(steps):
            i = (t * batch) % (X.shape[0] - batch)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(Xt[i:i + batch]), yt[i:i + batch]).backward()
            opt.step()
    return go


def jax_mlp(X, y, batch, steps, lr, dt=np.float64, slice_inside=False):
    """A jitted step called once per step from Python; slice_inside: the batch is cut inside
    the jitted step (lax.dynamic_slice) rather than by indexing outside it."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(0)
    params = [jnp.array(rng.normal(scale=0.1, size=s).astype(dt))
              for s in ((64, 128), (128,), (128, 128), (128,), (128, 10), (10,))]
    X = X.astype(dt)

    def loss(p, xb, yb):
        h = jnp.tanh(xb @ p[0] + p[1])
        h = jnp.tanh(h @ p[2] + p[3])
        z = h @ p[4] + p[5]
        return -jnp.mean(jax.nn.log_softmax(z)[jnp.arange(xb.shape[0]), yb])

    @jax.jit
    def step(p, xb, yb):
        g = jax.grad(loss)(p, xb, yb)
        return [a - lr * b for a, b in zip(p, g)]

    Xj, yj = jnp.array(X), jnp.array(y.astype(int))

    @jax.jit
    def step_at(p, i):
        xb = jax.lax.dynamic_slice_in_dim(Xj, i, batch)
        yb = jax.lax.dynamic_slice_in_dim(yj, i, batch)
        g = jax.grad(loss)(p, xb, yb)
        return [a - lr * b for a, b in zip(p, g)]

    def go():
        p = params
        for t in range(steps):
            i = (t * batch) % (X.shape[0] - batch)
            p = step_at(p, i) if slice_inside else step(p, Xj[i:i + batch], yj[i:i + batch])
        jax.block_until_ready(p)
    return go


W111 = (0.4, 0.1, 0.6, 0.2)      # the tutorial's 1-1-1 network: w1, b1, w2, b2; x = 0.5, target 0.8


def hand_loop_111(steps, lr):
    """(b) reference: the 1-1-1 network's SGD written out for this one network in numba (two
    exps, the scalar chain rule, the loss of each step kept): what a kernel that knew nothing
    but this network could do.  calclab's loop takes any width-1 network, activation and loss and
    records the loss, gradient norm and lr of every step."""
    import math

    from numba import njit

    @njit(cache=False)
    def run(p, x, t, lr, steps, loss):
        w1, b1, w2, b2 = p[0], p[1], p[2], p[3]
        for k in range(steps):
            h = 1.0 / (1.0 + math.exp(-(w1 * x + b1)))
            a = 1.0 / (1.0 + math.exp(-(w2 * h + b2)))
            loss[k] = (a - t) * (a - t)
            d2 = 2.0 * (a - t) * a * (1.0 - a)
            d1 = d2 * w2 * h * (1.0 - h)
            w2 -= lr * d2 * h
            b2 -= lr * d2
            w1 -= lr * d1 * x
            b1 -= lr * d1
        p[0], p[1], p[2], p[3] = w1, b1, w2, b2

    loss = np.empty(steps)

    def go():
        run(np.array(W111), 0.5, 0.8, lr, steps, loss)
    return go


def kernel_111(steps, lr):
    """(b) calclab's width-1 loop alone (kernels/train_fast.py: gd_mlp), on trajectory arrays
    allocated and touched once outside the timing."""
    from kernels import mlp as K
    from kernels.train_fast import gd_mlp

    P = mlp_P([1, 1, 1], [K.SIGMOID, K.SIGMOID], K.MSE)
    X, y = np.array([[0.5]]), np.array([0.8])
    L, G, R = np.zeros(steps + 1), np.zeros(steps + 1), np.zeros(steps + 1)
    none, g = np.zeros((0, 4)), np.zeros(4)

    def go():
        gd_mlp(P, X, y, np.array(W111), lr, 0, steps, steps, 0.0, 1e300, 0.0, none, none, 0, L, G, R, g)
    return go


def jax_scan_111(steps, lr):
    """(b) in JAX: jax.grad of the same loss, the steps in one jitted lax.scan."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def loss(p):
        h = jax.nn.sigmoid(p[0] * 0.5 + p[1])
        return (jax.nn.sigmoid(p[2] * h + p[3]) - 0.8) ** 2

    @jax.jit
    def run(p):
        def step(p, _):
            val, g = jax.value_and_grad(loss)(p)
            return p - lr * g, val
        return jax.lax.scan(step, p, None, length=steps)

    p0 = jnp.array(W111)

    def go():
        jax.block_until_ready(run(p0))
    return go


def parts_f32(X, y, repeat=200):
    """(a) in float32, piece by piece on one batch of 256 (µs, best of 7 runs of ``repeat``
    calls): calclab's objective alone (forward, loss, backward, the gradient written in float64),
    NumPy's forward and backward, the descent loop's gradient norm over the 26,634 weights, and
    the floor of any step of this network: its eight matrix products alone (3 forward, 3 for the
    weight gradients, 2 for the deltas; 17.7 million multiply-adds), in float32 and float64."""
    from numba import njit

    from kernels import mlp as K
    from kernels.descent import _norm

    sizes = [64, 128, 128, 10]
    P = np.array([3, 1.0, K.CCE, 0.0, 0.01, *sizes, K.TANH, K.TANH, K.SOFTMAX], dtype=float)
    count = sum(sizes[i + 1] * sizes[i] + sizes[i + 1] for i in range(3))
    rng = np.random.default_rng(0)
    theta, g = rng.normal(scale=0.1, size=count), np.zeros(count)
    Xb, yb = np.ascontiguousarray(X[:256]), np.ascontiguousarray(y[:256])
    W1, W2, W3 = (rng.normal(scale=0.1, size=s).astype(np.float32) for s in ((64, 128), (128, 128), (128, 10)))
    b1, b2, b3 = np.zeros(128, np.float32), np.zeros(128, np.float32), np.zeros(10, np.float32)
    X32, Y = Xb.astype(np.float32), np.eye(10, dtype=np.float32)[yb.astype(int)]

    def numpy_grad():
        h1 = np.tanh(X32 @ W1 + b1)
        h2 = np.tanh(h1 @ W2 + b2)
        z = h2 @ W3 + b3
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        d3 = (p - Y) / 256
        d2 = (d3 @ W3.T) * (1 - h2 * h2)
        d1 = (d2 @ W2.T) * (1 - h1 * h1)
        return h2.T @ d3, d3.sum(0), h1.T @ d2, d2.sum(0), X32.T @ d1, d1.sum(0)

    @njit
    def norms(v, n):          # n norms in one call: no dispatch cost in the figure
        s = 0.0
        for _ in range(n):
            s += _norm(v)
        return s

    def products(Xd, V1, V2, V3):      # the step's eight matrix products, nothing else
        a1 = Xd @ V1
        a2 = a1 @ V2
        d3 = a2 @ V3
        d2 = d3 @ V3.T
        d1 = d2 @ V2.T
        return a2.T @ d3, a1.T @ d2, Xd.T @ d1

    W64 = [w.astype(np.float64) for w in (W1, W2, W3)]
    g[:] = rng.normal(size=count)
    cases = {"calclab objective (mlp_value_grad_f32)": lambda: [K.mlp_value_grad_f32(theta, g, P, Xb, yb)
                                                              for _ in range(repeat)],
             "numpy forward + backward": lambda: [numpy_grad() for _ in range(repeat)],
             "gradient norm, 26,634 weights (descent._norm)": lambda: norms(g, repeat),
             "the step's 8 BLAS products alone, float32 (NumPy)": lambda: [products(X32, W1, W2, W3)
                                                                       for _ in range(repeat)],
             "the step's 8 BLAS products alone, float64 (NumPy)": lambda: [products(Xb, *W64)
                                                                       for _ in range(repeat)]}
    return {label: best_of(fn, 7) / repeat * 1e6 for label, fn in cases.items()}


def latency_111(n=10_000_000):
    """(b)'s floor: ns per operation in a chain of dependent ones (each needs the last one's
    result, as every step of one SGD run needs the last step's weights), best of 5."""
    import math

    from numba import njit

    @njit
    def exp_chain(x, n):          # exp(-x): the sigmoid's exp (with its negation)
        for _ in range(n):
            x = math.exp(-x)
        return x

    @njit
    def div_chain(x, n):          # 1 / (1 + e): the sigmoid's add and division
        for _ in range(n):
            x = 1.0 / (1.0 + x)
        return x

    @njit
    def muladd_chain(x, n):       # b + w a: a layer's pre-activation
        for _ in range(n):
            x = 0.0001 + 0.999 * x
        return x

    out = {}
    for label, fn in (("exp(-x)", exp_chain), ("1 / (1 + x)", div_chain), ("b + w x", muladd_chain)):
        out[label] = best_of(lambda: fn(0.5, n), 5) / n * 1e9
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--parts", action="store_true", help="also time (a)'s float32 objective and norm alone")
    ap.add_argument("--latency", action="store_true", help="also time (b)'s dependent exp, division and multiply-add")
    ap.add_argument("--only", choices=["float64", "float32", "111"], default=None,
                    help="only (a) in float64, (a) in float32, or (b)")
    ap.add_argument("--cpu-time", action="store_true", help="time CPU seconds of the process, not wall time")
    args = ap.parse_args()
    use_cpu_time(args.cpu_time)
    if args.threads:
        for v in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[v] = str(args.threads)
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                                   f"intra_op_parallelism_threads={args.threads}").strip()
        if importlib.util.find_spec("torch"):
            import torch

            torch.set_num_threads(args.threads)
    from kernels import mlp as K

    rng = np.random.default_rng(1)
    X = rng.normal(size=(4096, 64))
    y = rng.integers(0, 10, 4096).astype(float)
    steps = args.steps
    for dt, f32 in ((np.float64, False), (np.float32, True)):
        name = np.dtype(dt).name
        if args.only not in (None, name):
            continue
        cases = [(f"calclab-{name}", calclab_case([64, 128, 128, 10], [K.TANH, K.TANH, K.SOFTMAX], K.CCE, X, y, 256,
                                                  steps, 0.05, f32=f32)),
                 ("numpy", numpy_mlp(X, y, 256, steps, 0.05, dt))]
        if importlib.util.find_spec("torch"):
            cases.append(("torch", torch_mlp(X, y, 256, steps, 0.05, dt)))
        if importlib.util.find_spec("jax"):
            cases.append(("jax-jit", jax_mlp(X, y, 256, steps, 0.05, dt)))
            cases.append(("jax-jit-in", jax_mlp(X, y, 256, steps, 0.05, dt, slice_inside=True)))
        print(f"# threads={args.threads or 'default'}  (a) MLP 64-128-128-10 tanh, softmax CE, batch 256, {name}, SGD")
        base = None
        for label, go in cases:
            rate = steps / best_of(go, 3)
            base = base or rate
            print(f"{label:>16}: {rate:10,.0f} steps/s   calclab/this = {base / rate:5.2f}x")
    if args.parts:
        print("# (a) float32, one batch of 256, alone")
        for label, us in parts_f32(X, y).items():
            print(f"  {label:48s} {us:8.1f} µs")
    if args.only not in (None, "111"):
        return
    n = 1_000_000
    print("# (b) the tutorial's 1-1-1 sigmoid network on its point, SGD lr=0.1, 1,000,000 steps")
    net = ([1, 1, 1], [K.SIGMOID, K.SIGMOID], K.MSE, np.array([[0.5]]), np.array([0.8]), 1, n, 0.1)
    cases = [("calclab", calclab_case(*net)),
             ("calclab-descend", calclab_case(*net, generic=True)),
             ("calclab-kernel", kernel_111(n, 0.1)),
             ("numba-hand-loop", hand_loop_111(n, 0.1))]
    if importlib.util.find_spec("jax"):
        cases.append(("jax-scan", jax_scan_111(n, 0.1)))
    base = None
    for label, go in cases:
        rate = n / best_of(go, 3)
        base = base or rate
        print(f"{label:>16}: {rate:12,.0f} steps/s   calclab/this = {base / rate:5.2f}x")
    if args.latency:
        ns = latency_111()
        print("# (b) one operation in a chain of dependent ones, ns")
        for label, v in ns.items():
            print(f"  {label:14s} {v:6.2f} ns")
        floor = 2 * (ns["exp(-x)"] + ns["1 / (1 + x)"] + ns["b + w x"])
        print(f"  two sigmoid layers' forward alone: {floor:.1f} ns a step, at most {1e3 / floor:.1f} million steps/s")


if __name__ == "__main__":
    main()
