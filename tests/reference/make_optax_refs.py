"""Regenerate the optax reference numbers used by tests/test_optimizers.py, for the optimizers
that follow optax rather than PyTorch.  Needs jax and optax (the tests never import them); in a
throwaway environment:

    python -m venv /tmp/optaxenv && /tmp/optaxenv/bin/pip install jax optax
    /tmp/optaxenv/bin/python tests/reference/make_optax_refs.py

Writes optax_refs.json next to this file: iterates of optax optimizers on the 2-D Rosenbrock
function, with the conventions of make_torch_optim_refs.py (same start, steps, checkpoints and
closed-form gradient in Python floats, so only the optimizer arithmetic is compared):
float64 (jax_enable_x64), eager (no jit), ``updates, state = opt.update(g, state, params)``
then ``params = optax.apply_updates(params, updates)``.
"""
import json
import pathlib

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402  (after x64 is on)
import optax  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
X0 = [-1.5, 2.0]
STEPS = 100
CHECKPOINTS = [1, 2, 10, 50, 100]


def rosenbrock_grad(x, y):
    return [-2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)]


# (case id, calclab optim config, optax alias or transform chain, its kwargs)
OPTIM_CASES = [
    ("lion_optax", {"name": "lion", "lr": 3e-3, "betas": [0.95, 0.98], "weight_decay": 0.1},
     "lion", {"learning_rate": 3e-3, "b1": 0.95, "b2": 0.98, "weight_decay": 0.1}),
    ("adam_eps_root_optax", {"name": "adam", "lr": 0.05, "betas": [0.8, 0.99], "eps": 1e-3, "eps_root": 1e-2},
     "adam", {"learning_rate": 0.05, "b1": 0.8, "b2": 0.99, "eps": 1e-3, "eps_root": 1e-2}),
    ("adabelief", {"name": "adabelief", "lr": 0.05}, "adabelief", {"learning_rate": 0.05}),
    ("adabelief_all", {"name": "adabelief", "lr": 0.02, "betas": [0.8, 0.99], "eps": 1e-8, "eps_root": 1e-4},
     "adabelief", {"learning_rate": 0.02, "b1": 0.8, "b2": 0.99, "eps": 1e-8, "eps_root": 1e-4}),
    ("yogi", {"name": "yogi", "lr": 0.05}, "yogi", {"learning_rate": 0.05}),
    ("yogi_all", {"name": "yogi", "lr": 0.1, "betas": [0.8, 0.99], "eps": 1e-4, "eps_root": 1e-3,
                  "initial_accumulator_value": 0.5},
     "scale_by_yogi", {"learning_rate": 0.1, "b1": 0.8, "b2": 0.99, "eps": 1e-4, "eps_root": 1e-3,
                       "initial_accumulator_value": 0.5}),
]


def optimizer(name, kwargs):
    """optax.<name>(**kwargs); a transform (scale_by_*, for the keys its alias does not expose)
    is chained with scale_by_learning_rate, as the aliases do."""
    if name.startswith("scale_by_"):
        kwargs = dict(kwargs)
        lr = kwargs.pop("learning_rate")
        return optax.chain(getattr(optax, name)(**kwargs), optax.scale_by_learning_rate(lr))
    return getattr(optax, name)(**kwargs)


def run(name, kwargs):
    opt = optimizer(name, kwargs)
    params = jnp.asarray(X0, dtype=jnp.float64)
    state = opt.init(params)
    points = {}
    for t in range(1, STEPS + 1):
        g = jnp.asarray(rosenbrock_grad(float(params[0]), float(params[1])), dtype=jnp.float64)
        updates, state = opt.update(g, state, params)
        params = optax.apply_updates(params, updates)
        if t in CHECKPOINTS:
            points[str(t)] = [float(v) for v in params]
    return points


def main():
    cases = [{"id": cid, "optim": cfg, "optax": {"name": name, "kwargs": kwargs}, "points": run(name, kwargs)}
             for cid, cfg, name, kwargs in OPTIM_CASES]
    out = {"x0": X0, "steps": STEPS, "optax_version": optax.__version__, "jax_version": jax.__version__,
           "cases": cases}
    (HERE / "optax_refs.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {HERE / 'optax_refs.json'}")


if __name__ == "__main__":
    main()
