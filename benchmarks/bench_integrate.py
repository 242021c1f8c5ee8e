"""Monte Carlo speed on the integral of x^2 over [0, 1], side by side in one process:
calclab's kernel on one and on two threads (counter-based generator, nothing stored per
sample), NumPy (PCG64, in chunks), SciPy's scrambled Sobol points, and PyTorch / JAX when
installed; then calclab's peak memory at n and 100 n, each in a fresh process.

    python benchmarks/bench_integrate.py --n 100000000
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import subprocess
import sys

import numpy as np

from timing import best_of


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only-calclab", action="store_true", help="one run, then print the peak RSS")
    args = ap.parse_args()
    n = args.n
    import numba

    if args.only_calclab:
        print(f"n={n:.0e}  estimate {calclab_x_squared(n):.8f}  max RSS {_max_rss_mb():.0f} MB")
        return

    def on_threads(k):
        def run():
            numba.set_num_threads(k)
            return calclab_x_squared(n)
        return run

    def numpy_pcg():
        rng = np.random.default_rng(0)
        total, done = 0.0, 0
        while done < n:
            m = min(1 << 22, n - done)
            u = rng.random(m)
            total += float(np.dot(u, u))
            done += m
        return total / n

    def scipy_sobol():
        from scipy.stats import qmc

        gen = qmc.Sobol(1, scramble=True, seed=0)
        m = min(n, 1 << 24)
        u = gen.random(m)[:, 0]
        return float(np.dot(u, u)) / m

    cases = [("calclab-1t", on_threads(1), n)]
    if numba.config.NUMBA_NUM_THREADS >= 2:
        cases.append(("calclab-2t", on_threads(2), n))
    cases += [("numpy", numpy_pcg, n), ("scipy-sobol", scipy_sobol, min(n, 1 << 24))]
    if importlib.util.find_spec("torch"):
        import torch

        def torch_mc():
            g = torch.Generator().manual_seed(0)
            total, done = 0.0, 0
            while done < n:
                m = min(1 << 22, n - done)
                u = torch.rand(m, generator=g, dtype=torch.float64)
                total += float(torch.dot(u, u))
                done += m
            return total / n
        cases.append(("torch", torch_mc, n))
    if importlib.util.find_spec("jax"):
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        @jax.jit
        def chunk(key):
            u = jax.random.uniform(key, (1 << 22,), dtype=jnp.float64)
            return jnp.dot(u, u)

        def jax_mc():
            keys = jax.random.split(jax.random.PRNGKey(0), max(1, n >> 22))
            return float(sum(chunk(k) for k in keys)) / (len(keys) << 22)
        cases.append(("jax", jax_mc, (max(1, n >> 22)) << 22))
    print(f"# n={n} numba threads available: {numba.config.NUMBA_NUM_THREADS}, cores: {os.cpu_count()}")
    base = None
    for name, fn, count in cases:
        t = best_of(fn, args.repeat)
        rate = count / t
        base = base or rate
        print(f"{name:>12}: {rate / 1e9:7.3f} billion samples/s   calclab-1t/this = {base / rate:6.2f}x   "
              f"estimate {fn():.8f}")
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    print("# calclab's memory, each in a fresh process (the same code, n and 100 n):")
    for m in (max(n // 100, 1), n):
        out = subprocess.run([sys.executable, __file__, "--only-calclab", "--n", str(m)], capture_output=True, text=True)
        print("  " + (out.stdout.strip() or out.stderr.strip()))


def calclab_x_squared(n: int) -> float:
    from kernels import montecarlo as M

    sums = np.zeros(((n + M.CHUNK - 1) // M.CHUNK, M.N_SUMS))
    M.mc_sums(M.POWER, np.array([1.0, 0.0, 1.0, 2.0]), M.no_expression, 1, n, 0, M.PLAIN, np.zeros(1), 0, sums)
    return sums[:, 0].sum() / n


def _max_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM: getrusage's ru_maxrss survives exec, so a child
    of a big parent would report the parent's peak)."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
