"""Multi-start Newton for stationary points: ∇f = 0, and the Lagrange (KKT) system.

One kernel serves both.  With m equality constraints g(x) = 0 the unknowns are
z = (x, λ) ∈ R^(n+m) and the Lagrangian is L(x, λ) = f(x) - Σ λᵢ gᵢ(x); its stationary
points are exactly the solutions of ∇f = Σ λᵢ ∇gᵢ, g = 0 (Nocedal and Wright, *Numerical
Optimization*, 2nd ed., eq. 12.34), and Newton on ∇L = 0 solves the KKT matrix

    [ ∇²f - Σλᵢ∇²gᵢ   -Jgᵀ ] [dx]     [ ∇f - Jgᵀλ ]
    [ -Jg               0   ] [dλ] = - [ -g        ]

With m = 0 this is plain Newton on ∇f = 0, which finds minima, maxima and saddles alike.

f arrives as the first-class ``value_grad``/``hessian`` functions of ``kernels.signatures``
(so named, expression and data problems all work and the kernel is cached once); the
constraints arrive as the autodiff tape of φ(x, λ) = Σ λᵢ gᵢ(x) in the n + m variables
(x, λ), whose gradient is (Jgᵀλ, g) and whose Hessian holds Σλᵢ∇²gᵢ and Jg.

Each Newton step solves the system by least squares (SVD), so a singular matrix gives the
minimum-norm step and its rank is reported, and is damped by halving until the residual
‖∇L‖ decreases (Armijo on ½‖∇L‖², for which the Newton step is a descent direction).
"""
import numpy as np
from numba import njit, types

from kernels import autodiff as ad
from kernels.autodiff_taylor import hessian as tape_hessian
from kernels.signatures import MAT, VEC, HessianFn, ObjectiveFn

CONVERGED, MAX_ITER, LEFT_BOX, NONFINITE, STALLED = 0, 1, 2, 3, 4
STATUS_NAMES = ("converged", "max_iter", "left_box", "nonfinite", "stalled")

_IVEC = types.int64[::1]
_SIG = types.void(
    ObjectiveFn, HessianFn, VEC, MAT, VEC,     # f: value_grad, hessian, P, X, y
    _IVEC, _IVEC, _IVEC, VEC, types.int64,     # tape of φ(x, λ) (empty when m = 0), n (size of x)
    MAT, VEC, VEC, types.int64, types.float64,  # starts (S, n+m), box lo, hi (n,), max_iter, tol
    MAT, _IVEC, _IVEC, VEC, _IVEC,             # out: roots (S, n+m), status, iterations, residual, rank
)


@njit(cache=True, error_model="numpy")
def _lagrangian(value_grad, hessian, P, X, y, ops, arg_a, arg_b, const, n, z, F, J, work):
    """F = ∇L(z) and J = ∇²L(z) for L = f(x) - φ(x, λ); returns ‖F‖₂."""
    N = z.size
    x = z[:n].copy()
    gx = np.empty(n)
    value_grad(x, gx, P, X, y)
    Hx = np.zeros((n, n))
    hessian(x, Hx, P, X, y)
    J[:, :] = 0.0
    F[:] = 0.0
    F[:n] = gx
    J[:n, :n] = Hx
    if N > n:
        values, adjoints, gphi, Hphi = work
        w = np.ones(1)
        outs = np.zeros(1, dtype=np.int64)
        outs[0] = ops.size - 1
        ad.vjp(ops, arg_a, arg_b, const, outs, z, w, values, adjoints, gphi)
        tape_hessian(ops, arg_a, arg_b, const, ops.size - 1, z, Hphi)
        for i in range(N):
            F[i] -= gphi[i]
            for j in range(N):
                J[i, j] -= Hphi[i, j]
    s = 0.0
    for i in range(N):
        s += F[i] * F[i]
    return np.sqrt(s)


@njit(cache=True)
def _outside(z, n, lo, hi):
    """True when x is more than one box width outside the box (Newton may cut corners)."""
    for i in range(n):
        w = hi[i] - lo[i]
        if z[i] < lo[i] - w or z[i] > hi[i] + w:
            return True
    return False


@njit(_SIG, cache=True, error_model="numpy")
def solve(value_grad, hessian, P, X, y, ops, arg_a, arg_b, const, n,
          starts, lo, hi, max_iter, tol, roots, status, iterations, residual, rank):
    """Newton from every row of ``starts``; row s of the outputs describes start s:
    ``roots[s]`` the last iterate z = (x, λ), ``status[s]`` one of CONVERGED..STALLED,
    ``iterations[s]``, ``residual[s]`` = ‖∇L‖₂ there, ``rank[s]`` of the Newton matrix."""
    S, N = starts.shape
    F = np.empty(N)
    J = np.empty((N, N))
    F_try = np.empty(N)
    J_try = np.empty((N, N))
    work = (np.empty(max(ops.size, 1)), np.empty(max(ops.size, 1)), np.empty(N), np.empty((N, N)))
    for s in range(S):
        z = starts[s].copy()
        res = _lagrangian(value_grad, hessian, P, X, y, ops, arg_a, arg_b, const, n, z, F, J, work)
        st = MAX_ITER
        it = 0
        r = N
        while it < max_iter:
            if not np.isfinite(res):
                st = NONFINITE
                break
            if res <= tol:
                st = CONVERGED
                break
            dz, _, r, _ = np.linalg.lstsq(J, -F, 1e-13)
            t = 1.0
            accepted = False
            for _ in range(40):
                z_try = z + t * dz
                res_try = _lagrangian(value_grad, hessian, P, X, y, ops, arg_a, arg_b, const, n,
                                      z_try, F_try, J_try, work)
                if res_try <= (1.0 - 1e-4 * t) * res:
                    accepted = True
                    break
                t *= 0.5
            it += 1
            if not accepted:
                st = STALLED
                break
            z[:] = z_try
            F[:] = F_try
            J[:, :] = J_try
            res = res_try
            if _outside(z, n, lo, hi):
                st = LEFT_BOX
                break
        if st == CONVERGED or st == MAX_ITER:
            _, _, r, _ = np.linalg.lstsq(J, -F, 1e-13)
        roots[s] = z
        status[s] = st
        iterations[s] = it
        residual[s] = res
        rank[s] = r
