"""An objective on a grid through a plane of its parameters (the contour plots' surface)."""
from numba import njit, types

from kernels.signatures import MAT, VEC, ObjectiveFn

_SIG = types.void(ObjectiveFn, VEC, MAT, VEC, VEC, VEC, VEC, MAT, VEC)


@njit(_SIG, cache=True)
def plane_values(value_grad, P, X, y, theta, xs, ys, Z, g):
    """Z[i, j] = f(theta with theta[0] = xs[j], theta[1] = ys[i]); the other coordinates as in
    ``theta`` (which is left as it was); ``g`` is scratch for the gradient (theta's size)."""
    t0, t1 = theta[0], theta[1]
    for i in range(ys.size):
        for j in range(xs.size):
            theta[0] = xs[j]
            theta[1] = ys[i]
            Z[i, j] = value_grad(theta, g, P, X, y)
    theta[0], theta[1] = t0, t1
