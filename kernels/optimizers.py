"""First-order optimizers as small pure numba update rules on explicit state arrays.

The idea is optax's: an optimizer is ``init_state`` (explicit arrays) plus ``update`` (a
pure rule that changes parameters and state in place), and every constant (where epsilon
sits, bias correction, how weight decay couples) is a visible hyperparameter.  For numba
the optimizer is an integer id and its hyperparameters one float64 vector ``hp``::

    state, sstate = init_state(opt_id, d)           # float64[k, d], float64[m]
    for t in range(1, steps + 1):                     # t is the 1-based step number
        ... g = grad f(theta) ...
        update(opt_id, hp, theta, g, state, sstate, t, lr_t)

``lr_t`` is this step's learning rate: the caller applies the schedule.  ``t`` must start at
1 and grow by one per call; step 1 also (re)initialises lazily-initialised state.

Semantics follow PyTorch 2.x ``torch.optim`` (single-tensor code path, float64) where
libraries differ, operation for operation, so the results agree to rounding (powers beta^t
are kept as running products instead of calling pow: ~t ulp apart, 3x faster).  Lion is not
in PyTorch; it follows Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms",
Algorithm 2, as optax.lion does.

Hyperparameter vector ``hp`` (float64[N_HP]); entries an optimizer does not use are ignored.
Build it with :func:`pack_hp`.  Flags are 0.0 (off) or 1.0 (on).

===================  ===========================================================
index                meaning (PyTorch name)
===================  ===========================================================
HP_WEIGHT_DECAY      L2 penalty; coupled (g += wd*theta) unless decoupled (theta *= 1 - lr*wd)
HP_MOMENTUM          sgd-family momentum; rmsprop's momentum
HP_DAMPENING         sgd-family dampening (buf = mu*buf + (1 - dampening)*g)
HP_BETA1             first-moment decay (adam family, adamax, nadam, radam, lion b1)
HP_BETA2             second-moment decay (adam family); lion b2
HP_ALPHA             = HP_BETA2 slot: rmsprop's smoothing constant alpha
HP_RHO               = HP_BETA2 slot: adadelta's rho
HP_EPS               epsilon added to the denominator (outside the square root)
HP_EPS_ROOT          adam family: epsilon inside the square root, sqrt(v_hat + eps_root)
HP_AMSGRAD           adam/adamw: 1 = use the running maximum of v (AMSGrad)
HP_DECOUPLED         adam, nadam, radam: 1 = decoupled weight decay (AdamW style)
HP_CENTERED          rmsprop: 1 = divide by the estimated variance, not the raw second moment
HP_LR_DECAY          adagrad: lr_t = lr / (1 + (t - 1) * lr_decay)
HP_INITIAL_ACC       adagrad: initial_accumulator_value
HP_MOMENTUM_DECAY    nadam: momentum_decay (psi) in mu_t = beta1 (1 - 0.5 * 0.96^(t psi))
===================  ===========================================================
"""
import numpy as np
from numba import njit

GD, SGD, MOMENTUM, NESTEROV, ADAGRAD, RMSPROP, ADADELTA = 0, 1, 2, 3, 4, 5, 6
ADAM, ADAMW, NADAM, AMSGRAD, ADAMAX, RADAM, LION = 7, 8, 9, 10, 11, 12, 13
NAMES = ("gd", "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta",
         "adam", "adamw", "nadam", "amsgrad", "adamax", "radam", "lion")

HP_WEIGHT_DECAY = 0
HP_MOMENTUM = 1
HP_DAMPENING = 2
HP_BETA1 = 3
HP_BETA2 = 4
HP_ALPHA = HP_BETA2
HP_RHO = HP_BETA2
HP_EPS = 5
HP_EPS_ROOT = 6
HP_AMSGRAD = 7
HP_DECOUPLED = 8
HP_CENTERED = 9
HP_LR_DECAY = 10
HP_INITIAL_ACC = 11
HP_MOMENTUM_DECAY = 12
N_HP = 13

_HP_INDEX = {
    "weight_decay": HP_WEIGHT_DECAY, "momentum": HP_MOMENTUM, "dampening": HP_DAMPENING,
    "beta1": HP_BETA1, "beta2": HP_BETA2, "alpha": HP_ALPHA, "rho": HP_RHO,
    "eps": HP_EPS, "eps_root": HP_EPS_ROOT, "amsgrad": HP_AMSGRAD,
    "decoupled_weight_decay": HP_DECOUPLED, "centered": HP_CENTERED, "lr_decay": HP_LR_DECAY,
    "initial_accumulator_value": HP_INITIAL_ACC, "momentum_decay": HP_MOMENTUM_DECAY,
}


def pack_hp(**values) -> np.ndarray:
    """Return ``hp`` (float64[N_HP], zeros elsewhere) from names such as ``beta1=0.9``.

    Names are the lower-case ``HP_*`` names (``alpha`` and ``rho`` share ``beta2``'s slot);
    booleans become 0.0 / 1.0.  Raises KeyError for an unknown name.
    """
    hp = np.zeros(N_HP)
    for key, value in values.items():
        hp[_HP_INDEX[key]] = float(value)
    return hp


@njit(cache=True)
def _state_rows(opt_id):
    if opt_id == RMSPROP or opt_id == ADAM or opt_id == ADAMW or opt_id == AMSGRAD:
        return 3
    if opt_id == ADADELTA or opt_id == NADAM or opt_id == ADAMAX or opt_id == RADAM:
        return 2
    return 1


@njit(cache=True)
def _state_scalars(opt_id):
    if opt_id == NADAM:
        return 3
    if opt_id == ADAM or opt_id == ADAMW or opt_id == AMSGRAD or opt_id == RADAM:
        return 2
    return 1


def state_shape(opt_id: int, d: int) -> tuple:
    """``(k_rows, n_scalars)``: state is float64[k_rows, d], sstate float64[n_scalars]."""
    return _state_rows(opt_id), _state_scalars(opt_id)


@njit(cache=True)
def init_state(opt_id, d):
    """Fresh optimizer state: ``(state float64[k, d] C-contiguous, sstate float64[m])``, zeros.

    Rows: momentum/nesterov/adagrad/lion [buffer]; rmsprop [square_avg, grad_avg,
    momentum_buffer]; adadelta [square_avg, acc_delta]; adam/adamw/amsgrad [m, v, max_v];
    nadam/adamax/radam [m, v or u].  Scalars: adam family and radam [beta1^t, beta2^t];
    adamax [beta1^t]; nadam [mu product, beta2^t, 0.96^((t+1) psi)]; others unused.
    Moments start at zero; what starts elsewhere (adagrad's accumulator, the powers, the mu
    product) is set by the update rule at t = 1.
    """
    return np.zeros((_state_rows(opt_id), d)), np.zeros(_state_scalars(opt_id))


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
def _adagrad(theta, g, state, t, lr, wd, lr_decay, eps, initial_acc):
    """torch.optim.Adagrad: acc += g^2; theta -= lr/(1 + (t-1) lr_decay) * g / (sqrt(acc) + eps)."""
    clr = lr / (1.0 + (t - 1) * lr_decay)
    for i in range(theta.size):
        gi = _decay(theta, i, g[i], lr, wd, False)
        a = state[0, i] if t > 1 else initial_acc
        a = a + gi * gi
        state[0, i] = a
        theta[i] = theta[i] + (-clr) * gi / (np.sqrt(a) + eps)


@njit(cache=True, error_model="numpy")
def _rmsprop(theta, g, state, lr, wd, alpha, eps, momentum, centered):
    """torch.optim.RMSprop: s = alpha s + (1-alpha) g^2; avg = sqrt(s - gbar^2 if centered
    else s) + eps; theta -= lr * g/avg, or via buf = momentum buf + g/avg when momentum > 0.

    Rows [square_avg, grad_avg, momentum_buffer].  grad_avg and the buffer are written even
    when unused: selects instead of branches keep the loop vectorized (3-4x faster)."""
    use_momentum = momentum > 0.0
    for i in range(theta.size):
        gi = _decay(theta, i, g[i], lr, wd, False)
        s = state[0, i] * alpha + (1.0 - alpha) * gi * gi
        state[0, i] = s
        ga = _lerp(state[1, i], gi, 1.0 - alpha)
        state[1, i] = ga
        avg = np.sqrt(s + (-1.0 * ga) * ga if centered else s) + eps
        b = state[2, i] * momentum + gi / avg
        state[2, i] = b
        theta[i] = theta[i] + ((-lr) * b if use_momentum else (-lr) * gi / avg)


@njit(cache=True, error_model="numpy")
def _adadelta(theta, g, state, lr, wd, rho, eps):
    """torch.optim.Adadelta (Zeiler 2012): delta = sqrt(acc + eps)/sqrt(s + eps) * g."""
    for i in range(theta.size):
        gi = _decay(theta, i, g[i], lr, wd, False)
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
def _nadam(theta, g, state, sstate, t, lr, wd, beta1, beta2, eps, momentum_decay, decoupled):
    """torch.optim.NAdam (Dozat 2016 with PyTorch's momentum schedule):

        mu_t = beta1 (1 - 0.5 * 0.96^(t psi)),  prod_t = mu_1 ... mu_t
        theta -= lr (1-mu_t)/(1-prod_t) g/den + lr mu_{t+1}/(1-prod_t mu_{t+1}) m/den,
        den = sqrt(v/(1-beta2^t)) + eps.
    sstate = [prod_t, beta2^t, 0.96^((t+1) psi)].
    """
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
        gi = _decay(theta, i, g[i], lr, wd, decoupled)
        mi, vi = _moments(state, i, gi, beta1, beta2)
        denom = np.sqrt(vi / bc2) + eps
        theta[i] = theta[i] + c_grad * gi / denom
        theta[i] = theta[i] + c_mom * mi / denom


@njit(cache=True, error_model="numpy")
def _adamax(theta, g, state, sstate, t, lr, wd, beta1, beta2, eps):
    """torch.optim.Adamax (Kingma & Ba 2015, sec. 7.1): u = max(beta2 u, |g| + eps);
    theta -= lr/(1-beta1^t) * m/u.  sstate = [beta1^t]."""
    clr = lr / (1.0 - _power(sstate, 0, beta1, t))
    for i in range(theta.size):
        gi = _decay(theta, i, g[i], lr, wd, False)
        mi = _lerp(state[0, i], gi, 1.0 - beta1)
        state[0, i] = mi
        ui = np.maximum(state[1, i] * beta2, abs(gi) + eps)
        state[1, i] = ui
        theta[i] = theta[i] + (-clr) * mi / ui


@njit(cache=True, error_model="numpy")
def _radam(theta, g, state, sstate, t, lr, wd, beta1, beta2, eps, decoupled):
    """torch.optim.RAdam (Liu et al. 2020): with rho_inf = 2/(1-beta2) - 1 and
    rho_t = rho_inf - 2 t beta2^t/(1-beta2^t), take the rectified adaptive step when
    rho_t > 5, else the un-adapted momentum step theta -= lr m^.  sstate = [beta1^t, beta2^t]."""
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
        gi = _decay(theta, i, g[i], lr, wd, decoupled)
        mi, vi = _moments(state, i, gi, beta1, beta2)
        step = mi / bc1 * lr
        adapted = step * (bc2_sqrt / (np.sqrt(vi) + eps)) * rect
        theta[i] = theta[i] - (adapted if adaptive else step)   # a select, not a branch: vectorizes


@njit(cache=True, error_model="numpy")
def _lion(theta, g, state, lr, wd, beta1, beta2):
    """Lion (Chen et al. 2023, Algorithm 2; optax.lion): c = b1 m + (1-b1) g;
    theta -= lr (sign(c) + wd theta); m = b2 m + (1-b2) g.  Weight decay is decoupled."""
    for i in range(theta.size):
        gi = g[i]
        c = beta1 * state[0, i] + (1.0 - beta1) * gi
        theta[i] = theta[i] - lr * (np.sign(c) + wd * theta[i])
        state[0, i] = beta2 * state[0, i] + (1.0 - beta2) * gi


# _nrt=False: no reference counting in the dispatcher.  With 14 branches numba cannot prune
# the incref/decref pairs on the five array arguments, which cost ~20 ns a call (measured,
# numba 0.68, d=1); it also guarantees that nothing here allocates.
@njit(cache=True, error_model="numpy", _nrt=False)
def update(opt_id, hp, theta, g, state, sstate, t, lr):
    """One optimizer step in place on ``theta`` (and the state) given the gradient ``g``.

    ``t`` is the 1-based step number, ``lr`` this step's learning rate.  ``g`` is not
    modified.  Allocates nothing; branches on ``opt_id`` once per call.
    """
    wd = hp[HP_WEIGHT_DECAY]
    if opt_id == GD:
        _sgd(theta, g, state, t, lr, 0.0, 0.0, 0.0, False)
    elif opt_id == SGD:
        _sgd(theta, g, state, t, lr, wd, 0.0, 0.0, False)
    elif opt_id == MOMENTUM:
        _sgd(theta, g, state, t, lr, wd, hp[HP_MOMENTUM], hp[HP_DAMPENING], False)
    elif opt_id == NESTEROV:
        _sgd(theta, g, state, t, lr, wd, hp[HP_MOMENTUM], 0.0, True)
    elif opt_id == ADAGRAD:
        _adagrad(theta, g, state, t, lr, wd, hp[HP_LR_DECAY], hp[HP_EPS], hp[HP_INITIAL_ACC])
    elif opt_id == RMSPROP:
        _rmsprop(theta, g, state, lr, wd, hp[HP_ALPHA], hp[HP_EPS], hp[HP_MOMENTUM], hp[HP_CENTERED] != 0.0)
    elif opt_id == ADADELTA:
        _adadelta(theta, g, state, lr, wd, hp[HP_RHO], hp[HP_EPS])
    elif opt_id == ADAM or opt_id == ADAMW or opt_id == AMSGRAD:
        amsgrad = opt_id == AMSGRAD or hp[HP_AMSGRAD] != 0.0
        decoupled = opt_id == ADAMW or hp[HP_DECOUPLED] != 0.0
        _adam(theta, g, state, sstate, t, lr, wd, hp[HP_BETA1], hp[HP_BETA2], hp[HP_EPS], hp[HP_EPS_ROOT],
              amsgrad, decoupled)
    elif opt_id == NADAM:
        _nadam(theta, g, state, sstate, t, lr, wd, hp[HP_BETA1], hp[HP_BETA2], hp[HP_EPS],
               hp[HP_MOMENTUM_DECAY], hp[HP_DECOUPLED] != 0.0)
    elif opt_id == ADAMAX:
        _adamax(theta, g, state, sstate, t, lr, wd, hp[HP_BETA1], hp[HP_BETA2], hp[HP_EPS])
    elif opt_id == RADAM:
        _radam(theta, g, state, sstate, t, lr, wd, hp[HP_BETA1], hp[HP_BETA2], hp[HP_EPS], hp[HP_DECOUPLED] != 0.0)
    elif opt_id == LION:
        _lion(theta, g, state, lr, wd, hp[HP_BETA1], hp[HP_BETA2])
    else:   # unknown id: poison theta so the loop reports divergence (raising costs ~10 ns a call)
        for i in range(theta.size):
            theta[i] = np.nan
