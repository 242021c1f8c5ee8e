"""Optimizer kernels against PyTorch and optax (stored references), the tutorial's worked
examples, and an independent NumPy transcription of Lion; plus the optim config group.

PyTorch numbers come from tests/reference/make_torch_optim_refs.py, optax numbers (for the
optimizers that follow optax) from tests/reference/make_optax_refs.py; neither library is
imported here.  Each case is driven through the config path: validate_group -> to_kernel ->
init_state/update, on the 2-D Rosenbrock function from (-1.5, 2.0) for 100 steps.
"""
import dataclasses
import json
import pathlib

import numpy as np
import pytest
from omegaconf import OmegaConf

from kernels import optimizers as K
from kernels import schedules as S
from runner.errors import ConfigError
from runner.config.optim import OPTIM_SCHEMAS, SCHEDULE_SCHEMAS, schedule_to_kernel, to_kernel
from runner.config.validate import validate_group

ROOT = pathlib.Path(__file__).resolve().parents[1]
REFS = json.loads((ROOT / "tests" / "reference" / "torch_optim_refs.json").read_text())
OPTAX_REFS = json.loads((ROOT / "tests" / "reference" / "optax_refs.json").read_text())
PARITY_RTOL = 1e-10
PARITY_ATOL = 1e-10


def rosenbrock(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def rosenbrock_grad(x, y):
    # the same expression as the reference script, so only optimizer arithmetic is compared
    return [-2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)]


def validated_optim(cfg: dict):
    return validate_group("optim", OmegaConf.create(cfg), OPTIM_SCHEMAS)


def descend(optim_cfg, x0, grad, steps, schedule_cfg=None, loss=None):
    """Run ``steps`` updates; returns (iterates after steps 1..steps, lr used by each step).

    The schedule is evaluated like the descent loop does: lr_at(t, loss=f(theta_{t-1}))."""
    optim = validated_optim(optim_cfg)
    opt_id, hp = to_kernel(optim)
    sched_id, sp = schedule_to_kernel(validate_group(
        "schedule", OmegaConf.create(schedule_cfg or {"name": "constant"}), SCHEDULE_SCHEMAS))
    theta = np.array(x0, dtype=np.float64)
    state, sstate = K.init_state(opt_id, theta.size)
    sched_state = S.init_sched_state()
    iterates, lrs = [], []
    for t in range(1, steps + 1):
        f = loss(*theta) if loss is not None else 0.0
        lr = S.lr_at(sched_id, sp, optim.lr, t, steps, sched_state, f)
        g = np.array(grad(*theta), dtype=np.float64)
        K.update(opt_id, hp, theta, g, state, sstate, t, lr)
        iterates.append(theta.copy())
        lrs.append(lr)
    return np.array(iterates), np.array(lrs)


# ---- parity with torch.optim -------------------------------------------------------------

def _case_ids():
    return [c["id"] for c in REFS["cases"]]


@pytest.mark.parametrize("case", REFS["cases"], ids=_case_ids())
def test_matches_pytorch_on_rosenbrock(case):
    iterates, lrs = descend(case["optim"], REFS["x0"], rosenbrock_grad, REFS["steps"],
                            case.get("schedule"), rosenbrock)
    for step, expected in case["points"].items():
        np.testing.assert_allclose(iterates[int(step) - 1], expected, rtol=PARITY_RTOL, atol=PARITY_ATOL,
                                   err_msg=f"{case['id']} after step {step}")
    if "lr" in case:
        np.testing.assert_allclose(lrs, case["lr"], rtol=1e-12, atol=0.0)


@pytest.mark.parametrize("case", OPTAX_REFS["cases"], ids=[c["id"] for c in OPTAX_REFS["cases"]])
def test_matches_optax_on_rosenbrock(case):
    assert (OPTAX_REFS["x0"], OPTAX_REFS["steps"]) == (REFS["x0"], REFS["steps"])
    iterates, _ = descend(case["optim"], OPTAX_REFS["x0"], rosenbrock_grad, OPTAX_REFS["steps"])
    for step, expected in case["points"].items():
        np.testing.assert_allclose(iterates[int(step) - 1], expected, rtol=PARITY_RTOL, atol=PARITY_ATOL,
                                   err_msg=f"{case['id']} after step {step}")


def test_every_optimizer_is_covered_by_pytorch_or_optax():
    covered = {c["optim"]["name"] for c in REFS["cases"]}
    assert covered | {c["optim"]["name"] for c in OPTAX_REFS["cases"]} == set(K.NAMES)
    settings = [c["optim"] for c in REFS["cases"]]
    for key in ("weight_decay", "centered", "amsgrad", "decoupled_weight_decay", "dampening", "lr_decay",
                "initial_accumulator_value", "momentum_decay"):
        assert any(s.get(key) for s in settings), key
    assert any(c["optim"]["name"] == "nesterov" for c in REFS["cases"])


def test_references_moved_the_iterate():
    # a reference that stays at x0 or blows up would make parity meaningless
    for case in REFS["cases"] + OPTAX_REFS["cases"]:
        end = np.array(case["points"][str(REFS["steps"])])
        assert np.all(np.isfinite(end)) and np.linalg.norm(end - REFS["x0"]) > 1e-2, case["id"]


# ---- the tutorial's worked examples ---------------------------------------------------------

def test_tutorial_gradient_descent_on_quadratic():
    # f(x) = x^2 - 4x + 5, x0 = 0, alpha = 0.1 -> 0.4, 0.72, 0.976
    xs, _ = descend({"name": "gd", "lr": 0.1}, [0.0], lambda x: [2.0 * x - 4.0], 3)
    np.testing.assert_allclose(xs[:, 0], [0.4, 0.72, 0.976], rtol=1e-12)


def test_tutorial_momentum_example():
    # f(x) = x^2, x0 = 10, v0 = 0, alpha = 0.1, beta = 0.9 -> v = 20, 34, 39.8; x = 8, 4.6, 0.62
    xs, _ = descend({"name": "momentum", "lr": 0.1, "momentum": 0.9}, [10.0], lambda x: [2.0 * x], 3)
    np.testing.assert_allclose(xs[:, 0], [8.0, 4.6, 0.62], rtol=1e-12)


def test_tutorial_momentum_example_does_not_converge_faster_than_gd():
    """Erratum: the tutorial says momentum "converges faster than standard GD" here.  On x^2
    with alpha 0.1, GD contracts by 1 - 2 alpha = 0.8 a step; heavy ball obeys
    x_{n+1} = (1 - 2 alpha + beta) x_n - beta x_{n-1}, whose roots have modulus sqrt(0.9) = 0.949,
    so after its good start (0.62 vs 5.12 at step 3) it oscillates and falls behind."""
    n = 40
    mom, _ = descend({"name": "momentum", "lr": 0.1, "momentum": 0.9}, [10.0], lambda x: [2.0 * x], n)
    gd, _ = descend({"name": "gd", "lr": 0.1}, [10.0], lambda x: [2.0 * x], n)
    np.testing.assert_allclose(gd[:, 0], 10.0 * 0.8 ** np.arange(1, n + 1), rtol=1e-12)
    companion = np.array([[1.7, -0.9], [1.0, 0.0]])          # (x_{k+1}, x_k) from (x_k, x_{k-1})
    closed = [(np.linalg.matrix_power(companion, k - 1) @ [8.0, 10.0])[0] for k in range(1, n + 1)]
    np.testing.assert_allclose(mom[:, 0], closed, rtol=1e-9, atol=1e-12)
    assert abs(mom[2, 0]) < abs(gd[2, 0]) and abs(mom[29, 0]) > 10 * abs(gd[29, 0])


def tutorial_adam(theta, grad, steps, lr, beta1, beta2, eps):
    """The tutorial's Adam, transcribed: theta := theta - alpha m^ / sqrt(v^ + eps)."""
    theta = np.array(theta, dtype=float)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    out = []
    for t in range(1, steps + 1):
        g = np.array(grad(*theta))
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g ** 2
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        theta = theta - lr * m_hat / np.sqrt(v_hat + eps)
        out.append(theta.copy())
    return np.array(out)


def test_tutorial_adam_form_is_eps_root():
    eps = 1e-2   # large enough that inside and outside the root differ visibly
    cfg = {"name": "adam", "lr": 0.01, "betas": [0.9, 0.999], "eps": 0.0, "eps_root": eps}
    ours, _ = descend(cfg, REFS["x0"], rosenbrock_grad, 100)
    expected = tutorial_adam(REFS["x0"], rosenbrock_grad, 100, 0.01, 0.9, 0.999, eps)
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12)
    outside, _ = descend({**cfg, "eps": eps, "eps_root": 0.0}, REFS["x0"], rosenbrock_grad, 100)
    assert np.max(np.abs(outside - expected)) > 1e-6


# ---- Lion: independent NumPy transcription of Chen et al. 2023, Algorithm 2 --------------------

def lion_reference(theta, grad, steps, lr, beta1, beta2, wd):
    theta = np.array(theta, dtype=float)
    m = np.zeros_like(theta)
    out = []
    for _ in range(steps):
        g = np.array(grad(*theta))
        c = beta1 * m + (1 - beta1) * g            # interpolation
        theta = theta - lr * (np.sign(c) + wd * theta)
        m = beta2 * m + (1 - beta2) * g            # momentum tracked with beta2
        out.append(theta.copy())
    return np.array(out)


@pytest.mark.parametrize("beta1, beta2, wd", [(0.9, 0.99, 0.0), (0.95, 0.98, 0.1)])
def test_lion_matches_paper_algorithm(beta1, beta2, wd):
    cfg = {"name": "lion", "lr": 3e-3, "betas": [beta1, beta2], "weight_decay": wd}
    ours, _ = descend(cfg, REFS["x0"], rosenbrock_grad, 100)
    expected = lion_reference(REFS["x0"], rosenbrock_grad, 100, 3e-3, beta1, beta2, wd)
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-14)
    assert np.linalg.norm(ours[-1] - REFS["x0"]) > 0.05


# ---- kernel contract ----------------------------------------------------------------------

@pytest.mark.parametrize("name", K.NAMES)
def test_update_is_coordinatewise(name):
    """Every optimizer acts per coordinate: a d-vector run equals d one-dimensional runs."""
    cfg = {"name": name, "lr": 0.01}
    if name in ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw",
                "nadam", "amsgrad", "adamax", "radam", "lion"):
        cfg["weight_decay"] = 0.05
    a = np.array([3.0, 1.0, 0.5, 2.0])
    grad = lambda *x: list(a * np.array(x) ** 3 + np.sin(x))   # noqa: E731  separable objective
    x0 = [1.0, -2.0, 0.3, 0.7]
    together, _ = descend(cfg, x0, grad, 25)
    assert np.all(np.isfinite(together)) and np.all(together[-1] != x0)
    for i in range(4):
        alone, _ = descend(cfg, [x0[i]], lambda x, i=i: [a[i] * x ** 3 + np.sin(x)], 25)
        np.testing.assert_allclose(together[:, i], alone[:, 0], rtol=1e-13, atol=1e-15)  # np.sin: SIMD vs scalar


@pytest.mark.parametrize("opt_id", range(len(K.NAMES)))
def test_state_shape_matches_init_state(opt_id):
    state, sstate = K.init_state(opt_id, 7)
    k, m = K.state_shape(opt_id, 7)
    assert state.shape == (k, 7) and sstate.shape == (m,) and k >= 1 and m >= 1
    assert state.flags.c_contiguous and state.dtype == np.float64


def test_update_leaves_gradient_untouched():
    opt_id, hp = to_kernel(validated_optim({"name": "adam", "weight_decay": 0.1}))
    theta, g = np.array([1.0, 2.0]), np.array([0.5, -0.5])
    state, sstate = K.init_state(opt_id, 2)
    K.update(opt_id, hp, theta, g, state, sstate, 1, 0.1)
    np.testing.assert_array_equal(g, [0.5, -0.5])


@pytest.mark.parametrize("opt_id", [len(K.NAMES), -1, 1000])
def test_unknown_optimizer_id_is_an_error_and_touches_nothing(opt_id):
    theta = np.array([1.0, 2.0])
    state, sstate = K.init_state(0, 2)
    with pytest.raises(ValueError, match="unknown optimizer id"):
        K.update(opt_id, K.pack_hp(K.ID["adam"]), theta, np.ones(2), state, sstate, 1, 0.1)
    np.testing.assert_array_equal(theta, [1.0, 2.0])
    with pytest.raises(ValueError, match="unknown optimizer id"):
        K.init_state(opt_id, 2)


def test_a_too_short_hp_is_an_error():
    theta = np.array([1.0, 2.0])
    state, sstate = K.init_state(K.ID["adam"], 2)
    with pytest.raises(ValueError):
        K.update(K.ID["adam"], K.pack_hp(K.ID["sgd"]), theta, np.ones(2), state, sstate, 1, 0.1)
    np.testing.assert_array_equal(theta, [1.0, 2.0])


def test_pack_hp_rejects_unknown_name():
    with pytest.raises(KeyError):
        K.pack_hp(K.ID["adam"], betta1=0.9)


# ---- the optim config group ---------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(OPTIM_SCHEMAS))
def test_yaml_lists_every_key_with_its_default(name):
    yaml = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "optim" / f"{name}.yaml"))
    assert yaml == dataclasses.asdict(OPTIM_SCHEMAS[name]())
    validated_optim(yaml)   # the defaults pass their own checks


def test_hydra_composes_every_option_and_command_line_overrides():
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        for name in OPTIM_SCHEMAS:
            validate_group("optim", compose(overrides=[f"+optim={name}"]).optim, OPTIM_SCHEMAS)
        cfg = compose(overrides=["+optim=adam", "optim.betas=[0.8,0.99]", "optim.lr=1", "optim.clip_norm=5"])
    opt_id, hp = to_kernel(validate_group("optim", cfg.optim, OPTIM_SCHEMAS))
    assert (K.NAMES[opt_id], K.unpack_hp(opt_id, hp)["beta1"], K.unpack_hp(opt_id, hp)["beta2"]) == ("adam", 0.8, 0.99)
    assert validate_group("optim", cfg.optim, OPTIM_SCHEMAS).lr == 1.0


def test_the_yaml_menu_and_the_table_agree():
    """conf/optim has one file per table entry; every hyperparameter of the entry is a key there
    (beta1 and beta2 as PyTorch's betas), each number with a validation rule, and the values are
    the table's defaults."""
    from runner.config.optim import OPTIM_RULES

    assert {p.stem for p in (ROOT / "conf" / "optim").glob("*.yaml")} == set(K.NAMES)
    for entry in K.OPTIMIZERS:
        yaml = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "optim" / f"{entry.name}.yaml"))
        keys = {"betas" if key in ("beta1", "beta2") else key for key in entry.hyper}
        assert set(yaml) == keys | {"name", "lr", "clip_norm"}, entry.name
        ruled = {key for key in keys if not isinstance(entry.hyper.get(key), bool)}   # flags: the type is the rule
        assert ruled <= set(OPTIM_RULES), f"{entry.name}: no validation rule for {ruled - set(OPTIM_RULES)}"
        assert yaml["lr"] == entry.lr
        opt_id, hp = to_kernel(validated_optim(yaml))
        np.testing.assert_array_equal(hp, K.pack_hp(opt_id))     # the YAML's values are the table's


def test_a_rule_that_does_not_take_its_entrys_hyperparameters_is_refused():
    from kernels.optimizer_table import Optimizer, check

    bad = Optimizer("bad", K.OPTIMIZERS[K.ID["adam"]].rule, lr=1e-3, hyper={"beta2": 0.9, "beta1": 0.999},
                    rows=1, scalars=1, doc="")
    with pytest.raises(TypeError, match="must take"):
        check([bad])


def test_the_descent_loop_reports_an_unknown_optimizer_as_an_error():
    from kernels import schedules
    import dataclasses

    from runner.descent.driver import DescentInputs, DescentKnobs, Run
    from runner.problems.catalog import PROBLEM_SCHEMAS, build_problem

    problem = build_problem(PROBLEM_SCHEMAS["rosenbrock"](), 0)
    run = Run(problem, DescentInputs(0, K.pack_hp(0), schedules.CONSTANT, np.zeros(schedules.N_SP), 1e-3),
              DescentKnobs(steps=5))
    run.fast = None
    run.inputs = dataclasses.replace(run.inputs, opt_id=len(K.NAMES))
    with pytest.raises(ValueError, match="unknown optimizer id"):
        run.step(5)
    assert np.all(np.isfinite(run.theta))


def test_every_optimizer_has_a_schema():
    assert set(OPTIM_SCHEMAS) == set(K.NAMES)
    for name, cls in OPTIM_SCHEMAS.items():
        assert cls().name == name and K.NAMES[to_kernel(cls())[0]] == name


@pytest.mark.parametrize("cfg, key, words", [
    ({"name": "adam", "lr": 0.0}, "optim.lr", "must be > 0"),
    ({"name": "gd", "lr": -0.1}, "optim.lr", "must be > 0"),
    ({"name": "adam", "betas": [1.0, 0.999]}, "optim.betas", "beta1 must be in [0, 1)"),
    ({"name": "nadam", "betas": [0.9, 1.5]}, "optim.betas", "beta2 must be in [0, 1)"),
    ({"name": "lion", "betas": [0.9]}, "optim.betas", "two floats"),
    ({"name": "adam", "eps": -1e-8}, "optim.eps", "must be >= 0"),
    ({"name": "adam", "eps": 0.0}, "optim.eps", "both 0"),
    ({"name": "adamw", "weight_decay": -0.01}, "optim.weight_decay", "must be >= 0"),
    ({"name": "rmsprop", "alpha": 1.0}, "optim.alpha", "must be in [0.0, 1.0)"),
    ({"name": "adadelta", "rho": -0.1}, "optim.rho", "must be in [0.0, 1.0)"),
    ({"name": "momentum", "momentum": 1.0}, "optim.momentum", "must be in [0.0, 1.0)"),
    ({"name": "nesterov", "momentum": 0.0}, "optim.momentum", "must be > 0"),
    ({"name": "momentum", "dampening": 1.5}, "optim.dampening", "must be in [0.0, 1.0]"),
    ({"name": "sgd", "clip_norm": 0.0}, "optim.clip_norm", "must be > 0"),
    ({"name": "adagrad", "eps": 0.0}, "optim.eps", "must be > 0"),
    ({"name": "sgd", "momentum": 0.9}, "optim.momentum", "unknown key"),
    ({"name": "adam", "beta1": 0.9}, "optim.beta1", "unknown key"),
    ({"name": "adam", "lr": "fast"}, "optim.lr", "could not be converted"),
    ({"name": "adamm"}, "optim.name", "unknown optim 'adamm'"),
])
def test_bad_optim_values_name_the_key(cfg, key, words):
    with pytest.raises(ConfigError) as err:
        validated_optim(cfg)
    assert err.value.key == key and words in err.value.problem


def test_to_kernel_packs_hyperparameters():
    opt_id, hp = to_kernel(validated_optim({"name": "rmsprop", "alpha": 0.9, "centered": True, "momentum": 0.5}))
    assert K.NAMES[opt_id] == "rmsprop"
    assert K.unpack_hp(opt_id, hp) == {"alpha": 0.9, "centered": 1.0, "momentum": 0.5, "eps": 1e-8, "weight_decay": 0.0}
    opt_id, hp = to_kernel(validated_optim({"name": "adamw"}))
    values = K.unpack_hp(opt_id, hp)
    assert K.NAMES[opt_id] == "adamw" and (values["beta1"], values["beta2"], values["weight_decay"]) == (0.9, 0.999, 0.01)


def test_the_gradient_norm_is_exact_enough_and_fixed_in_order():
    """kernels.descent._norm: eight interleaved partial sums from 16 entries on (fast, order fixed)."""
    from numba import njit

    from kernels.descent import _norm

    norm = njit(lambda g: _norm(g))
    rng = np.random.default_rng(3)
    for n in (1, 3, 15, 16, 17, 26634):
        g = rng.normal(size=n) * 10.0 ** rng.integers(-3, 3, size=n)
        assert norm(g) == pytest.approx(float(np.sqrt(np.sum(g * g, dtype=np.longdouble))), rel=1e-14)
        assert norm(g) == norm(g.copy())
    g = np.array([3.0, 4.0] + [0.0] * 30)
    assert norm(g) == 5.0
    g[7] = np.nan
    assert np.isnan(norm(g))
