"""Learning-rate schedules against torch.optim.lr_scheduler (stored references) and closed
forms; the schedule config group and its validation errors.

Step mapping under test: lr_at(t) is the lr PyTorch's optimizer uses for its t-th step,
i.e. after t - 1 scheduler.step() calls; ReduceLROnPlateau is fed, before step t, the loss
measured after step t - 1 (see kernels/schedules.py).
"""
import dataclasses
import json
import math
import pathlib

import numpy as np
import pytest
from omegaconf import OmegaConf

from kernels import schedules as S
from runner.errors import ConfigError
from runner.config.optim import OPTIM_SCHEMAS, SCHEDULE_SCHEMAS, schedule_to_kernel
from runner.config.validate import validate_group

ROOT = pathlib.Path(__file__).resolve().parents[1]
REFS = json.loads((ROOT / "tests" / "reference" / "torch_schedule_refs.json").read_text())


def kernel_inputs(cfg: dict):
    return schedule_to_kernel(validate_group("schedule", OmegaConf.create(cfg), SCHEDULE_SCHEMAS))


def lr_sequence(cfg: dict, base_lr: float, total: int, losses_after_step=()):
    """lr for steps 1..total; before step t >= 2 the plateau schedule sees the loss after step t-1."""
    sched_id, sp = kernel_inputs(cfg)
    state = S.init_sched_state()
    out = []
    for t in range(1, total + 1):
        loss = losses_after_step[t - 2] if t >= 2 and losses_after_step else 0.0
        out.append(S.lr_at(sched_id, sp, base_lr, t, total, state, loss))
    return np.array(out)


# ---- parity with torch.optim.lr_scheduler ---------------------------------------------------

@pytest.mark.parametrize("case", REFS["cases"], ids=[c["id"] for c in REFS["cases"]])
def test_matches_pytorch_scheduler(case):
    ours = lr_sequence(case["schedule"], case["base_lr"], case["total_steps"], case.get("losses_after_step", ()))
    np.testing.assert_allclose(ours, case["lr"], rtol=1e-12, atol=1e-15 * case["base_lr"])


def test_every_schedule_but_constant_has_a_pytorch_reference():
    assert {c["schedule"]["name"] for c in REFS["cases"]} == set(S.NAMES) - {"constant"}


def test_plateau_references_exercise_reductions_cooldown_floor_and_eps():
    by_id = {c["id"]: np.array(c["lr"]) for c in REFS["cases"]}
    rel = by_id["plateau_rel"]
    assert len(set(rel)) >= 3 and rel.min() == 0.01          # reduced several times, held at min_lr
    assert len(set(by_id["plateau_abs"])) >= 3
    assert by_id["plateau_eps"].min() == 0.025                # 0.025 -> 0.0125 is below eps: ignored


# ---- closed forms where PyTorch has none -------------------------------------------------------

def test_constant():
    np.testing.assert_array_equal(lr_sequence({"name": "constant"}, 0.3, 5), [0.3] * 5)


def test_polynomial_with_floor_is_optax_polynomial_schedule():
    # optax.polynomial_schedule: (init - end) (1 - min(count, T)/T)^power + end, count = t - 1
    base, end, T, power = 0.2, 0.02, 30, 1.5
    got = lr_sequence({"name": "polynomial", "decay_steps": T, "power": power, "min_lr": end}, base, 50)
    count = np.minimum(np.arange(50), T)
    np.testing.assert_allclose(got, (base - end) * (1 - count / T) ** power + end, rtol=1e-13)
    assert got[-1] == pytest.approx(end)


def test_polynomial_and_cosine_span_the_whole_run_by_default():
    total = 40
    poly = lr_sequence({"name": "polynomial"}, 1.0, total)
    np.testing.assert_allclose(poly, 1.0 - np.arange(total) / total, rtol=1e-13)
    cos = lr_sequence({"name": "cosine", "min_lr": 0.1}, 1.0, total)
    np.testing.assert_allclose(cos, 0.1 + 0.9 * (1 + np.cos(np.pi * np.arange(total) / total)) / 2, rtol=1e-13)


def test_cosine_holds_its_floor_after_decay_steps():
    # PyTorch's CosineAnnealingLR would swing back up after T_max; ours stays at min_lr.
    got = lr_sequence({"name": "cosine", "decay_steps": 10, "min_lr": 0.01}, 0.1, 30)
    np.testing.assert_allclose(got[10:], 0.01, rtol=1e-13)
    assert np.all(np.diff(got[:11]) < 0)


def test_warmup_cosine_closed_form():
    # optax.warmup_cosine_decay_schedule(init, peak, W, decay_steps=total, end) at count = t - 1
    base, start, end, W, total = 0.5, 0.05, 0.005, 8, 40
    got = lr_sequence({"name": "warmup_cosine", "warmup_steps": W, "warmup_start_lr": start, "min_lr": end},
                      base, total)
    c = np.arange(total)
    warm = start + (base - start) * c / W
    decay = end + (base - end) * (1 + np.cos(np.pi * (c - W) / (total - W))) / 2
    np.testing.assert_allclose(got, np.where(c < W, warm, decay), rtol=1e-13)
    assert got.argmax() == W and got[0] == start


def test_warmup_cosine_without_warmup_is_cosine():
    a = lr_sequence({"name": "warmup_cosine", "warmup_steps": 0, "min_lr": 0.01}, 0.1, 25)
    b = lr_sequence({"name": "cosine", "min_lr": 0.01}, 0.1, 25)
    np.testing.assert_allclose(a, b, rtol=1e-15)


def test_one_cycle_shape():
    # OneCycleLR: starts at lr/div_factor, peaks at lr at step pct*total, ends at lr/(div*final_div)
    total, base = 100, 0.4
    got = lr_sequence({"name": "one_cycle", "pct_start": 0.3}, base, total)
    assert got[0] == pytest.approx(base / 25) and got.max() == pytest.approx(base)
    assert got.argmax() == 29 and got[-1] == pytest.approx(base / 25 / 1e4)


def test_cosine_restarts_cycle_lengths():
    # T_0 = 3, T_mult = 2: restarts (lr back at base) at e = 0, 3, 9, 21
    got = lr_sequence({"name": "cosine_restarts", "T_0": 3, "T_mult": 2}, 1.0, 30)
    assert [e for e in range(30) if got[e] == 1.0] == [0, 3, 9, 21]
    assert got[10] == pytest.approx((1 + math.cos(math.pi * 1 / 12)) / 2)   # T_cur = 1 of T_i = 12


def test_plateau_restarts_at_step_one():
    cfg = {"name": "plateau", "patience": 0, "factor": 0.5}
    sched_id, sp = kernel_inputs(cfg)
    state = S.init_sched_state()
    losses = [5.0, 5.0, 5.0, 5.0]
    first = [S.lr_at(sched_id, sp, 1.0, t, 5, state, losses[t - 2] if t > 1 else 0.0) for t in range(1, 6)]
    second = [S.lr_at(sched_id, sp, 1.0, t, 5, state, losses[t - 2] if t > 1 else 0.0) for t in range(1, 6)]
    # loss 5 is an improvement on inf, then three bad steps each halve the lr (patience 0)
    assert first == second == [1.0, 1.0, 0.5, 0.25, 0.125]


def test_plateau_counts_non_finite_loss_as_no_improvement():
    got = lr_sequence({"name": "plateau", "patience": 1, "factor": 0.5}, 1.0, 5, [1.0, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(got, [1.0, 1.0, 1.0, 0.5, 0.5])


def test_unknown_schedule_id_gives_nan():
    assert np.isnan(S.lr_at(len(S.NAMES), np.zeros(S.N_SP), 0.1, 1, 10, S.init_sched_state(), 0.0))


# ---- the schedule config group ------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SCHEDULE_SCHEMAS))
def test_yaml_lists_every_key_with_its_default(name):
    yaml = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "schedule" / f"{name}.yaml"))
    assert yaml == dataclasses.asdict(SCHEDULE_SCHEMAS[name]())
    validate_group("schedule", OmegaConf.create(yaml), SCHEDULE_SCHEMAS)


def test_every_schedule_has_a_schema():
    assert set(SCHEDULE_SCHEMAS) == set(S.NAMES)
    for name, cls in SCHEDULE_SCHEMAS.items():
        assert S.NAMES[schedule_to_kernel(cls())[0]] == name


@pytest.mark.parametrize("group, cfg, key, words", [
    ("optim", {"name": "adam", "lr": 0.0}, "optim.lr", "must be > 0"),
    ("optim", {"name": "adam", "betas": [1.0, 0.999]}, "optim.betas", "beta1 must be in [0, 1)"),
    ("optim", {"name": "adam", "learning_rate": 0.1}, "optim.learning_rate", "unknown key"),
    ("schedule", {"name": "step", "step_size": 0}, "schedule.step_size", "must be an integer >= 1"),
    ("schedule", {"name": "step", "gamma": 0.0}, "schedule.gamma", "must be > 0"),
    ("schedule", {"name": "polynomial", "decay_steps": -5}, "schedule.decay_steps", "or null"),
    ("schedule", {"name": "cosine", "min_lr": -1e-3}, "schedule.min_lr", "must be >= 0"),
    ("schedule", {"name": "warmup_cosine", "warmup_steps": -1}, "schedule.warmup_steps", "must be >= 0"),
    ("schedule", {"name": "one_cycle", "pct_start": 0.0}, "schedule.pct_start", "must be in (0.0, 1.0]"),
    ("schedule", {"name": "one_cycle", "anneal_strategy": "cosine"}, "schedule.anneal_strategy", "cos, linear"),
    ("schedule", {"name": "one_cycle", "three_phase": True, "pct_start": 0.6}, "schedule.pct_start", "<= 0.5"),
    ("schedule", {"name": "cosine_restarts", "T_mult": 0}, "schedule.T_mult", "must be an integer >= 1"),
    ("schedule", {"name": "cosine_restarts", "T_0": 2.5}, "schedule.T_0", "could not be converted"),
    ("schedule", {"name": "plateau", "factor": 1.0}, "schedule.factor", "must be in (0.0, 1.0)"),
    ("schedule", {"name": "plateau", "threshold_mode": "relative"}, "schedule.threshold_mode", "rel, abs"),
    ("schedule", {"name": "plateau", "patience": -1}, "schedule.patience", "must be >= 0"),
    ("schedule", {"name": "plateau", "mode": "max"}, "schedule.mode", "unknown key"),
    ("schedule", {"name": "cosine", "gamma": 0.5}, "schedule.gamma", "unknown key"),
    ("schedule", {"name": "linear"}, "schedule.name", "unknown schedule 'linear'"),
])
def test_bad_values_name_the_key(group, cfg, key, words):
    schemas = OPTIM_SCHEMAS if group == "optim" else SCHEDULE_SCHEMAS
    with pytest.raises(ConfigError) as err:
        validate_group(group, OmegaConf.create(cfg), schemas)
    assert err.value.key == key and words in err.value.problem


def test_schedule_to_kernel_packs_parameters():
    sched_id, sp = kernel_inputs({"name": "plateau", "threshold_mode": "abs", "patience": 3})
    assert sched_id == S.PLATEAU and sp[S.SP_THRESHOLD_ABS] == 1.0 and sp[S.SP_PATIENCE] == 3.0
    assert sp[S.SP_FACTOR] == 0.1 and sp[S.SP_EPS] == 1e-8
    sched_id, sp = kernel_inputs({"name": "cosine"})
    assert sched_id == S.COSINE and sp[S.SP_DECAY_STEPS] == 0.0      # 0 = the whole run
    sched_id, sp = kernel_inputs({"name": "one_cycle", "anneal_strategy": "linear"})
    assert sp[S.SP_LINEAR_ANNEAL] == 1.0 and sp[S.SP_DIV_FACTOR] == 25.0
