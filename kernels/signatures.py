"""The typed function signatures that let one cached kernel take any objective.

A kernel that receives a jitted function as a plain argument is specialised on that
function's identity and never hits numba's on-disk cache in a new process.  Declaring
the argument as a first-class ``FunctionType`` of a fixed signature makes the kernel
independent of which objective it is given, so it is compiled once and cached.

Objective protocol (every problem, named, expression or data-driven, implements it)::

    value_grad(theta, grad_out, P, X, y) -> loss
        theta    float64[::1]    parameters (d,)
        grad_out float64[::1]    written with the gradient (or a subgradient) at theta
        P        float64[::1]    problem constants (packed by the problem builder)
        X        float64[:, ::1] data rows (n, k); shape (0, 0) when the problem has no data
        y        float64[::1]    targets (n,); shape (0,) when the problem has no data

    hessian(theta, H_out, P, X, y) -> None
        H_out    float64[:, ::1] written with the Hessian (d, d)
"""
from numba import types

VEC = types.float64[::1]
MAT = types.float64[:, ::1]

OBJECTIVE_SIG = types.float64(VEC, VEC, VEC, MAT, VEC)
HESSIAN_SIG = types.void(VEC, MAT, VEC, MAT, VEC)

ObjectiveFn = types.FunctionType(OBJECTIVE_SIG)
HessianFn = types.FunctionType(HESSIAN_SIG)
