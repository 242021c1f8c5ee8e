"""Monte Carlo speed on the integral of x^2 over [0, 1], side by side in one process:
calclab's kernel (counter-based generator, nothing stored per sample), NumPy (PCG64, in
chunks), SciPy's scrambled Sobol points, and PyTorch / JAX when installed.

    NUMBA_NUM_THREADS=1 python benchmarks/bench_integrate.py --n 100000000
    NUMBA_NUM_THREADS=2 python benchmarks/bench_integrate.py --n 100000000
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import resource

import numpy as np

from timing import best_of


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = args.n
    from kernels import montecarlo as M

    P = np.array([1.0, 0.0, 1.0, 2.0])

    def calclab():
        sums = np.zeros(((n + M.CHUNK - 1) // M.CHUNK, M.N_SUMS))
        M.mc_sums(M.POWER, P, M.no_expression, 1, n, 0, M.PLAIN, 0.0, sums)
        return sums[:, 0].sum() / n

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

    cases = [("calclab", calclab, n), ("numpy", numpy_pcg, n), ("scipy-sobol", scipy_sobol, min(n, 1 << 24))]
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
    threads = os.environ.get("NUMBA_NUM_THREADS", str(os.cpu_count()))
    print(f"# n={n} NUMBA_NUM_THREADS={threads}")
    base = None
    for name, fn, count in cases:
        t = best_of(fn, args.repeat)
        rate = count / t
        base = base or rate
        print(f"{name:>12}: {rate / 1e9:7.3f} billion samples/s   calclab/this = {base / rate:6.2f}x   estimate {fn():.8f}")
    print(f"max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
