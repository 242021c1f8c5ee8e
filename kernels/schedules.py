"""Learning-rate schedules as one numba function of the step number.

``lr_at(sched_id, sp, base_lr, t, total_steps, sched_state, loss)`` is the learning rate for
optimizer step ``t`` (1-based) of a ``total_steps`` run.  ``base_lr`` is the optimizer's lr
(the peak lr for one_cycle and warmup_cosine).

Step mapping to PyTorch.  A PyTorch scheduler is stepped after the optimizer step, so the
lr used by optimizer step t is the scheduler's lr after ``t - 1`` calls of
``scheduler.step()``, i.e. at ``last_epoch = e = t - 1``.  Every closed form below is in
``e``; the parity tests record ``optimizer.param_groups[0]["lr"]`` just before each
``optimizer.step()``.

Reduce-on-plateau is fed ``loss`` = f(theta_{t-1}), the loss measured after step t-1 (the
loss the descent loop computes before step t).  Call ``lr_at`` exactly once per step, in
order: at t = 1 it resets ``sched_state`` and returns ``base_lr``; at t >= 2 it first does
PyTorch's ``ReduceLROnPlateau.step(loss)`` and then returns the current lr.  So it matches
the PyTorch loop ``optimizer.step(); scheduler.step(loss_after_the_step)``.

Schedule-parameter vector ``sp`` (float64[N_SP]); build it with :func:`pack_sp`.

=====================  =============================================================
index                  meaning (PyTorch name)
=====================  =============================================================
SP_STEP_SIZE           step: decay every step_size steps (StepLR step_size)
SP_GAMMA               step, exponential: multiplicative factor (gamma)
SP_POWER               polynomial: exponent (PolynomialLR power)
SP_DECAY_STEPS         polynomial, cosine: steps to decay over, then hold (total_iters,
                       T_max); 0 = total_steps
SP_MIN_LR              floor: polynomial, cosine, warmup_cosine, cosine_restarts (eta_min),
                       plateau (min_lr)
SP_WARMUP_STEPS        warmup_cosine: linear warmup length
SP_WARMUP_START_LR     warmup_cosine: lr at step 1
SP_PCT_START           one_cycle: fraction of steps spent increasing the lr
SP_DIV_FACTOR          one_cycle: initial lr = base_lr / div_factor
SP_FINAL_DIV_FACTOR    one_cycle: final lr = initial lr / final_div_factor
SP_THREE_PHASE         one_cycle: 1 = fast.ai's three phases
SP_LINEAR_ANNEAL       one_cycle: 1 = anneal_strategy 'linear', 0 = 'cos'
SP_T_0                 cosine_restarts: length of the first cycle (T_0)
SP_T_MULT              cosine_restarts: cycle length factor (T_mult, integer >= 1)
SP_FACTOR              plateau: lr *= factor on a plateau
SP_PATIENCE            plateau: bad steps tolerated before reducing
SP_THRESHOLD           plateau: improvement needed to count as better
SP_THRESHOLD_ABS       plateau: 1 = threshold_mode 'abs', 0 = 'rel'
SP_COOLDOWN            plateau: steps to wait after a reduction
SP_EPS                 plateau: reductions smaller than eps are ignored
=====================  =============================================================
"""
import math

import numpy as np
from numba import njit

CONSTANT, STEP, EXPONENTIAL, POLYNOMIAL, COSINE = 0, 1, 2, 3, 4
WARMUP_COSINE, ONE_CYCLE, COSINE_RESTARTS, PLATEAU = 5, 6, 7, 8
NAMES = ("constant", "step", "exponential", "polynomial", "cosine",
         "warmup_cosine", "one_cycle", "cosine_restarts", "plateau")

SP_STEP_SIZE = 0
SP_GAMMA = 1
SP_POWER = 2
SP_DECAY_STEPS = 3
SP_MIN_LR = 4
SP_WARMUP_STEPS = 5
SP_WARMUP_START_LR = 6
SP_PCT_START = 7
SP_DIV_FACTOR = 8
SP_FINAL_DIV_FACTOR = 9
SP_THREE_PHASE = 10
SP_LINEAR_ANNEAL = 11
SP_T_0 = 12
SP_T_MULT = 13
SP_FACTOR = 14
SP_PATIENCE = 15
SP_THRESHOLD = 16
SP_THRESHOLD_ABS = 17
SP_COOLDOWN = 18
SP_EPS = 19
N_SP = 20

# sched_state layout (reduce-on-plateau only; other schedules are closed forms).
ST_LR = 0          # current lr
ST_BEST = 1        # best loss so far
ST_NUM_BAD = 2     # consecutive steps without improvement
ST_COOLDOWN = 3    # steps left in cooldown
N_SCHED_STATE = 4

_SP_INDEX = {
    "step_size": SP_STEP_SIZE, "gamma": SP_GAMMA, "power": SP_POWER, "decay_steps": SP_DECAY_STEPS,
    "min_lr": SP_MIN_LR, "warmup_steps": SP_WARMUP_STEPS, "warmup_start_lr": SP_WARMUP_START_LR,
    "pct_start": SP_PCT_START, "div_factor": SP_DIV_FACTOR, "final_div_factor": SP_FINAL_DIV_FACTOR,
    "three_phase": SP_THREE_PHASE, "linear_anneal": SP_LINEAR_ANNEAL, "T_0": SP_T_0, "T_mult": SP_T_MULT,
    "factor": SP_FACTOR, "patience": SP_PATIENCE, "threshold": SP_THRESHOLD,
    "threshold_abs": SP_THRESHOLD_ABS, "cooldown": SP_COOLDOWN, "eps": SP_EPS,
}


def pack_sp(**values) -> np.ndarray:
    """Return ``sp`` (float64[N_SP], zeros elsewhere) from names such as ``gamma=0.5``.

    Names are the ``SP_*`` names in lower case (``T_0``, ``T_mult`` keep their capitals);
    booleans become 0.0 / 1.0.  Raises KeyError for an unknown name.
    """
    sp = np.zeros(N_SP)
    for key, value in values.items():
        sp[_SP_INDEX[key]] = float(value)
    return sp


@njit(cache=True)
def init_sched_state():
    """Fresh schedule state, float64[N_SCHED_STATE]; ``lr_at`` (re)fills it at t = 1."""
    st = np.zeros(N_SCHED_STATE)
    st[ST_BEST] = np.inf
    return st


@njit(cache=True, inline="always")
def _cosine(start, floor, e, span):
    """floor + (start - floor) (1 + cos(pi e / span)) / 2 (CosineAnnealingLR's closed form)."""
    return floor + (start - floor) * (1.0 + math.cos(math.pi * e / span)) / 2.0


@njit(cache=True, inline="always")
def _anneal(start, end, pct, linear):
    """OneCycleLR's _annealing_cos / _annealing_linear from start (pct=0) to end (pct=1)."""
    if linear:
        return (end - start) * pct + start
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)


@njit(cache=True, error_model="numpy")
def _one_cycle(sp, base_lr, e, total_steps):
    """torch.optim.lr_scheduler.OneCycleLR(max_lr=base_lr) at step_num = e (0-based)."""
    initial = base_lr / sp[SP_DIV_FACTOR]
    final = initial / sp[SP_FINAL_DIV_FACTOR]
    linear = sp[SP_LINEAR_ANNEAL] != 0.0
    pct = sp[SP_PCT_START]
    end1 = pct * total_steps - 1.0
    last = total_steps - 1.0
    if e <= end1:
        return _anneal(initial, base_lr, e / end1, linear)
    if sp[SP_THREE_PHASE] == 0.0:
        return _anneal(base_lr, final, (e - end1) / (last - end1), linear)
    end2 = 2.0 * pct * total_steps - 2.0
    if e <= end2:
        return _anneal(base_lr, initial, (e - end1) / (end2 - end1), linear)
    return _anneal(initial, final, (e - end2) / (last - end2), linear)


@njit(cache=True, error_model="numpy")
def _restart_position(e, t0, t_mult):
    """(T_cur, T_i) of SGDR after e steps: cycles of length t0, t0 t_mult, t0 t_mult^2, ..."""
    if t_mult == 1:
        return e % t0, t0
    t_i = t0
    t_cur = e
    while t_cur >= t_i:
        t_cur -= t_i
        t_i *= t_mult
    return t_cur, t_i


@njit(cache=True)
def _plateau(sp, base_lr, t, st, loss):
    """torch.optim.lr_scheduler.ReduceLROnPlateau(mode='min') fed ``loss`` (see module doc)."""
    if t <= 1:
        st[ST_LR] = base_lr
        st[ST_BEST] = np.inf
        st[ST_NUM_BAD] = 0.0
        st[ST_COOLDOWN] = 0.0
        return base_lr
    best = st[ST_BEST]
    if sp[SP_THRESHOLD_ABS] != 0.0:
        better = loss < best - sp[SP_THRESHOLD]
    else:
        better = loss < best * (1.0 - sp[SP_THRESHOLD])
    if better:
        st[ST_BEST] = loss
        st[ST_NUM_BAD] = 0.0
    else:
        st[ST_NUM_BAD] += 1.0
    if st[ST_COOLDOWN] > 0.0:
        st[ST_COOLDOWN] -= 1.0
        st[ST_NUM_BAD] = 0.0
    if st[ST_NUM_BAD] > sp[SP_PATIENCE]:
        old = st[ST_LR]
        new = max(old * sp[SP_FACTOR], sp[SP_MIN_LR])
        if old - new > sp[SP_EPS]:
            st[ST_LR] = new
        st[ST_COOLDOWN] = sp[SP_COOLDOWN]
        st[ST_NUM_BAD] = 0.0
    return st[ST_LR]


# _nrt=False: see kernels.optimizers.update (unprunable incref/decref on the array arguments).
@njit(cache=True, error_model="numpy", _nrt=False)
def lr_at(sched_id, sp, base_lr, t, total_steps, sched_state, loss):
    """Learning rate for optimizer step ``t`` (1-based) of ``total_steps``; see the module doc.

    constant         base_lr
    step             base_lr gamma^floor(e / step_size)                        (StepLR)
    exponential      base_lr gamma^e                                           (ExponentialLR)
    polynomial       (base_lr - min_lr)(1 - min(e, T)/T)^power + min_lr        (PolynomialLR, optax)
    cosine           min_lr + (base_lr - min_lr)(1 + cos(pi min(e, T)/T))/2    (CosineAnnealingLR)
    warmup_cosine    linear from warmup_start_lr to base_lr over W steps, then cosine to
                     min_lr over total_steps - W                      (optax warmup_cosine_decay)
    one_cycle        OneCycleLR(max_lr=base_lr, total_steps)
    cosine_restarts  CosineAnnealingWarmRestarts(T_0, T_mult, eta_min=min_lr), stepped per step
    plateau          ReduceLROnPlateau(mode='min'); mutates ``sched_state``
    with e = t - 1 and T = decay_steps (0 means total_steps).
    """
    e = t - 1
    if sched_id == CONSTANT:
        return base_lr
    if sched_id == STEP:
        return base_lr * sp[SP_GAMMA] ** (e // int(sp[SP_STEP_SIZE]))
    if sched_id == EXPONENTIAL:
        return base_lr * sp[SP_GAMMA] ** e
    if sched_id == POLYNOMIAL or sched_id == COSINE:
        span = int(sp[SP_DECAY_STEPS])
        if span <= 0:
            span = total_steps
        done = min(e, span)
        if sched_id == COSINE:
            return _cosine(base_lr, sp[SP_MIN_LR], done, span)
        floor = sp[SP_MIN_LR]
        return (base_lr - floor) * (1.0 - done / span) ** sp[SP_POWER] + floor
    if sched_id == WARMUP_COSINE:
        warm = int(sp[SP_WARMUP_STEPS])
        if e < warm:
            start = sp[SP_WARMUP_START_LR]
            return start + (base_lr - start) * e / warm
        span = total_steps - warm
        if span <= 0:
            return base_lr
        return _cosine(base_lr, sp[SP_MIN_LR], e - warm, span)
    if sched_id == ONE_CYCLE:
        return _one_cycle(sp, base_lr, float(e), total_steps)
    if sched_id == COSINE_RESTARTS:
        t_cur, t_i = _restart_position(e, int(sp[SP_T_0]), int(sp[SP_T_MULT]))
        return _cosine(base_lr, sp[SP_MIN_LR], t_cur, t_i)
    if sched_id == PLATEAU:
        return _plateau(sp, base_lr, t, sched_state, loss)
    return np.nan   # unknown id: the loop reports divergence (raising costs ~10 ns a call)
