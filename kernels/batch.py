"""Many descents in one call: a batch of jobs on one problem, in parallel over the jobs.

Each job is one call of :func:`kernels.descent.descend` on its own rows of the stacked
arrays (its parameters, optimizer state, schedule state, trajectory, scratch buffers and
mini-batch seed), so a job's numbers are those of the same job run alone, by construction:
the same compiled step code, the same order of operations, nothing shared between jobs but
the read-only problem (objective, ``P``, ``X``, ``y``).  Jobs are independent, so the result
does not depend on the thread count or on which jobs share the batch.

Shapes (``J`` jobs, ``d`` parameters, ``R`` = steps + 1 rows, ``K`` kept iterates, ``k``
optimizer state rows, ``m`` optimizer scalars, ``b`` batch rows, ``c`` data columns, ``n``
data rows)::

    theta[J, d]  state[J, k, d]  sstate[J, m]  opt_id[J]  hp[J, N_HP]
    sched_id[J]  sp[J, N_SP]  sched_state[J, N_SCHED_STATE]  base_lr[J]  clip[J]
    batch_size[J]  seed[J]  t[J]  status[J]  total_steps[J]  grad_tol[J]  explode[J]  loss_ref[J]
    traj_theta[J, K, d]  traj_grad[J, K, d]  theta_every[J]  traj_loss[J, R]  traj_gnorm[J, R]  traj_lr[J, R]
    g[J, d]  Xb[J, b, c]  yb[J, b]  perm[J, n]

``status[j]`` is ``kernels.descent.RUNNING`` until job j stops (CONVERGED, DIVERGED,
COMPLETED); jobs that stopped are skipped, so the caller may call again in chunks of
``n_steps`` (for Ctrl-C) with the same numbers as one long call.
"""
import warnings

from numba import njit, prange, types
from numba.core.errors import NumbaExperimentalFeatureWarning

from kernels.descent import RUNNING, descend
from kernels.signatures import MAT, VEC, ObjectiveFn

# numba calls passing a first-class function "experimental"; kernels.descent takes its
# objective the same way.  The warning would reach a sweep's stderr on the first compile.
warnings.filterwarnings("ignore", message=".*First-class function type",
                        category=NumbaExperimentalFeatureWarning)

_I64 = types.int64
_F64V = types.float64[::1]
_F64M = types.float64[:, ::1]
_F64T = types.float64[:, :, ::1]
_I64V = types.int64[::1]
_I64M = types.int64[:, ::1]

_SIG = types.void(
    ObjectiveFn, VEC, MAT, VEC,                     # value_grad, P, X, y (shared, read only)
    _F64M, _F64T, _F64M, _I64V, _F64M,              # theta, state, sstate, opt_id, hp
    _I64V, _F64M, _F64M, _F64V, _F64V,              # sched_id, sp, sched_state, base_lr, clip
    _I64V, _I64V,                                   # batch_size, seed
    _I64V, _I64V, _I64, _I64V, _F64V, _F64V, _F64V,  # t, status, n_steps, total_steps, grad_tol, explode, loss_ref
    _F64T, _F64T, _I64V, _F64M, _F64M, _F64M,       # traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr
    _F64M, _F64T, _F64M, _I64M,                     # scratch: g, Xb, yb, perm
)


@njit(_SIG, cache=True, parallel=True)
def descend_batch(value_grad, P, X, y,
                  theta, state, sstate, opt_id, hp,
                  sched_id, sp, sched_state, base_lr, clip,
                  batch_size, seed,
                  t, status, n_steps, total_steps, grad_tol, explode, loss_ref,
                  traj_theta, traj_grad, theta_every, traj_loss, traj_gnorm, traj_lr,
                  g, Xb, yb, perm):
    """Run up to ``n_steps`` more steps of every job still RUNNING, in place (see the module
    docstring); ``t[j]`` and ``status[j]`` are updated as :func:`descend` returns them."""
    for j in prange(theta.shape[0]):
        if status[j] != RUNNING:
            continue
        s, tj = descend(value_grad, P, X, y,
                        theta[j], state[j], sstate[j], opt_id[j], hp[j],
                        sched_id[j], sp[j], sched_state[j], base_lr[j], clip[j],
                        batch_size[j], seed[j],
                        t[j], n_steps, total_steps[j], grad_tol[j], explode[j], loss_ref[j],
                        traj_theta[j], traj_grad[j], theta_every[j], traj_loss[j], traj_gnorm[j], traj_lr[j],
                        g[j], Xb[j], yb[j], perm[j])
        status[j] = s
        t[j] = tj
