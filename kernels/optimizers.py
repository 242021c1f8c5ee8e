"""First-order optimizers: ONE table (``OPTIMIZERS``, at the end) of small pure numba rules.

The idea is optax's: an optimizer is its state (explicit arrays) plus a pure update rule that
changes parameters and state in place, and every constant (where epsilon sits, bias
correction, how weight decay couples) is a visible hyperparameter.  Each table entry holds the
optimizer's name, default lr, hyperparameters with their defaults (written once, here: the
config schema is derived from them), state layout and rule; the dispatcher, the state shapes
and the hyperparameter packing are derived from the table (kernels/optimizer_table.py).  For
numba the optimizer is an integer id (its place in the table) and its hyperparameters one
float64 vector ``hp``, in the order of the entry's ``hyper``::

    hp = pack_hp(opt_id, beta1=0.8)                   # the others at their defaults
    state, sstate = init_state(opt_id, d)             # float64[rows, d], float64[scalars]
    for t in range(1, steps + 1):                     # t is the 1-based step number
        ... g = grad f(theta) ...
        update(opt_id, hp, theta, g, state, sstate, t, lr_t)

``lr_t`` is this step's learning rate: the caller applies the schedule.  ``t`` must start at
1 and grow by one per call; step 1 also (re)initialises lazily-initialised state.  An id
outside the table raises ValueError.

Semantics follow PyTorch 2.x ``torch.optim`` (single-tensor code path, float64) where
libraries differ, operation for operation, so the results agree to rounding (powers beta^t
are kept as running products instead of calling pow: ~t ulp apart, 3x faster).  Optimizers
not in PyTorch follow optax (each entry's doc says which).

Adding an optimizer: write its rule below (``STEP_ARGS`` then its hyperparameters), add one
entry to ``OPTIMIZERS``, add ``conf/optim/<name>.yaml`` (the user's menu: every key with the
table's default; a test checks they agree) and reference values (a case in
tests/reference/make_torch_optim_refs.py or make_optax_refs.py, and its regenerated JSON).

Length (over ~400 lines): this file IS the table: each optimizer's rule beside its entry, so
that adding one is an edit here and nowhere else among the kernels.
"""
import numpy as np
from numba import njit

from kernels.optimizer_table import STEP_ARGS, Optimizer, check, pack, step_chain  # noqa: F401 (STEP_ARGS: the rules' first arguments)


@njit(cache=True, inline="always")
def _lerp(a, b, w):
    """torch.lerp's float formula: a + w (b - a), switched to the end point form for w >= 0.5."""
    if abs(w) < 0.5:
        return a + w * (b - a)
    return b - (b - a) * (1.0 - w)


@njit(cache=True, inline="always")
def _power(sstate, k, base, t):
    """base^t kept in sstate[k] by one multiplication per step (PyTorch calls pow; the two
    agree to ~t ulp, and pow costs ~25 ns a call).  Flushed to 0 below 1e-20, where
    1 - base^t is already 1.0 in float64, so it never crawls through subnormals."""
    p = base if t == 1 else sstate[k] * base
    if p < 1e-20:
        p = 0.0
    sstate[k] = p
    return p


@njit(cache=True, inline="always")
def _decay(theta, i, gi, lr, wd, decoupled):
    """Weight decay on coordinate i: decoupled theta_i *= 1 - lr wd (AdamW), else coupled
    g_i + wd theta_i (L2).  Returns the gradient to use."""
    if wd != 0.0:
        if decoupled:
            theta[i] = theta[i] * (1.0 - lr * wd)
        else:
            gi = gi + wd * theta[i]
    return gi


@njit(cache=True, inline="always")
def _moments(state, i, gi, beta1, beta2):
    """Adam's moments in rows 0 and 1: m = beta1 m + (1-beta1) g (as torch.lerp),
    v = beta2 v + (1-beta2) g^2.  Returns (m_i, v_i)."""
    mi = _lerp(state[0, i], gi, 1.0 - beta1)
    state[0, i] = mi
    vi = state[1, i] * beta2 + (1.0 - beta2) * gi * gi
    state[1, i] = vi
    return mi, vi


@njit(cache=True, error_model="numpy")
def _sgd(theta, g, state, t, lr, wd, momentum, dampening, nesterov):
    """torch.optim.SGD: buf_1 = g_1, buf_t = mu buf + (1 - dampening) g; theta -= lr * buf
    (nesterov: theta -= lr * (g + mu buf)).  With dampening 0 this is the tutorial's
    v := beta v + g; theta := theta - alpha v."""
    for i in range(theta.size):
        gi = _decay(theta, i, g[i], lr, wd, False)
        if momentum != 0.0:
            if t == 1:
                b = gi
            else:
                b = state[0, i] * momentum + (1.0 - dampening) * gi
            state[0, i] = b
            gi = gi + momentum * b if nesterov else b
        theta[i] = theta[i] + (-lr) * gi


@njit(cache=True, error_model="numpy")
def gd_step(theta, g, state, sstate, t, lr):
    _sgd(theta, g, state, t, lr, 0.0, 0.0, 0.0, False)


@njit(cache=True, error_model="numpy")
def sgd_step(theta, g, state, sstate, t, lr, weight_decay):
    _sgd(theta, g, state, t, lr, weight_decay, 0.0, 0.0, False)


@njit(cache=True, error_model="numpy")
def momentum_step(theta, g, state, sstate, t, lr, momentum, dampening, weight_decay):
    _sgd(theta, g, state, t, lr, weight_decay, momentum, dampening, False)


@njit(cache=True, error_model="numpy")
def nesterov_step(theta, g, state, sstate, t, lr, momentum, weight_decay):
    _sgd(theta, g, state, t, lr, weight_decay, momentum, 0.0, True)


@njit(cache=True, error_model="numpy")
def adagrad_step(theta, g, state, sstate, t, lr, lr_decay, weight_decay, initial_accumulator_value, eps):
    """torch.optim.Adagrad: acc += g^2; theta -= lr/(1 + (t-1) lr_decay) * g / (sqrt(acc) + eps)."""
    clr = lr / (1.0 + (t - 1) * lr_decay)
    for i in range(theta.size):
        gi = _decay(theta, i, g[i], lr, weight_decay, False)
        a = state[0, i] if t > 1 else initial_accumulator_value
        a = a + gi * gi
        state[0, i] = a
        theta[i] = theta[i] + (-clr) * gi / (np.sqrt(a) + eps)


@njit(cache=True, error_model="numpy")
def rmsprop_step(theta, g, state, sstate, t, lr, alpha, eps, weight_decay, momentum, centered):
    """torch.optim.RMSprop: s = alpha s + (1-alpha) g^2; avg = sqrt(s - gbar^2 if centered
    else s) + eps; theta -= lr * g/avg, or via buf = momentum buf + g/avg when momentum > 0.

    Rows [square_avg, grad_avg, momentum_buffer].  grad_avg and the buffer are written even
    when unused: selects instead of branches keep the loop vectorized (3-4x faster)."""
    use_momentum = momentum > 0.0
    is_centered = centered != 0.0
    for i in range(theta.size):
        gi = _decay(theta, i, g[i], lr, weight_decay, False)
        s = state[0, i] * alpha + (1.0 - alpha) * gi * gi
        state[0, i] = s
        ga = _lerp(state[1, i], gi, 1.0 - alpha)
        state[1, i] = ga
        avg = np.sqrt(s + (-1.0 * ga) * ga if is_centered else s) + eps
        b = state[2, i] * momentum + gi / avg
        state[2, i] = b
        theta[i] = theta[i] + ((-lr) * b if use_momentum else (-lr) * gi / avg)


@njit(cache=True, error_model="numpy")
def adadelta_step(theta, g, state, sstate, t, lr, rho, eps, weight_decay):
    """torch.optim.Adadelta (Zeiler 2012): delta = sqrt(acc + eps)/sqrt(s + eps) * g."""
    for i in range(theta.size):
        gi = _decay(theta, i, g[i], lr, weight_decay, False)
        s = state[0, i] * rho + (1.0 - rho) * gi * gi
        state[0, i] = s
        delta = np.sqrt(state[1, i] + eps) / np.sqrt(s + eps) * gi
        state[1, i] = state[1, i] * rho + (1.0 - rho) * delta * delta
        theta[i] = theta[i] + (-lr) * delta


@njit(cache=True, error_model="numpy")
def _adam(theta, g, state, sstate, t, lr, wd, beta1, beta2, eps, eps_root, amsgrad, decoupled):
    """torch.optim.Adam / AdamW, plus optax's eps_root inside the square root:

        m = beta1 m + (1-beta1) g,  v = beta2 v + (1-beta2) g^2   (v -> max so far if amsgrad)
        theta -= lr/(1-beta1^t) * m / (sqrt(v/(1-beta2^t) + eps_root) + eps)

    eps_root=0 is PyTorch's form; eps=0, eps_root=eps is the tutorial's theta -= a m^/sqrt(v^+eps).
    sstate = [beta1^t, beta2^t].
    """
    bc1 = 1.0 - _power(sstate, 0, beta1, t)
    bc2 = 1.0 - _power(sstate, 1, beta2, t)
    step_size = lr / bc1
    bc2_sqrt = np.sqrt(bc2)
    root_shift = eps_root * bc2   # sqrt(v + eps_root bc2)/sqrt(bc2) = sqrt(v/bc2 + eps_root)
    for i in range(theta.size):
        gi = _decay(theta, i, g[i], lr, wd, decoupled)
        mi, vi = _moments(state, i, gi, beta1, beta2)
        # running max kept unconditionally: a branch here stops LLVM vectorizing the loop (4x slower)
        vmax = np.maximum(state[2, i], vi)
        state[2, i] = vmax
        vi = vmax if amsgrad else vi
        denom = np.sqrt(vi + root_shift) / bc2_sqrt + eps
        theta[i] = theta[i] + (-step_size) * mi / denom


@njit(cache=True, error_model="numpy")
def adam_step(theta, g, state, sstate, t, lr, beta1, beta2, eps, weight_decay, eps_root, amsgrad):
    _adam(theta, g, state, sstate, t, lr, weight_decay, beta1, beta2, eps, eps_root, amsgrad != 0.0, False)


@njit(cache=True, error_model="numpy")
def adamw_step(theta, g, state, sstate, t, lr, beta1, beta2, eps, weight_decay, eps_root, amsgrad):
    _adam(theta, g, state, sstate, t, lr, weight_decay, beta1, beta2, eps, eps_root, amsgrad != 0.0, True)


@njit(cache=True, error_model="numpy")
def amsgrad_step(theta, g, state, sstate, t, lr, beta1, beta2, eps, weight_decay, eps_root):
    _adam(theta, g, state, sstate, t, lr, weight_decay, beta1, beta2, eps, eps_root, True, False)


@njit(cache=True, error_model="numpy")
def nadam_step(theta, g, state, sstate, t, lr, beta1, beta2, eps, weight_decay, momentum_decay,
               decoupled_weight_decay):
    """torch.optim.NAdam (Dozat 2016 with PyTorch's momentum schedule):

        mu_t = beta1 (1 - 0.5 * 0.96^(t psi)),  prod_t = mu_1 ... mu_t
        theta -= lr (1-mu_t)/(1-prod_t) g/den + lr mu_{t+1}/(1-prod_t mu_{t+1}) m/den,
        den = sqrt(v/(1-beta2^t)) + eps.
    sstate = [prod_t, beta2^t, 0.96^((t+1) psi)].
    """
    decoupled = decoupled_weight_decay != 0.0
    bc2 = 1.0 - _power(sstate, 1, beta2, t)
    tf = float(t)
    # pow as PyTorch (this trajectory is sensitive to the last ulp of mu); the step-(t+1)
    # value is kept for the next call, so one pow per step.
    decay_t = 0.96 ** (tf * momentum_decay) if t == 1 else sstate[2]
    decay_next = 0.96 ** ((tf + 1.0) * momentum_decay)
    sstate[2] = decay_next
    mu = beta1 * (1.0 - 0.5 * decay_t)
    mu_next = beta1 * (1.0 - 0.5 * decay_next)
    prod = (1.0 if t == 1 else sstate[0]) * mu
    sstate[0] = prod
    prod_next = prod * mu_next
    c_grad = -lr * (1.0 - mu) / (1.0 - prod)
    c_mom = (-lr * mu_next) / (1.0 - prod_next)
    for i in range(theta.size):
        gi = _decay(theta, i, g[i], lr, weight_decay, decoupled)
        mi, vi = _moments(state, i, gi, beta1, beta2)
        denom = np.sqrt(vi / bc2) + eps
        theta[i] = theta[i] + c_grad * gi / denom
        theta[i] = theta[i] + c_mom * mi / denom


@njit(cache=True, error_model="numpy")
def adamax_step(theta, g, state, sstate, t, lr, beta1, beta2, eps, weight_decay):
    """torch.optim.Adamax (Kingma & Ba 2015, sec. 7.1): u = max(beta2 u, |g| + eps);
    theta -= lr/(1-beta1^t) * m/u.  sstate = [beta1^t]."""
    clr = lr / (1.0 - _power(sstate, 0, beta1, t))
    for i in range(theta.size):
        gi = _decay(theta, i, g[i], lr, weight_decay, False)
        mi = _lerp(state[0, i], gi, 1.0 - beta1)
        state[0, i] = mi
        ui = np.maximum(state[1, i] * beta2, abs(gi) + eps)
        state[1, i] = ui
        theta[i] = theta[i] + (-clr) * mi / ui


@njit(cache=True, error_model="numpy")
def radam_step(theta, g, state, sstate, t, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay):
    """torch.optim.RAdam (Liu et al. 2020): with rho_inf = 2/(1-beta2) - 1 and
    rho_t = rho_inf - 2 t beta2^t/(1-beta2^t), take the rectified adaptive step when
    rho_t > 5, else the un-adapted momentum step theta -= lr m^.  sstate = [beta1^t, beta2^t]."""
    decoupled = decoupled_weight_decay != 0.0
    bc1 = 1.0 - _power(sstate, 0, beta1, t)
    b2t = _power(sstate, 1, beta2, t)
    bc2 = 1.0 - b2t
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * float(t) * b2t / bc2
    adaptive = rho_t > 5.0
    rect = 0.0
    if adaptive:
        rect = np.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
    bc2_sqrt = np.sqrt(bc2)
    for i in range(theta.size):
        gi = _decay(theta, i, g[i], lr, weight_decay, decoupled)
        mi, vi = _moments(state, i, gi, beta1, beta2)
        step = mi / bc1 * lr
        adapted = step * (bc2_sqrt / (np.sqrt(vi) + eps)) * rect
        theta[i] = theta[i] - (adapted if adaptive else step)   # a select, not a branch: vectorizes


@njit(cache=True, error_model="numpy")
def lion_step(theta, g, state, sstate, t, lr, beta1, beta2, weight_decay):
    """Lion (Chen et al. 2023, Algorithm 2; optax.lion): c = b1 m + (1-b1) g;
    theta -= lr (sign(c) + wd theta); m = b2 m + (1-b2) g.  Weight decay is decoupled."""
    for i in range(theta.size):
        gi = g[i]
        c = beta1 * state[0, i] + (1.0 - beta1) * gi
        theta[i] = theta[i] - lr * (np.sign(c) + weight_decay * theta[i])
        state[0, i] = beta2 * state[0, i] + (1.0 - beta2) * gi



@njit(cache=True, error_model="numpy")
def adabelief_step(theta, g, state, sstate, t, lr, beta1, beta2, eps, eps_root):
    """AdaBelief (Zhuang et al. 2020) as optax.scale_by_belief, operation for operation:

        m = (1-b1) g + b1 m,   s = (1-b2) (g - m)^2 + b2 s + eps_root
        theta -= lr * (m/(1-b1^t)) / (sqrt(s/(1-b2^t)) + eps)

    eps_root sits inside the square root and, as in optax, is added to the stored s at every
    step (it accumulates); eps is outside.  Both moments are bias-corrected.  Rows [m, s];
    sstate = [beta1^t, beta2^t].  (optax's nesterov=True variant is not offered.)"""
    bc1 = 1.0 - _power(sstate, 0, beta1, t)
    bc2 = 1.0 - _power(sstate, 1, beta2, t)
    for i in range(theta.size):
        gi = g[i]
        mi = (1.0 - beta1) * gi + beta1 * state[0, i]
        state[0, i] = mi
        e = gi - mi
        si = ((1.0 - beta2) * (e * e) + beta2 * state[1, i]) + eps_root
        state[1, i] = si
        theta[i] = theta[i] + (mi / bc1) / (np.sqrt(si / bc2) + eps) * (-lr)


@njit(cache=True, error_model="numpy")
def yogi_step(theta, g, state, sstate, t, lr, beta1, beta2, eps, eps_root, initial_accumulator_value):
    """Yogi (Zaheer et al. 2018) as optax.scale_by_yogi, operation for operation:

        m = (1-b1) g + b1 m,   v = v - (1-b2) sign(v - g^2) g^2   (additive, not Adam's average)
        theta -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t) + eps_root) + eps)

    Both m and v start at initial_accumulator_value (optax's 1e-6), not 0; both are
    bias-corrected; eps_root is inside the square root, eps outside.  Rows [m, v];
    sstate = [beta1^t, beta2^t]."""
    bc1 = 1.0 - _power(sstate, 0, beta1, t)
    bc2 = 1.0 - _power(sstate, 1, beta2, t)
    for i in range(theta.size):
        gi = g[i]
        m0 = state[0, i] if t > 1 else initial_accumulator_value
        v0 = state[1, i] if t > 1 else initial_accumulator_value
        mi = (1.0 - beta1) * gi + beta1 * m0
        state[0, i] = mi
        g2 = gi * gi
        vi = v0 - (1.0 - beta2) * np.sign(v0 - g2) * g2
        state[1, i] = vi
        theta[i] = theta[i] + (mi / bc1) / (np.sqrt(vi / bc2 + eps_root) + eps) * (-lr)

# ---- the table ----------------------------------------------------------------------------
# Defaults follow PyTorch, except: gd uses the tutorial's lr 0.1; momentum and nesterov the
# tutorial's momentum 0.9; lion (not in PyTorch) optax's b1, b2 and weight decay.  beta1 and
# beta2 are the config's ``betas``; the meaning of every key is in conf/optim/<name>.yaml.
_ADAM = dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)

OPTIMIZERS = (
    Optimizer("gd", gd_step, lr=0.1, hyper={}, rows=1, scalars=1,
              doc="theta := theta - lr grad (the tutorial's rule and its lr 0.1)."),
    Optimizer("sgd", sgd_step, lr=1e-3, hyper=dict(weight_decay=0.0), rows=1, scalars=1,
              doc="torch.optim.SGD without momentum; the loop draws the mini-batches."),
    Optimizer("momentum", momentum_step, lr=1e-3, hyper=dict(momentum=0.9, dampening=0.0, weight_decay=0.0),
              rows=1, scalars=1,
              doc="torch.optim.SGD(momentum, dampening): v := momentum v + (1 - dampening) g; theta -= lr v."),
    Optimizer("nesterov", nesterov_step, lr=1e-3, hyper=dict(momentum=0.9, weight_decay=0.0), rows=1, scalars=1,
              doc="torch.optim.SGD(momentum, nesterov=True); PyTorch requires dampening 0, so no key."),
    Optimizer("adagrad", adagrad_step, lr=1e-2,
              hyper=dict(lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10),
              rows=1, scalars=1, doc="torch.optim.Adagrad."),
    Optimizer("rmsprop", rmsprop_step, lr=1e-2,
              hyper=dict(alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False),
              rows=3, scalars=1, doc="torch.optim.RMSprop; rows [square_avg, grad_avg, momentum_buffer]."),
    Optimizer("adadelta", adadelta_step, lr=1.0, hyper=dict(rho=0.9, eps=1e-6, weight_decay=0.0),
              rows=2, scalars=1, doc="torch.optim.Adadelta; rows [square_avg, acc_delta]."),
    Optimizer("adam", adam_step, lr=1e-3, hyper=dict(_ADAM, eps_root=0.0, amsgrad=False), rows=3, scalars=2,
              doc="torch.optim.Adam, plus eps_root inside the square root: theta -= lr m^ / (sqrt(v^ + eps_root) "
                  "+ eps).  The tutorial's form is eps=0, eps_root=1e-8.  Rows [m, v, max v]."),
    Optimizer("adamw", adamw_step, lr=1e-3, hyper=dict(_ADAM, weight_decay=1e-2, eps_root=0.0, amsgrad=False),
              rows=3, scalars=2, doc="torch.optim.AdamW: decoupled weight decay theta *= 1 - lr weight_decay."),
    Optimizer("nadam", nadam_step, lr=2e-3, hyper=dict(_ADAM, momentum_decay=4e-3, decoupled_weight_decay=False),
              rows=2, scalars=3, doc="torch.optim.NAdam; rows [m, v]."),
    Optimizer("amsgrad", amsgrad_step, lr=1e-3, hyper=dict(_ADAM, eps_root=0.0), rows=3, scalars=2,
              doc="torch.optim.Adam(amsgrad=True): the denominator uses the running maximum of v."),
    Optimizer("adamax", adamax_step, lr=2e-3, hyper=dict(_ADAM), rows=2, scalars=1,
              doc="torch.optim.Adamax; rows [m, u]."),
    Optimizer("radam", radam_step, lr=1e-3, hyper=dict(_ADAM, decoupled_weight_decay=False), rows=2, scalars=2,
              doc="torch.optim.RAdam; rows [m, v]."),
    Optimizer("lion", lion_step, lr=1e-4, hyper=dict(beta1=0.9, beta2=0.99, weight_decay=1e-3), rows=1, scalars=1,
              doc="Lion (Chen et al. 2023; optax.lion defaults b1=0.9, b2=0.99, weight_decay=1e-3)."),
    Optimizer("adabelief", adabelief_step, lr=1e-3, hyper=dict(beta1=0.9, beta2=0.999, eps=1e-16, eps_root=1e-16),
              rows=2, scalars=2,
              doc="AdaBelief (Zhuang et al. 2020; optax.adabelief defaults; lr: the paper's 1e-3, optax has none)."),
    Optimizer("yogi", yogi_step, lr=1e-2,
              hyper=dict(beta1=0.9, beta2=0.999, eps=1e-3, eps_root=0.0, initial_accumulator_value=1e-6),
              rows=2, scalars=2,
              doc="Yogi (Zaheer et al. 2018; optax.scale_by_yogi defaults; lr: the paper's 1e-2, optax has none)."),
)

# ---- derived from the table -----------------------------------------------------------------
check(OPTIMIZERS)
NAMES = tuple(e.name for e in OPTIMIZERS)
ID = {name: i for i, name in enumerate(NAMES)}
_ROWS = tuple(e.rows for e in OPTIMIZERS)
_SCALARS = tuple(e.scalars for e in OPTIMIZERS)
_step = step_chain(OPTIMIZERS)


def pack_hp(opt_id: int, **values) -> np.ndarray:
    """``hp`` for ``update``: the hyperparameters of optimizer ``opt_id`` in its entry's order,
    ``values`` (e.g. ``beta1=0.9``; booleans as 0.0 / 1.0) over the table's defaults.
    Raises KeyError for a name the optimizer does not have."""
    return pack(OPTIMIZERS[opt_id], values)


def unpack_hp(opt_id: int, hp) -> dict:
    """The inverse of pack_hp: ``{name: value}``."""
    return dict(zip(OPTIMIZERS[opt_id].hyper, (float(v) for v in hp)))


def state_shape(opt_id: int, d: int) -> tuple:
    """``(rows, scalars)``: state is float64[rows, d], sstate float64[scalars]."""
    return _ROWS[opt_id], _SCALARS[opt_id]


@njit(cache=True)
def init_state(opt_id, d):
    """Fresh optimizer state: ``(state float64[rows, d] C-contiguous, sstate float64[scalars])``,
    zeros (what starts elsewhere is set by the rule at t = 1).  Raises ValueError for an id
    outside the table."""
    if opt_id < 0 or opt_id >= len(_ROWS):
        raise ValueError("unknown optimizer id")
    return np.zeros((_ROWS[opt_id], d)), np.zeros(_SCALARS[opt_id])


# _nrt=False: no reference counting of the five array arguments on every call (numba cannot
# prune the incref/decref pairs through the branches: ~20 ns a call at d=1); nothing allocates.
@njit(cache=True, error_model="numpy", _nrt=False)
def update(opt_id, hp, theta, g, state, sstate, t, lr):
    """One optimizer step in place on ``theta`` (and the state) given the gradient ``g``.

    ``t`` is the 1-based step number, ``lr`` this step's learning rate, ``hp`` from pack_hp.
    ``g`` is not modified.  Allocates nothing.  Raises ValueError for an id outside the table
    (or an ``hp`` shorter than the optimizer's hyperparameters), touching nothing.
    """
    if not _step(opt_id, hp, theta, g, state, sstate, t, lr):
        raise ValueError("unknown optimizer id, or hp shorter than its hyperparameters")
