"""Config schemas of the ``optim`` and ``schedule`` groups, and their packing into kernel inputs.

Each option (``conf/optim/adam.yaml``, ``conf/schedule/cosine.yaml``, ...) has a dataclass
with exactly the keys it uses and their defaults; an optimizer's is derived from its entry in
the kernel table (``kernels.optimizers.OPTIMIZERS``), where its defaults are written.
``check()`` applies the group's rule for every key the option has (one rule per key name:
``lr`` must be > 0 wherever it appears) and raises a ConfigError naming the key.  ``runner.config.validate.validate_group("optim",
cfg.optim, OPTIM_SCHEMAS)`` turns a composed node into one of these objects; :func:`to_kernel`
and :func:`schedule_to_kernel` pack it into the ``(id, parameter vector)`` the kernels take.

Names follow PyTorch's ``torch.optim`` and ``torch.optim.lr_scheduler`` where libraries differ
(``betas``, ``eps``, ``weight_decay``, ``alpha``, ``rho``, ...; the table's defaults say where
they come from); schedule floors are all called ``min_lr`` (PyTorch's ``eta_min``).
"""
import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from kernels import optimizers as K
from kernels import schedules as S
from runner.errors import ConfigError
from runner.config.validate import in_range, non_negative, one_of, positive


def _apply_rules(obj, rules: Dict[str, Callable]) -> None:
    """Run ``rules[key](key, value)`` for every field of the dataclass ``obj`` that has a rule."""
    for f in dataclasses.fields(obj):
        rule = rules.get(f.name)
        if rule is not None:
            rule(f.name, getattr(obj, f.name))


def _fraction(key, value):            # a moving-average decay: [0, 1)
    in_range(key, value, 0.0, 1.0)


def _optional_positive(key, value):
    if value is not None:
        positive(key, value)


def _steps(key, value):               # an integer count of steps >= 1
    if value is None or value < 1:
        raise ConfigError(key, f"must be an integer >= 1, got {value!r}")


def _optional_steps(key, value):
    if value is not None and value < 1:
        raise ConfigError(key, f"must be an integer >= 1 or null (the whole run), got {value!r}")


def _count(key, value):               # an integer count >= 0
    if value < 0:
        raise ConfigError(key, f"must be >= 0, got {value!r}")


def _betas(key, betas):
    if len(betas) != 2:
        raise ConfigError(key, f"must be a list of two floats [beta1, beta2], got {list(betas)!r}")
    for which, beta in zip(("beta1", "beta2"), betas):
        if not 0.0 <= beta < 1.0:
            raise ConfigError(key, f"{which} must be in [0, 1), got {beta!r}")


def _default_betas(b1: float, b2: float):
    return field(default_factory=lambda: [b1, b2])


# ---- optimizers -------------------------------------------------------------------------

OPTIM_RULES = {
    "lr": positive, "clip_norm": _optional_positive, "weight_decay": non_negative,
    "momentum": _fraction, "dampening": lambda k, v: in_range(k, v, 0.0, 1.0, hi_open=False),
    "alpha": _fraction, "rho": _fraction, "betas": _betas, "eps": positive, "eps_root": non_negative,
    "lr_decay": non_negative, "initial_accumulator_value": non_negative, "momentum_decay": non_negative,
}


@dataclass
class OptimBase:
    """Keys every optimizer has: lr and clip_norm (clip the gradient to this global norm
    before the update, applied by the descent loop; null = off)."""
    name: str = ""
    lr: float = 1e-3
    clip_norm: Optional[float] = None

    def _check_keys(self):
        _apply_rules(self, OPTIM_RULES)

    def check(self):
        self._check_keys()


def _eps_or_eps_root(obj) -> None:
    """Where eps_root exists (the adam family, adabelief, yogi), eps may be 0 (the tutorial's
    form puts it inside the root) but not both."""
    _apply_rules(obj, dict(OPTIM_RULES, eps=non_negative))
    if obj.eps == 0.0 and obj.eps_root == 0.0:
        raise ConfigError("eps", "eps and eps_root are both 0, so a zero gradient gives 0/0; set one > 0")


def _nesterov(obj) -> None:
    obj._check_keys()
    positive("momentum", obj.momentum)    # PyTorch refuses nesterov without momentum


_CHECKS = {"nesterov": _nesterov}         # optimizers with a check beyond their keys' rules


def _schema_fields(entry) -> list:
    """``(key, type, field)`` of an optimizer's schema from its table entry: name, lr, then each
    hyperparameter with the table's default; beta1 and beta2 become PyTorch's ``betas`` pair."""
    out = [("name", str, field(default=entry.name)), ("lr", float, field(default=float(entry.lr)))]
    for key, default in entry.hyper.items():
        if key == "beta1":
            out.append(("betas", List[float], _default_betas(float(default), float(entry.hyper["beta2"]))))
        elif key != "beta2":
            kind = bool if isinstance(default, bool) else float
            out.append((key, kind, field(default=kind(default))))
    return out


def _schema(entry) -> type:
    """The dataclass of ``conf/optim/<name>.yaml``, derived from the kernel table."""
    check = _CHECKS.get(entry.name) or (_eps_or_eps_root if "eps_root" in entry.hyper else OptimBase._check_keys)
    cls = dataclasses.make_dataclass(
        "".join(part.capitalize() for part in entry.name.split("_")), _schema_fields(entry), bases=(OptimBase,),
        namespace={"__doc__": entry.doc, "__module__": __name__, "check": check})
    globals()[cls.__name__] = cls         # importable by name: validated configs pickle
    return cls


OPTIM_SCHEMAS = {entry.name: _schema(entry) for entry in K.OPTIMIZERS}


def to_kernel(optim_obj) -> tuple:
    """``(opt_id, hp)`` for ``kernels.optimizers.update`` from a validated optimizer object."""
    opt_id = K.ID[optim_obj.name]
    values = {key: getattr(optim_obj, key) for key in K.OPTIMIZERS[opt_id].hyper if key not in ("beta1", "beta2")}
    if hasattr(optim_obj, "betas"):
        values["beta1"], values["beta2"] = optim_obj.betas
    return opt_id, K.pack_hp(opt_id, **values)


# ---- learning-rate schedules ------------------------------------------------------------------
# A schedule scales optim.lr, which is the peak for one_cycle and warmup_cosine.

SCHEDULE_RULES = {
    "step_size": _steps, "gamma": positive, "decay_steps": _optional_steps, "power": non_negative,
    "min_lr": non_negative, "warmup_steps": _count, "warmup_start_lr": non_negative,
    "pct_start": lambda k, v: in_range(k, v, 0.0, 1.0, lo_open=True, hi_open=False),
    "div_factor": positive, "final_div_factor": positive,
    "anneal_strategy": lambda k, v: one_of(k, v, ("cos", "linear")),
    "T_0": _steps, "T_mult": _steps, "factor": lambda k, v: in_range(k, v, 0.0, 1.0, lo_open=True),
    "patience": _count, "threshold": non_negative, "cooldown": _count, "eps": non_negative,
    "threshold_mode": lambda k, v: one_of(k, v, ("rel", "abs")),
}


@dataclass
class ScheduleBase:
    name: str = ""

    def check(self):
        _apply_rules(self, SCHEDULE_RULES)


@dataclass
class Constant(ScheduleBase):
    name: str = "constant"


@dataclass
class StepSchedule(ScheduleBase):
    """StepLR: lr * gamma every step_size steps."""
    name: str = "step"
    step_size: int = 100
    gamma: float = 0.1


@dataclass
class Exponential(ScheduleBase):
    """ExponentialLR: lr * gamma^(t-1)."""
    name: str = "exponential"
    gamma: float = 0.99


@dataclass
class Polynomial(ScheduleBase):
    """PolynomialLR (with optax's end value): (lr - min_lr)(1 - e/decay_steps)^power + min_lr."""
    name: str = "polynomial"
    decay_steps: Optional[int] = None   # null = the whole run
    power: float = 1.0
    min_lr: float = 0.0


@dataclass
class Cosine(ScheduleBase):
    """CosineAnnealingLR from lr down to min_lr over decay_steps, then held at min_lr."""
    name: str = "cosine"
    decay_steps: Optional[int] = None   # null = the whole run
    min_lr: float = 0.0


@dataclass
class WarmupCosine(ScheduleBase):
    """Linear warmup from warmup_start_lr to lr over warmup_steps, then cosine to min_lr."""
    name: str = "warmup_cosine"
    warmup_steps: int = 100
    warmup_start_lr: float = 0.0
    min_lr: float = 0.0


@dataclass
class OneCycle(ScheduleBase):
    """OneCycleLR with max_lr = optim.lr over the whole run (momentum cycling not modelled)."""
    name: str = "one_cycle"
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False
    anneal_strategy: str = "cos"

    def check(self):
        super().check()
        if self.three_phase and self.pct_start > 0.5:
            raise ConfigError("pct_start", f"must be <= 0.5 with three_phase (it ramps up and down "
                                           f"for pct_start each), got {self.pct_start!r}")


@dataclass
class CosineRestarts(ScheduleBase):
    """SGDR / CosineAnnealingWarmRestarts stepped once per step: cycles T_0, T_0 T_mult, ..."""
    name: str = "cosine_restarts"
    T_0: int = 100
    T_mult: int = 1
    min_lr: float = 0.0


@dataclass
class Plateau(ScheduleBase):
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


SCHEDULE_SCHEMAS = {cls.name: cls for cls in (
    Constant, StepSchedule, Exponential, Polynomial, Cosine, WarmupCosine, OneCycle, CosineRestarts, Plateau)}

# schema keys that map one to one onto kernels.schedules.pack_sp names
_SP_KEYS = ("step_size", "gamma", "power", "min_lr", "warmup_steps", "warmup_start_lr", "pct_start",
            "div_factor", "final_div_factor", "three_phase", "T_0", "T_mult", "factor", "patience",
            "threshold", "cooldown", "eps")


def schedule_to_kernel(sched_obj) -> tuple:
    """``(sched_id, sp)`` for ``kernels.schedules.lr_at`` from a validated schedule object."""
    sched_id = S.NAMES.index(sched_obj.name)
    values = {key: getattr(sched_obj, key) for key in _SP_KEYS if hasattr(sched_obj, key)}
    if getattr(sched_obj, "decay_steps", None) is not None:
        values["decay_steps"] = sched_obj.decay_steps      # absent = 0 = the whole run
    if hasattr(sched_obj, "anneal_strategy"):
        values["linear_anneal"] = sched_obj.anneal_strategy == "linear"
    if hasattr(sched_obj, "threshold_mode"):
        values["threshold_abs"] = sched_obj.threshold_mode == "abs"
    return sched_id, S.pack_sp(**values)
