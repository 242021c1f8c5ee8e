"""Regenerate the PyTorch reference numbers used by tests/test_optimizers.py and
tests/test_schedules.py.  Needs torch (any 2.x CPU build); the tests themselves never import it.

    python tests/reference/make_torch_optim_refs.py

Writes, next to this file:
  torch_optim_refs.json     iterates of torch.optim optimizers on the 2-D Rosenbrock function
  torch_schedule_refs.json  learning rates of torch.optim.lr_scheduler schedulers, step by step

Conventions (the tests follow them):
  * float64 everywhere (torch.set_default_dtype(torch.float64), so step counters and NAdam's
    mu_product are float64 too); single-tensor code path (foreach=False).
  * The gradient is the closed-form Rosenbrock gradient computed in Python floats by
    ``rosenbrock_grad`` below (the tests use the identical expression), so only the
    optimizer arithmetic is compared, not autograd.
  * Step mapping: the lr "used by optimizer step t" (1-based) is optimizer.param_groups[0]["lr"]
    read just before the t-th optimizer.step(); schedulers are stepped after optimizer.step().
    ReduceLROnPlateau is stepped with the loss measured after the optimizer step.
"""
import json
import pathlib

import torch

HERE = pathlib.Path(__file__).resolve().parent
X0 = [-1.5, 2.0]
STEPS = 100
CHECKPOINTS = [1, 2, 10, 50, 100]


def rosenbrock(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def rosenbrock_grad(x, y):
    return [-2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)]


# (case id, calclab optim config, torch class, torch kwargs)
OPTIM_CASES = [
    ("gd", {"name": "gd", "lr": 5e-4}, "SGD", {"lr": 5e-4}),
    ("sgd_wd", {"name": "sgd", "lr": 5e-4, "weight_decay": 0.1}, "SGD", {"lr": 5e-4, "weight_decay": 0.1}),
    ("momentum", {"name": "momentum", "lr": 2e-4, "momentum": 0.9},
     "SGD", {"lr": 2e-4, "momentum": 0.9}),
    ("momentum_dampening_wd", {"name": "momentum", "lr": 2e-4, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.05},
     "SGD", {"lr": 2e-4, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.05}),
    ("nesterov_wd", {"name": "nesterov", "lr": 2e-4, "momentum": 0.9, "weight_decay": 0.01},
     "SGD", {"lr": 2e-4, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("adagrad", {"name": "adagrad", "lr": 0.1}, "Adagrad", {"lr": 0.1}),
    ("adagrad_all", {"name": "adagrad", "lr": 0.3, "lr_decay": 0.01, "initial_accumulator_value": 0.1,
                     "weight_decay": 0.01, "eps": 1e-6},
     "Adagrad", {"lr": 0.3, "lr_decay": 0.01, "initial_accumulator_value": 0.1, "weight_decay": 0.01, "eps": 1e-6}),
    ("rmsprop", {"name": "rmsprop", "lr": 1e-3}, "RMSprop", {"lr": 1e-3}),
    ("rmsprop_centered_momentum_wd", {"name": "rmsprop", "lr": 1e-3, "alpha": 0.9, "eps": 1e-6, "momentum": 0.5,
                                      "centered": True, "weight_decay": 0.01},
     "RMSprop", {"lr": 1e-3, "alpha": 0.9, "eps": 1e-6, "momentum": 0.5, "centered": True, "weight_decay": 0.01}),
    ("adadelta", {"name": "adadelta"}, "Adadelta", {}),
    ("adadelta_wd", {"name": "adadelta", "lr": 0.5, "rho": 0.95, "eps": 1e-4, "weight_decay": 0.1},
     "Adadelta", {"lr": 0.5, "rho": 0.95, "eps": 1e-4, "weight_decay": 0.1}),
    ("adam", {"name": "adam", "lr": 0.05}, "Adam", {"lr": 0.05}),
    ("adam_wd_amsgrad", {"name": "adam", "lr": 0.05, "betas": [0.8, 0.99], "eps": 1e-2, "weight_decay": 0.1,
                         "amsgrad": True},
     "Adam", {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-2, "weight_decay": 0.1, "amsgrad": True}),
    ("adamw", {"name": "adamw", "lr": 0.05}, "AdamW", {"lr": 0.05}),
    ("adamw_amsgrad", {"name": "adamw", "lr": 0.05, "weight_decay": 0.2, "amsgrad": True, "betas": [0.85, 0.995]},
     "AdamW", {"lr": 0.05, "weight_decay": 0.2, "amsgrad": True, "betas": (0.85, 0.995)}),
    ("amsgrad", {"name": "amsgrad", "lr": 0.05}, "Adam", {"lr": 0.05, "amsgrad": True}),
    ("nadam", {"name": "nadam", "lr": 0.03}, "NAdam", {"lr": 0.03}),
    ("nadam_coupled_wd", {"name": "nadam", "lr": 0.03, "weight_decay": 0.1, "momentum_decay": 0.01},
     "NAdam", {"lr": 0.03, "weight_decay": 0.1, "momentum_decay": 0.01}),
    ("nadam_decoupled_wd", {"name": "nadam", "lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True},
     "NAdam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("adamax", {"name": "adamax", "lr": 0.05}, "Adamax", {"lr": 0.05}),
    ("adamax_wd_eps", {"name": "adamax", "lr": 0.05, "betas": [0.8, 0.99], "weight_decay": 0.1, "eps": 0.5},
     "Adamax", {"lr": 0.05, "betas": (0.8, 0.99), "weight_decay": 0.1, "eps": 0.5}),
    ("radam", {"name": "radam", "lr": 1e-3}, "RAdam", {"lr": 1e-3}),
    ("radam_coupled_wd", {"name": "radam", "lr": 1e-3, "weight_decay": 0.1, "betas": [0.9, 0.99]},
     "RAdam", {"lr": 1e-3, "weight_decay": 0.1, "betas": (0.9, 0.99)}),
    ("radam_decoupled_wd", {"name": "radam", "lr": 1e-3, "weight_decay": 0.1, "decoupled_weight_decay": True},
     "RAdam", {"lr": 1e-3, "weight_decay": 0.1, "decoupled_weight_decay": True}),
]

# Optimizer + schedule together: checks the step mapping end to end.
COMBINED_CASES = [
    ("adam_one_cycle", {"name": "adam", "lr": 0.05}, "Adam", {"lr": 0.05},
     {"name": "one_cycle"}, "OneCycleLR", {"max_lr": 0.05, "total_steps": STEPS, "cycle_momentum": False}),
    ("momentum_plateau", {"name": "momentum", "lr": 2e-4, "momentum": 0.9}, "SGD", {"lr": 2e-4, "momentum": 0.9},
     {"name": "plateau", "patience": 2, "factor": 0.5, "threshold": 0.01},
     "ReduceLROnPlateau", {"patience": 2, "factor": 0.5, "threshold": 0.01}),
]


def make_scheduler(opt, cls, kwargs):
    if cls == "WarmupCosine":   # SequentialLR(LinearLR, CosineAnnealingLR)
        s = torch.optim.lr_scheduler
        warm = kwargs["warmup_steps"]
        first = s.LinearLR(opt, start_factor=kwargs["start_factor"], end_factor=1.0, total_iters=warm)
        second = s.CosineAnnealingLR(opt, T_max=kwargs["total_steps"] - warm, eta_min=kwargs["eta_min"])
        return s.SequentialLR(opt, [first, second], milestones=[warm])
    return getattr(torch.optim.lr_scheduler, cls)(opt, **kwargs)


def run_optimizer(cls, kwargs, sched=None, x0=X0):
    p = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, cls)([p], foreach=False, **kwargs)
    scheduler = make_scheduler(opt, *sched) if sched else None
    points, lrs = {}, []
    for t in range(1, STEPS + 1):
        x, y = p.detach().tolist()
        p.grad = torch.tensor(rosenbrock_grad(x, y), dtype=torch.float64)
        lrs.append(float(opt.param_groups[0]["lr"]))
        opt.step()
        if scheduler is not None:
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(rosenbrock(*p.detach().tolist()))
            else:
                scheduler.step()
        if t in CHECKPOINTS:
            points[str(t)] = p.detach().tolist()
    return points, lrs


def amplification(cls, kwargs, sched=None, rel=1e-13):
    """How much a relative change ``rel`` of x0 moves the final iterate, relative to ``rel``.
    Parity to 1e-10 is only meaningful when rounding-level differences are not blown up."""
    end = run_optimizer(cls, kwargs, sched)[0][str(STEPS)]
    moved = run_optimizer(cls, kwargs, sched, [v * (1.0 + rel) for v in X0])[0][str(STEPS)]
    return max(abs(a - b) for a, b in zip(end, moved)) / rel


def optimizer_refs():
    cases = []
    for case_id, optim, cls, kwargs in OPTIM_CASES:
        points, _ = run_optimizer(cls, kwargs)
        gain = amplification(cls, kwargs)
        assert gain < 100.0, f"{case_id}: rounding differences are amplified {gain:.3g}x; pick a tamer setting"
        cases.append({"id": case_id, "optim": optim, "torch": {"class": cls, "kwargs": kwargs}, "points": points})
    for case_id, optim, cls, kwargs, schedule, scls, skwargs in COMBINED_CASES:
        points, lrs = run_optimizer(cls, kwargs, (scls, skwargs))
        gain = amplification(cls, kwargs, (scls, skwargs))
        assert gain < 100.0, f"{case_id}: rounding differences are amplified {gain:.3g}x; pick a tamer setting"
        cases.append({"id": case_id, "optim": optim, "torch": {"class": cls, "kwargs": kwargs},
                      "schedule": schedule, "torch_scheduler": {"class": scls, "kwargs": skwargs},
                      "points": points, "lr": lrs})
    return {"x0": X0, "steps": STEPS, "torch_version": torch.__version__, "cases": cases}


PLATEAU_LOSSES = ([10.0, 9.0, 8.0, 8.0, 7.99, 8.5, 7.95, 7.0, 7.0, 7.0, 7.0, 7.0, 6.0]
                  + [6.0 - 0.001 * k for k in range(20)] + [float(v) for v in range(20, 0, -3)]
                  + [1.0] * 27)

# (case id, calclab schedule config, base lr, total steps, torch class, torch kwargs)
SCHEDULE_CASES = [
    ("step", {"name": "step", "step_size": 7, "gamma": 0.5}, 0.1, 60, "StepLR", {"step_size": 7, "gamma": 0.5}),
    ("exponential", {"name": "exponential", "gamma": 0.95}, 0.1, 60, "ExponentialLR", {"gamma": 0.95}),
    ("polynomial", {"name": "polynomial", "decay_steps": 40, "power": 2.0}, 0.1, 60,
     "PolynomialLR", {"total_iters": 40, "power": 2.0}),
    ("cosine", {"name": "cosine", "min_lr": 1e-3}, 0.1, 60, "CosineAnnealingLR", {"T_max": 60, "eta_min": 1e-3}),
    ("cosine_decay_steps", {"name": "cosine", "decay_steps": 30, "min_lr": 1e-3}, 0.1, 31,
     "CosineAnnealingLR", {"T_max": 30, "eta_min": 1e-3}),
    ("warmup_cosine", {"name": "warmup_cosine", "warmup_steps": 10, "warmup_start_lr": 0.01, "min_lr": 1e-3}, 0.1, 60,
     "WarmupCosine", {"warmup_steps": 10, "start_factor": 0.1, "total_steps": 60, "eta_min": 1e-3}),
    ("one_cycle", {"name": "one_cycle"}, 0.1, 60, "OneCycleLR",
     {"max_lr": 0.1, "total_steps": 60, "cycle_momentum": False}),
    ("one_cycle_three_phase_linear", {"name": "one_cycle", "pct_start": 0.25, "div_factor": 10.0,
                                      "final_div_factor": 100.0, "three_phase": True, "anneal_strategy": "linear"},
     0.1, 60, "OneCycleLR", {"max_lr": 0.1, "total_steps": 60, "cycle_momentum": False, "pct_start": 0.25,
                             "div_factor": 10.0, "final_div_factor": 100.0, "three_phase": True,
                             "anneal_strategy": "linear"}),
    ("one_cycle_three_phase_cos", {"name": "one_cycle", "pct_start": 0.4, "three_phase": True}, 0.1, 50,
     "OneCycleLR", {"max_lr": 0.1, "total_steps": 50, "cycle_momentum": False, "pct_start": 0.4, "three_phase": True}),
    ("cosine_restarts", {"name": "cosine_restarts", "T_0": 10, "T_mult": 1, "min_lr": 1e-3}, 0.1, 45,
     "CosineAnnealingWarmRestarts", {"T_0": 10, "T_mult": 1, "eta_min": 1e-3}),
    ("cosine_restarts_mult", {"name": "cosine_restarts", "T_0": 5, "T_mult": 2, "min_lr": 1e-3}, 0.1, 80,
     "CosineAnnealingWarmRestarts", {"T_0": 5, "T_mult": 2, "eta_min": 1e-3}),
    ("plateau_rel", {"name": "plateau", "patience": 2, "factor": 0.5, "threshold": 0.01, "cooldown": 1,
                     "min_lr": 0.01}, 0.1, len(PLATEAU_LOSSES) + 1, "ReduceLROnPlateau",
     {"patience": 2, "factor": 0.5, "threshold": 0.01, "cooldown": 1, "min_lr": 0.01}),
    ("plateau_abs", {"name": "plateau", "patience": 1, "factor": 0.3, "threshold": 0.5, "threshold_mode": "abs"},
     0.1, len(PLATEAU_LOSSES) + 1, "ReduceLROnPlateau",
     {"patience": 1, "factor": 0.3, "threshold": 0.5, "threshold_mode": "abs"}),
    ("plateau_eps", {"name": "plateau", "patience": 0, "factor": 0.5, "eps": 0.02}, 0.1, len(PLATEAU_LOSSES) + 1,
     "ReduceLROnPlateau", {"patience": 0, "factor": 0.5, "eps": 0.02}),
]


def schedule_lrs(base_lr, total, cls, kwargs):
    """lr used by optimizer steps 1..total; ReduceLROnPlateau is fed PLATEAU_LOSSES[t-1]
    after optimizer step t (the loss measured after that step)."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = make_scheduler(opt, cls, kwargs)
    lrs = []
    for t in range(1, total + 1):
        lrs.append(float(opt.param_groups[0]["lr"]))
        p.grad = torch.zeros(1)
        opt.step()
        if t == total:
            break
        if cls == "ReduceLROnPlateau":
            sched.step(PLATEAU_LOSSES[t - 1])
        else:
            sched.step()
    return lrs


def schedule_refs():
    cases = []
    for case_id, schedule, base_lr, total, cls, kwargs in SCHEDULE_CASES:
        entry = {"id": case_id, "schedule": schedule, "base_lr": base_lr, "total_steps": total,
                 "torch": {"class": cls, "kwargs": kwargs}, "lr": schedule_lrs(base_lr, total, cls, kwargs)}
        if cls == "ReduceLROnPlateau":
            entry["losses_after_step"] = PLATEAU_LOSSES[: total - 1]
        cases.append(entry)
    return {"torch_version": torch.__version__, "cases": cases}


def main():
    torch.set_default_dtype(torch.float64)
    for name, data in (("torch_optim_refs.json", optimizer_refs()), ("torch_schedule_refs.json", schedule_refs())):
        path = HERE / name
        path.write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {path} ({len(data['cases'])} cases)")


if __name__ == "__main__":
    main()
