"""task=integrate through the app: every method against closed forms, the convergence trace and its
slopes, reproducibility by seed (whatever the thread count), the tutorial's examples, bad input."""
import math

import numpy as np
import pytest
from scipy import stats

from runner import app
from runner.errors import ConfigError
from tests.conftest import compose, run_cli


def run(tmp_path, *overrides):
    cfg = compose(["task=integrate", "tracking=none", "quiet=true", *overrides])
    return app.execute(cfg, tmp_path / f"r{len(list(tmp_path.iterdir()))}")


def preset(tmp_path, name, *extra):
    cfg = compose([f"+experiment=seed/{name}", "tracking=none", "quiet=true", *extra])
    return app.execute(cfg, tmp_path / name)


@pytest.mark.parametrize("integrator,extra,tol", [
    ("mc", ["integrator.n=400000"], None), ("antithetic", ["integrator.n=400000"], None),
    ("control", ["integrator.n=400000"], None), ("importance", ["integrator.n=400000", "integrator.alpha=1"], None),
    ("stratified", ["integrator.n=20000"], None), ("sobol", ["integrator.n=4096"], None),
    ("halton", ["integrator.n=4096"], None), ("trapezoid", ["integrator.n=2049"], 1e-6),
    ("simpson", ["integrator.n=33"], 1e-14), ("gauss_legendre", ["integrator.n=2"], 1e-14),
    ("adaptive", [], 1e-12),
])
def test_every_method_finds_8_over_3(tmp_path, integrator, extra, tol):
    r = run(tmp_path, f"integrator={integrator}", *extra)
    f = r.final
    if tol is not None:
        assert f["estimate"] == pytest.approx(8 / 3, abs=tol)
    else:    # random methods: within 4 standard errors, and the standard error is honest (not huge)
        assert abs(f["estimate"] - 8 / 3) <= 4 * f["standard_error"] + 1e-14
        assert f["standard_error"] < 5e-3
    if integrator in ("antithetic", "control", "importance", "stratified"):
        assert f["variance_reduction"] > 1.5      # x^2 is monotone and smooth: each of these helps


def test_variance_reduction_factors_match_theory(tmp_path):
    """For g = 2 (2u)^2 on [0, 1]: Var g(U) = 64/5 - 64/9; antithetic pairs g(U) and g(1 - U):
    Var((g(U) + g(1-U))/2) = 64 (1/5 - 4/9 + ... ) computed exactly below."""
    r = run(tmp_path, "integrator=antithetic", "integrator.n=2000000")
    u = np.linspace(0, 1, 2_000_001)
    g = 8 * u ** 2
    pair = 0.5 * (g + 8 * (1 - u) ** 2)
    exact_vr = np.var(g) / (2 * np.var(pair))
    assert r.final["variance_reduction"] == pytest.approx(exact_vr, rel=0.02)


def test_gauss_legendre_is_exact_to_degree_2n_minus_1(tmp_path):
    r = run(tmp_path, "integrand=expr", "integrand.f=x**5 - 2*x**3", "integrator=gauss_legendre",
            "integrator.n=3", "+integrand.exact=-0.3333333333333333")
    assert r.final["estimate"] == pytest.approx(1 / 6 - 1 / 2, abs=1e-15)
    r = run(tmp_path, "integrand=expr", "integrand.f=x**6", "integrator=gauss_legendre", "integrator.n=3")
    assert abs(r.final["estimate"] - 1 / 7) > 1e-6                 # degree 6 > 2n - 1: not exact


def test_multidimensional_expression_over_a_box(tmp_path):
    r = run(tmp_path, "integrand=expr", "integrand.f=x*y**2", "integrand.box=[[0,2],[1,3]]",
            "integrator=gauss_legendre", "integrator.n=4")
    assert r.final["estimate"] == pytest.approx(2 * (27 - 1) / 3, rel=1e-14)


def test_expectations_under_normal_and_exponential(tmp_path):
    r = run(tmp_path, "integrand=expectation", "integrand.f=x**2", "integrand.distribution=normal",
            "integrand.mu=1", "integrand.sigma=2", "integrator=sobol", "integrator.n=65536")
    assert r.final["estimate"] == pytest.approx(1 + 4, rel=1e-4)        # E X^2 = mu^2 + sigma^2
    r = run(tmp_path, "integrand=expectation", "integrand.f=x", "integrand.distribution=exponential",
            "integrand.rate=4", "integrand.quantity=variance", "integrator=mc", "integrator.n=1000000")
    assert r.final["estimate"] == pytest.approx(1 / 16, rel=0.01)       # Var = 1 / rate^2


def test_mc_converges_at_half_order_and_sobol_faster(tmp_path):
    mc = run(tmp_path, "+experiment=integrate_mc_vs_sobol", "integrator=mc", "integrator.n=1048576").final
    qmc = run(tmp_path, "+experiment=integrate_mc_vs_sobol", "integrator=sobol", "integrator.n=65536").final
    assert mc["se_slope"] == pytest.approx(-0.5, abs=0.05)
    assert qmc["se_slope"] < -0.9 and qmc["error_slope"] < -0.8
    assert qmc["abs_error"] < mc["abs_error"]


def test_seed_examples(tmp_path):
    assert preset(tmp_path, "integrate_x_squared").final["estimate"] == pytest.approx(8 / 3, abs=1e-15)
    f = preset(tmp_path, "integrate_x_squared_mc").final
    assert f["ci95"][0] <= 8 / 3 <= f["ci95"][1]
    f = preset(tmp_path, "integrate_mc_four_samples").final
    assert f["estimate"] == pytest.approx(0.3975, abs=1e-15) and f["exact"] == pytest.approx(1 / 3)
    f = preset(tmp_path, "integrate_uniform_mean").final
    assert abs(f["estimate"] - 0.5) < 4 * f["standard_error"]
    f = preset(tmp_path, "integrate_uniform_second_moment").final
    assert abs(f["estimate"] - 1 / 3) < 4 * f["standard_error"]
    assert preset(tmp_path, "integrate_uniform_variance").final["estimate"] == pytest.approx(1 / 12, abs=1e-15)
    assert preset(tmp_path, "integrate_gaussian_pdf").final["estimate"] == pytest.approx(1.0, abs=1e-12)


def test_same_seed_same_estimate_and_the_trace_in_mlflow(tmp_path, run_app, mlflow_uri):
    a, b = run(tmp_path, "integrator.n=300000", "seed=5"), run(tmp_path, "integrator.n=300000", "seed=5")
    assert a.final["estimate"] == b.final["estimate"]
    assert run(tmp_path, "integrator.n=300000", "seed=6").final["estimate"] != a.final["estimate"]
    result, doc, run_dir = run_app("task=integrate", "integrator.n=200000")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_uri)
    steps = sorted(m.step for m in client.get_metric_history(doc["mlflow_run_id"], "abs_error"))
    assert steps == result.trajectory["n"].tolist() and steps[-1] == 200000
    assert (run_dir / "plots" / "convergence.png").is_file()
    assert doc["final"]["n"] == 200000 and doc["integrator"] == "mc"
    tags = client.get_run(doc["mlflow_run_id"]).data.tags
    assert tags["seed"] == "0" and tags["chunks"] == str(-(-200000 // 65536)) and int(tags["threads"]) >= 1


@pytest.mark.parametrize("overrides,key", [
    (["integrator.n=0"], "integrator.n"),
    (["integrand.a=2", "integrand.b=1"], "integrand.b"),
    (["integrand=expr", "integrand.f=x*y", "integrand.box=[[0,1],[0,1],[0,1]]"], "integrand.box"),
    (["integrator=sobol", "integrator.n=1000"], "integrator.n"),
    (["integrand=genz", "integrator=adaptive"], "integrator.name"),
    (["integrand=expr", "integrand.f=\"__import__('os')\""], "integrand.f"),
    (["integrator=importance", "integrator.alpha=-1"], "integrator.alpha"),
    (["integrator=importance", "integrator.alpha=[1,2]"], "integrator.alpha"),
    (["integrand=expectation", "integrand.f=x+y", "integrand.mu=[1,2,3]", "integrand.distribution=normal"],
     "integrand.mu"),
    (["integrand=x_squared_unit", "integrator=samples", "integrator.samples=[0.5,1.5]"], "integrator.samples"),
    (["integrand=genz", "integrator=simpson", "integrator.n=100001"], "integrator.n"),
    (["integrator=adaptive", "integrator.n=10"], "integrator.n"),
])
def test_bad_input_is_one_error_before_work(tmp_path, overrides, key):
    with pytest.raises(ConfigError) as e:
        run(tmp_path, *overrides)
    assert e.value.key == key


def test_non_finite_integrand_ends_failed_and_says_how_many(tmp_path):
    r = run(tmp_path, "integrand=expr", "integrand.f=\"log(x)\"", "integrand.box=[-1,1]", "integrator=mc",
            "integrator.n=100000")
    bad = r.final["non_finite"]
    assert abs(bad - 50000) < 5 * math.sqrt(25000)                     # log(x) is NaN for x < 0: half the box
    assert r.status == "FAILED" and f"non-finite (NaN or inf) at {bad} of 100000" in r.message
    r = run(tmp_path, "integrand=expr", "integrand.f=\"log(x)\"", "integrand.box=[-1,1]",
            "integrator=gauss_legendre", "integrator.n=10")
    assert r.status == "FAILED" and r.final["non_finite"] == 5          # the 5 nodes left of 0
    r = run(tmp_path, "integrand=expectation", "integrand.f=x**2", "integrand.distribution=normal",
            "integrator=simpson", "integrator.n=9")
    assert r.status == "FAILED" and "use gauss_legendre or adaptive" in r.message


def test_uniform_proposal_must_cover_the_integrand(tmp_path):
    genz = ["integrand=genz", "integrand.family=discontinuous", "integrand.c=[1.0]", "integrand.w=[0.5]",
            "integrator=importance", "integrator.proposal=uniform", "integrator.n=200000"]
    f = run(tmp_path, *genz, "integrator.lo=0", "integrator.hi=0.5").final     # g = 0 beyond 0.5: covered
    assert abs(f["estimate"] - f["exact"]) < 4 * f["standard_error"]
    assert f["variance_reduction"] > 3 and f["ess"] == pytest.approx(200000)   # constant weights
    with pytest.raises(ConfigError, match="zero density at x=") as e:
        run(tmp_path, *genz, "integrator.lo=0", "integrator.hi=0.4")
    assert e.value.key == "integrator.lo"


def test_power_proposal_vanishing_where_the_integrand_is_not(tmp_path):
    box = ["integrand=expr", "integrand.f=x**2", "integrand.box=[1,2]", "+integrand.exact=2.3333333333333335",
           "integrator=importance", "integrator.n=200000"]
    with pytest.raises(ConfigError, match="infinite variance") as e:
        run(tmp_path, *box, "integrator.alpha=1")
    assert e.value.key == "integrator.alpha"
    f = run(tmp_path, *box, "integrator.alpha=0.5").final
    assert abs(f["estimate"] - 7 / 3) < 4 * f["standard_error"]


def test_normal_proposal_on_a_peak_reduces_variance(tmp_path):
    f = run(tmp_path, "integrand=genz", "integrand.family=gaussian", "integrand.d=1", "integrand.c=[20]",
            "integrand.w=[0.3]", "integrator=importance", "integrator.proposal=normal", "integrator.loc=0.3",
            "integrator.scale=0.05", "integrator.n=200000").final
    assert abs(f["estimate"] - f["exact"]) < 4 * f["standard_error"]
    assert f["variance_reduction"] > 5 and 0 < f["ess"] < 200000


def test_multivariate_expectations(tmp_path):
    f = run(tmp_path, "integrand=expectation", "integrand.f=x*y + y**2", "integrand.distribution=normal",
            "integrand.mu=[1,2]", "integrand.sigma=[0.5,3]", "integrator=sobol", "integrator.n=65536").final
    assert f["estimate"] == pytest.approx(1 * 2 + 2 ** 2 + 3 ** 2, rel=1e-4)   # E xy + E y^2, independent
    f = run(tmp_path, "integrand=expectation", "integrand.f=x + y", "integrand.a=0", "integrand.b=[1,2]",
            "integrand.quantity=variance", "integrator=gauss_legendre", "integrator.n=3").final
    assert f["estimate"] == pytest.approx(1 / 12 + 4 / 12, abs=1e-14)           # Var U(0,1) + Var U(0,2)


def test_adaptive_error_estimate_is_honest(tmp_path):
    f = run(tmp_path, "integrand=expr", "integrand.f=\"sqrt(x)\"", "+integrand.exact=0.6666666666666666",
            "integrator=adaptive", "integrator.abs_tol=1e-11", "integrator.rel_tol=1e-11").final
    assert f["abs_error"] <= f["error_estimate"] <= 1e-10
    assert f["evaluations"] <= 2000 and f["intervals"] > 1


def test_stratified_in_two_dimensions(tmp_path):
    f = run(tmp_path, "integrand=genz", "integrator=stratified", "integrator.n=20000").final
    assert f["strata"] == 100 ** 2 and f["evaluations"] == 20000
    assert abs(f["estimate"] - f["exact"]) < 4 * f["standard_error"] and f["variance_reduction"] > 20


@pytest.mark.slow
def test_bit_identical_whatever_the_thread_count(tmp_path):
    import json

    values = []
    for threads in ("1", "2"):
        out = run_cli(["task=integrate", "integrator.n=3000000", "seed=3", "tracking=none",
                       f"hydra.run.dir=t{threads}"], cwd=tmp_path, env_extra={"NUMBA_NUM_THREADS": threads})
        assert out.returncode == 0, out.stderr
        values.append(json.loads((tmp_path / f"t{threads}" / "result.json").read_text())["final"])
    assert values[0]["estimate"] == values[1]["estimate"]
    assert values[0]["standard_error"] == values[1]["standard_error"]


@pytest.mark.parametrize("mu", [0.5, 1.0, 2.0])
def test_kl_between_unit_normals_is_half_mu_squared(tmp_path, mu):
    f = run(tmp_path, "integrand=kl", f"integrand.q_mu={mu}", "integrator.n=400000").final
    assert f["exact"] == pytest.approx(mu * mu / 2, rel=1e-15)
    for k in ("k1", "k3"):                                   # unbiased estimators
        assert abs(f[k] - mu * mu / 2) < 4 * f[f"{k}_standard_error"]
    # k2 = E[(log r)^2] / 2 with log r = mu x - mu^2 / 2, x ~ N(0, 1): (mu^2 + mu^4 / 4) / 2
    assert abs(f["k2"] - (mu ** 2 + mu ** 4 / 4) / 2) < 4 * f["k2_standard_error"]


def test_kl_with_different_scales_matches_its_closed_form(tmp_path):
    f = run(tmp_path, "integrand=kl", "integrand.p_sigma=0.5", "integrand.q_sigma=2", "integrand.q_mu=-1",
            "integrator.n=400000").final
    exact = math.log(2 / 0.5) + (0.25 + 1) / 8 - 0.5
    assert f["exact"] == pytest.approx(exact, rel=1e-15)
    # q_sigma = 2 >= sqrt(2)*0.5: k3's variance is infinite, the estimate reported is k1's
    assert f["headline_estimator"] == "k1" and abs(f["estimate"] - exact) < 4 * f["standard_error"]


def test_elbo_presets(tmp_path):
    f = preset(tmp_path, "integrate_elbo_posterior").final
    x = np.array([1.2, 0.8, 1.5])
    ref = stats.multivariate_normal(np.zeros(3), np.eye(3) + np.ones((3, 3))).logpdf(x)
    assert f["log_evidence"] == pytest.approx(ref, rel=1e-12)
    # q = posterior: every sample of log p(x, z) - log q(z) is log p(x); only rounding remains
    assert f["estimate"] == pytest.approx(ref, rel=1e-10) and f["gap"] == pytest.approx(0, abs=1e-12)
    f = preset(tmp_path, "integrate_elbo_gap").final
    assert f["gap"] == pytest.approx(0.28125, rel=1e-12)                 # KL(q || posterior), closed form
    assert f["estimate"] < f["log_evidence"]
    assert abs(f["estimate"] - f["elbo_exact"]) < 4 * f["standard_error"]
    assert f["posterior"] == pytest.approx({"mu": 0.875, "sigma": 0.5})


def test_kl_seed_preset_and_its_wrong_integrator(tmp_path):
    f = preset(tmp_path, "integrate_kl").final
    assert abs(f["k3"] - 0.5) < 4 * f["k3_standard_error"] and f["k2"] == pytest.approx(0.625, abs=0.01)
    with pytest.raises(ConfigError, match="use integrator=mc"):
        run(tmp_path, "integrand=kl", "integrator=sobol")


@pytest.mark.slow
def test_the_issues_method_sweep_from_the_command_line(tmp_path):
    import json

    out = run_cli(["-m", "task=integrate", "integrand=gaussian_pdf", "integrator=mc,sobol,simpson", "tracking=none",
                   "integrator.n=65536", "hydra.sweep.dir=sweep"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    docs = {d["integrator"]: d for d in (json.loads(p.read_text()) for p in (tmp_path / "sweep").glob("*/result.json"))}
    assert sorted(docs) == ["mc", "simpson", "sobol"] and all(d["status"] == "FINISHED" for d in docs.values())
    assert abs(docs["mc"]["final"]["estimate"] - 1) < 4 * docs["mc"]["final"]["standard_error"]
    assert docs["simpson"]["final"]["estimate"] == pytest.approx(1, abs=1e-12)
    assert abs(docs["sobol"]["final"]["estimate"] - 1) < 1e-3
    assert "summary" in out.stdout and "sobol" in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_ctrl_c_during_a_long_integration_ends_killed_with_its_partial_estimate(tmp_path, sig, code):
    """A run of 1e11 samples (minutes), stopped once its bar moves: KILLED with the estimate of the
    samples done (within its error of 8/3), the MLflow run KILLED, exit 128 + the signal."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from mlflow.tracking import MlflowClient

    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    n = 10 ** 11
    with open(tmp_path / "stderr.txt", "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "runner", "task=integrate", "integrand=x_squared",
                                 "integrator=mc", f"integrator.n={n}"], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=err, text=True)
        deadline = time.time() + 300
        while "power by mc" not in (tmp_path / "stderr.txt").read_text() and time.time() < deadline:
            time.sleep(0.2)               # the bar is up: the kernel runs
        time.sleep(1.0)
        proc.send_signal(getattr(signal, sig))
        proc.communicate(timeout=120)
    assert proc.returncode == code, (tmp_path / "stderr.txt").read_text()[-2000:]
    [result_json] = list(tmp_path.glob("outputs/runs/*/*/result.json"))
    doc = json.loads(result_json.read_text())
    assert doc["status"] == "KILLED" and f"of {n:,} samples" in doc["message"]
    f = doc["final"]
    assert 0 < f["n"] < n and doc["n_requested"] == n
    assert abs(f["estimate"] - 8 / 3) < 5 * f["standard_error"] and f["standard_error"] < 1e-3
    run = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}").get_run(doc["mlflow_run_id"])
    assert run.info.status == "KILLED"
