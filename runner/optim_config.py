"""Config schemas of the ``optim`` and ``schedule`` groups, and their packing into kernel inputs.

Each option (``conf/optim/adam.yaml``, ``conf/schedule/cosine.yaml``, ...) has a dataclass
with exactly the keys it uses, their defaults, and a ``check()`` that names the bad key.
``runner.validate.validate_group("optim", cfg.optim, OPTIM_SCHEMAS)`` turns a composed node
into one of these objects; :func:`to_kernel` and :func:`schedule_to_kernel` pack a validated
object into the ``(id, parameter vector)`` pair the numba kernels take.

Defaults and names follow PyTorch's ``torch.optim`` and ``torch.optim.lr_scheduler`` where
libraries differ (``betas``, ``eps``, ``weight_decay``, ``alpha``, ``rho``, ...), except:
``gd`` uses the tutorial's lr 0.1; ``momentum`` uses the tutorial's beta 0.9; ``lion``
(not in PyTorch) uses optax's b1, b2 and weight decay; schedule floors are all called
``min_lr`` (PyTorch's ``eta_min``).
"""
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from kernels import optimizers as K
from kernels import schedules as S
from runner.errors import ConfigError
from runner.validate import in_range, non_negative, one_of, positive


# ---- shared checks ------------------------------------------------------------------------

def _check_betas(betas: List[float]) -> None:
    if len(betas) != 2:
        raise ConfigError("betas", f"must be a list of two floats [beta1, beta2], got {list(betas)!r}")
    for which, beta in zip(("beta1", "beta2"), betas):
        if not 0.0 <= beta < 1.0:
            raise ConfigError("betas", f"{which} must be in [0, 1), got {beta!r}")


def _check_decay(key: str, value: float) -> None:
    """A moving-average decay (rmsprop alpha, adadelta rho) in [0, 1)."""
    in_range(key, value, 0.0, 1.0)


def _check_eps_root(eps: float, eps_root: float) -> None:
    non_negative("eps_root", eps_root)
    if eps == 0.0 and eps_root == 0.0:
        raise ConfigError("eps", "eps and eps_root are both 0, so a zero gradient gives 0/0; set one > 0")


def _betas(default: List[float]):
    return field(default_factory=lambda: list(default))


# ---- optimizers -------------------------------------------------------------------------

@dataclass
class OptimBase:
    """Keys every optimizer has: lr (> 0) and clip_norm (global-norm gradient clipping,
    applied by the descent loop before the update; null = off)."""

    name: str = ""
    lr: float = 1e-3
    clip_norm: Optional[float] = None

    def check(self):
        positive("lr", self.lr)
        if self.clip_norm is not None:
            positive("clip_norm", self.clip_norm)


@dataclass
class GD(OptimBase):
    """theta := theta - lr grad (the tutorial's update rule; lr 0.1 as its examples)."""
    name: str = "gd"
    lr: float = 0.1


@dataclass
class SGD(OptimBase):
    """torch.optim.SGD without momentum; mini-batches come from the loop."""
    name: str = "sgd"
    lr: float = 1e-3
    weight_decay: float = 0.0

    def check(self):
        super().check()
        non_negative("weight_decay", self.weight_decay)


@dataclass
class Momentum(OptimBase):
    """torch.optim.SGD(momentum, dampening): v := momentum v + (1 - dampening) g; theta -= lr v."""
    name: str = "momentum"
    lr: float = 1e-3
    momentum: float = 0.9
    dampening: float = 0.0
    weight_decay: float = 0.0

    def check(self):
        super().check()
        in_range("momentum", self.momentum, 0.0, 1.0, lo_open=True)
        in_range("dampening", self.dampening, 0.0, 1.0, hi_open=False)
        non_negative("weight_decay", self.weight_decay)


@dataclass
class Nesterov(OptimBase):
    """torch.optim.SGD(momentum, nesterov=True) (dampening must be 0 there, so no key)."""
    name: str = "nesterov"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0

    def check(self):
        super().check()
        in_range("momentum", self.momentum, 0.0, 1.0, lo_open=True)
        non_negative("weight_decay", self.weight_decay)


@dataclass
class Adagrad(OptimBase):
    name: str = "adagrad"
    lr: float = 1e-2
    lr_decay: float = 0.0
    weight_decay: float = 0.0
    initial_accumulator_value: float = 0.0
    eps: float = 1e-10

    def check(self):
        super().check()
        non_negative("lr_decay", self.lr_decay)
        non_negative("weight_decay", self.weight_decay)
        non_negative("initial_accumulator_value", self.initial_accumulator_value)
        positive("eps", self.eps)


@dataclass
class RMSprop(OptimBase):
    name: str = "rmsprop"
    lr: float = 1e-2
    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    centered: bool = False

    def check(self):
        super().check()
        _check_decay("alpha", self.alpha)
        positive("eps", self.eps)
        non_negative("weight_decay", self.weight_decay)
        in_range("momentum", self.momentum, 0.0, 1.0)


@dataclass
class Adadelta(OptimBase):
    name: str = "adadelta"
    lr: float = 1.0
    rho: float = 0.9
    eps: float = 1e-6
    weight_decay: float = 0.0

    def check(self):
        super().check()
        _check_decay("rho", self.rho)
        positive("eps", self.eps)
        non_negative("weight_decay", self.weight_decay)


@dataclass
class _AdamLike(OptimBase):
    """Shared checks of optimizers with betas and eps."""
    betas: List[float] = _betas([0.9, 0.999])
    eps: float = 1e-8
    weight_decay: float = 0.0

    def check(self):
        super().check()
        _check_betas(self.betas)
        non_negative("eps", self.eps)
        non_negative("weight_decay", self.weight_decay)


@dataclass
class Adam(_AdamLike):
    """torch.optim.Adam, plus eps_root inside the square root:
    theta -= lr m^ / (sqrt(v^ + eps_root) + eps).  The tutorial's form is eps=0, eps_root=1e-8."""
    name: str = "adam"
    lr: float = 1e-3
    eps_root: float = 0.0
    amsgrad: bool = False

    def check(self):
        super().check()
        _check_eps_root(self.eps, self.eps_root)


@dataclass
class AdamW(Adam):
    """torch.optim.AdamW: decoupled weight decay theta *= 1 - lr weight_decay."""
    name: str = "adamw"
    weight_decay: float = 1e-2


@dataclass
class AMSGrad(_AdamLike):
    """torch.optim.Adam(amsgrad=True): the denominator uses the running maximum of v."""
    name: str = "amsgrad"
    lr: float = 1e-3
    eps_root: float = 0.0

    def check(self):
        super().check()
        _check_eps_root(self.eps, self.eps_root)


@dataclass
class NAdam(_AdamLike):
    name: str = "nadam"
    lr: float = 2e-3
    momentum_decay: float = 4e-3
    decoupled_weight_decay: bool = False

    def check(self):
        super().check()
        positive("eps", self.eps)
        non_negative("momentum_decay", self.momentum_decay)


@dataclass
class Adamax(_AdamLike):
    name: str = "adamax"
    lr: float = 2e-3

    def check(self):
        super().check()
        positive("eps", self.eps)


@dataclass
class RAdam(_AdamLike):
    name: str = "radam"
    lr: float = 1e-3
    decoupled_weight_decay: bool = False

    def check(self):
        super().check()
        positive("eps", self.eps)


@dataclass
class Lion(OptimBase):
    """Lion (Chen et al. 2023; optax.lion defaults b1=0.9, b2=0.99, weight_decay=1e-3)."""
    name: str = "lion"
    lr: float = 1e-4
    betas: List[float] = _betas([0.9, 0.99])
    weight_decay: float = 1e-3

    def check(self):
        super().check()
        _check_betas(self.betas)
        non_negative("weight_decay", self.weight_decay)


OPTIM_SCHEMAS = {cls.name: cls for cls in (
    GD, SGD, Momentum, Nesterov, Adagrad, RMSprop, Adadelta,
    Adam, AdamW, NAdam, AMSGrad, Adamax, RAdam, Lion)}

# schema key -> kernel hyperparameter name (kernels.optimizers.pack_hp)
_HP_KEYS = ("weight_decay", "momentum", "dampening", "alpha", "rho", "eps", "eps_root", "amsgrad",
            "decoupled_weight_decay", "centered", "lr_decay", "initial_accumulator_value", "momentum_decay")


def to_kernel(optim_obj) -> tuple:
    """``(opt_id, hp)`` for ``kernels.optimizers.update`` from a validated optimizer object."""
    opt_id = K.NAMES.index(optim_obj.name)
    values = {key: getattr(optim_obj, key) for key in _HP_KEYS if hasattr(optim_obj, key)}
    if hasattr(optim_obj, "betas"):
        values["beta1"], values["beta2"] = optim_obj.betas
    return opt_id, K.pack_hp(**values)


# ---- learning-rate schedules ------------------------------------------------------------------
# The schedule scales the optimizer's lr (optim.lr is the peak for one_cycle and warmup_cosine).

def _check_steps(key: str, value: Optional[int], allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value is None or value < 1:
        raise ConfigError(key, f"must be an integer >= 1{' or null' if allow_none else ''}, got {value!r}")


@dataclass
class Constant:
    name: str = "constant"


@dataclass
class StepSchedule:
    """StepLR: lr * gamma every step_size steps."""
    name: str = "step"
    step_size: int = 100
    gamma: float = 0.1

    def check(self):
        _check_steps("step_size", self.step_size)
        positive("gamma", self.gamma)


@dataclass
class Exponential:
    """ExponentialLR: lr * gamma^(t-1)."""
    name: str = "exponential"
    gamma: float = 0.99

    def check(self):
        positive("gamma", self.gamma)


@dataclass
class Polynomial:
    """PolynomialLR (with optax's end value): (lr - min_lr)(1 - e/decay_steps)^power + min_lr."""
    name: str = "polynomial"
    decay_steps: Optional[int] = None   # null = the whole run
    power: float = 1.0
    min_lr: float = 0.0

    def check(self):
        _check_steps("decay_steps", self.decay_steps, allow_none=True)
        non_negative("power", self.power)
        non_negative("min_lr", self.min_lr)


@dataclass
class Cosine:
    """CosineAnnealingLR from lr down to min_lr over decay_steps, then held at min_lr."""
    name: str = "cosine"
    decay_steps: Optional[int] = None   # null = the whole run
    min_lr: float = 0.0

    def check(self):
        _check_steps("decay_steps", self.decay_steps, allow_none=True)
        non_negative("min_lr", self.min_lr)


@dataclass
class WarmupCosine:
    """Linear warmup from warmup_start_lr to lr over warmup_steps, then cosine to min_lr."""
    name: str = "warmup_cosine"
    warmup_steps: int = 100
    warmup_start_lr: float = 0.0
    min_lr: float = 0.0

    def check(self):
        if self.warmup_steps < 0:
            raise ConfigError("warmup_steps", f"must be >= 0, got {self.warmup_steps}")
        non_negative("warmup_start_lr", self.warmup_start_lr)
        non_negative("min_lr", self.min_lr)


@dataclass
class OneCycle:
    """OneCycleLR with max_lr = optim.lr over the whole run (momentum cycling not modelled)."""
    name: str = "one_cycle"
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False
    anneal_strategy: str = "cos"

    def check(self):
        in_range("pct_start", self.pct_start, 0.0, 1.0, lo_open=True, hi_open=False)
        positive("div_factor", self.div_factor)
        positive("final_div_factor", self.final_div_factor)
        one_of("anneal_strategy", self.anneal_strategy, ("cos", "linear"))
        if self.three_phase and self.pct_start > 0.5:
            raise ConfigError("pct_start", f"must be <= 0.5 with three_phase (two ramps of pct_start each), "
                                           f"got {self.pct_start!r}")


@dataclass
class CosineRestarts:
    """SGDR / CosineAnnealingWarmRestarts stepped once per step: cycles T_0, T_0 T_mult, ..."""
    name: str = "cosine_restarts"
    T_0: int = 100
    T_mult: int = 1
    min_lr: float = 0.0

    def check(self):
        _check_steps("T_0", self.T_0)
        _check_steps("T_mult", self.T_mult)
        non_negative("min_lr", self.min_lr)


@dataclass
class Plateau:
    """ReduceLROnPlateau (mode min) on the training loss: lr *= factor after more than
    patience steps without improving by threshold."""
    name: str = "plateau"
    factor: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    threshold_mode: str = "rel"
    cooldown: int = 0
    min_lr: float = 0.0
    eps: float = 1e-8

    def check(self):
        in_range("factor", self.factor, 0.0, 1.0, lo_open=True)
        if self.patience < 0:
            raise ConfigError("patience", f"must be >= 0, got {self.patience}")
        non_negative("threshold", self.threshold)
        one_of("threshold_mode", self.threshold_mode, ("rel", "abs"))
        if self.cooldown < 0:
            raise ConfigError("cooldown", f"must be >= 0, got {self.cooldown}")
        non_negative("min_lr", self.min_lr)
        non_negative("eps", self.eps)


SCHEDULE_SCHEMAS = {cls.name: cls for cls in (
    Constant, StepSchedule, Exponential, Polynomial, Cosine, WarmupCosine, OneCycle, CosineRestarts, Plateau)}

# schema key -> kernel parameter name (kernels.schedules.pack_sp)
_SP_KEYS = ("step_size", "gamma", "power", "min_lr", "warmup_steps", "warmup_start_lr", "pct_start",
            "div_factor", "final_div_factor", "three_phase", "T_0", "T_mult", "factor", "patience",
            "threshold", "cooldown", "eps")


def schedule_to_kernel(sched_obj) -> tuple:
    """``(sched_id, sp)`` for ``kernels.schedules.lr_at`` from a validated schedule object."""
    sched_id = S.NAMES.index(sched_obj.name)
    values = {key: getattr(sched_obj, key) for key in _SP_KEYS if hasattr(sched_obj, key)}
    if getattr(sched_obj, "decay_steps", None) is not None:
        values["decay_steps"] = sched_obj.decay_steps      # 0 in the kernel = the whole run
    if hasattr(sched_obj, "anneal_strategy"):
        values["linear_anneal"] = sched_obj.anneal_strategy == "linear"
    if hasattr(sched_obj, "threshold_mode"):
        values["threshold_abs"] = sched_obj.threshold_mode == "abs"
    return sched_id, S.pack_sp(**values)
