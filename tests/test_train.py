"""task=train: backprop against central differences for every activation and loss, the
tutorial's backpropagation examples, learning on standard data sets, bad input."""
import itertools
import math

import numpy as np
import pytest

from runner import app
from runner.errors import ConfigError
from tests.conftest import compose


def run(tmp_path, *overrides):
    cfg = compose(["task=train", "tracking=none", "quiet=true", *overrides])
    return app.execute(cfg, tmp_path / f"r{len(list(tmp_path.iterdir()))}")


def preset(tmp_path, name):
    cfg = compose([f"+experiment=seed/{name}", "tracking=none", "quiet=true"])
    return app.execute(cfg, tmp_path / name)


sig = lambda z: 1 / (1 + math.exp(-z))


def test_backprop_111_forward_backward_and_update(tmp_path):
    r = preset(tmp_path, "backprop_111")
    f = r.final
    (z1,), (z2,) = f["forward"]["z"]
    (h,), (y,) = f["forward"]["a"]
    assert (round(z1, 3), round(h, 3), round(z2, 3), round(y, 3)) == (0.3, 0.574, 0.545, 0.633)
    assert round(r.trajectory["loss"][0], 3) == 0.028
    dw1, db1, dw2, db2 = r.trajectory["grad"][0]
    dy = 2 * (y - 0.8)
    dz2 = dy * y * (1 - y)
    dh = dz2 * 0.6
    dz1 = dh * h * (1 - h)
    assert round(dy, 3) == -0.334 and round(dz2, 3) == -0.078 and round(dh, 3) == -0.047 and round(dz1, 3) == -0.011
    np.testing.assert_allclose([dw2, db2, dw1, db1], [dz2 * h, dz2, dz1 * 0.5, dz1], rtol=1e-12)
    assert (round(dw2, 3), round(db2, 3), round(dw1, 3), round(db1, 3)) == (-0.045, -0.078, -0.006, -0.011)
    w1, b1, w2, b2 = f["params"]
    assert (round(w2, 4), round(b2, 4), round(w1, 4), round(b1, 4)) == (0.6045, 0.2078, 0.4006, 0.1011)
    assert f["grad_check"]["max_rel_error"] < 1e-6


def test_practice_problem_2(tmp_path):
    """The tutorial's -0.178 multiplies rounded factors (-0.756 x 0.235); exactly it is -0.1774."""
    r = preset(tmp_path, "backprop_practice2")
    (a,), = r.final["forward"]["a"]
    assert round(r.final["forward"]["z"][0][0], 3) == 0.5 and round(a, 3) == 0.622
    assert round(r.trajectory["loss"][0], 3) == 0.143
    exact = 2 * (sig(0.5) - 1) * sig(0.5) * (1 - sig(0.5))
    assert r.trajectory["grad"][0][0] == pytest.approx(exact, rel=1e-12) and round(exact, 4) == -0.1774


def test_binary_cross_entropy_example(tmp_path):
    r = preset(tmp_path, "backprop_bce")
    assert round(r.trajectory["grad"][0][0], 3) == -0.378 and round(r.final["params"][0], 3) == 0.538


ACTS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu"]
LOSS_OUT = [("mse", "identity"), ("mse", "tanh"), ("bce", "sigmoid"), ("cce", "softmax"),
            ("hinge", "identity"), ("logistic", "identity")]


@pytest.mark.parametrize("act,loss_out", list(itertools.product(ACTS, LOSS_OUT)))
def test_backprop_matches_central_differences(tmp_path, act, loss_out):
    """Away from kinks: relu/leaky_relu pre-activations and hinge margins of exactly 0 have
    measure zero for these random weights and data."""
    loss, out = loss_out
    data = "spirals" if loss == "cce" else ("linear" if loss == "mse" else "moons")
    extra = ["data.d=3"] if data == "linear" else []
    r = run(tmp_path, f"data={data}", *extra, "data.n=40", f"model.activation={act}", f"model.output={out}",
            f"model.loss={loss}", "model.hidden=[5,4]", "model.l2=0.01", "model.init=normal", "model.init_sigma=0.7",
            "train.steps=1", "train.grad_check=true")
    assert r.final["grad_check"]["max_rel_error"] < 1e-6, r.final["grad_check"]


def test_learns_moons_and_xor_and_digits(tmp_path):
    moons = run(tmp_path, "data=moons", "optim=adam", "optim.lr=0.01", "train.steps=3000").final
    assert moons["val_accuracy"] > 0.9
    xor = run(tmp_path, "data=xor", "model.hidden=[8]", "optim=adam", "optim.lr=0.05", "train.steps=2000").final
    assert xor["train_accuracy"] == 1.0
    digits = run(tmp_path, "data=digits", "model.hidden=[32]", "model.output=softmax", "model.loss=cce",
                 "optim=adam", "optim.lr=0.005", "train.steps=1500").final
    assert digits["val_accuracy"] > 0.9 and digits["layers"] == [64, 32, 10]


def test_same_seed_same_network(tmp_path):
    a = run(tmp_path, "train.steps=200", "seed=4").final["params"]
    b = run(tmp_path, "train.steps=200", "seed=4").final["params"]
    c = run(tmp_path, "train.steps=200", "seed=5").final["params"]
    assert a == b and a != c


@pytest.mark.parametrize("overrides,key", [
    (["model.loss=bce", "model.output=identity"], "model.loss"),
    (["model.loss=cce", "model.output=softmax", "data=linear"], "model.loss"),
    (["data=spirals", "model.loss=bce"], "model.loss"),
    (["model.weights=[1,2,3]"], "model.weights"),
    (["model.hidden=[0]"], "model.hidden"),
    (["data=linear", "model.loss=bce"], "data"),
    (["model.output=softmax", "model.loss=mse"], "model.output"),
    (["train.steps=0"], "train.steps"),
    (["model.activation=swish"], "model.activation"),
    (["model.precision=float16"], "model.precision"),
])
def test_bad_input_is_one_error_before_work(tmp_path, overrides, key):
    with pytest.raises(ConfigError) as e:
        run(tmp_path, *overrides)
    assert e.value.key == key


def test_divergence_is_reported(tmp_path):
    r = run(tmp_path, "data=linear", "model.loss=mse", "model.output=identity", "model.activation=relu",
            "optim=gd", "optim.lr=50", "train.steps=500")
    assert r.status == "DIVERGED" and r.trajectory["loss"].size <= 501


def test_rnn_backprop_through_time_matches_central_differences(tmp_path):
    r = run(tmp_path, "model=rnn", "data=sequence", "data.T=6", "data.n=30", "data.noise=0.1",
            "train.steps=1", "train.grad_check=true")
    assert r.final["grad_check"]["max_rel_error"] < 1e-6 and r.final["params_count"] == 8 * 8 + 3 * 8 + 1


def test_rnn_gradients_vanish_with_sequence_length(tmp_path):
    ratios = [run(tmp_path, "model=rnn", "data=sequence", f"data.T={T}", "train.steps=1").final["dL_dh_ratio_first_to_last"]
              for T in (5, 10, 20)]
    assert ratios[0] > ratios[1] > ratios[2] and ratios[2] < 1e-4


def test_vanishing_gradient_product(tmp_path):
    f = preset(tmp_path, "backprop_vanishing_product").final
    norms = f["dL_dh_norm_start"]
    assert norms[0] / norms[-1] == pytest.approx(0.5 ** 10, rel=1e-4) and round(0.5 ** 10, 3) == 0.001


def test_convolution_gradient_in_the_tutorials_convention():
    """y_n = sum_m w_m x_{n+m} (cross-correlation, zero padding on the right, PyTorch's Conv1d):
    x = [1, 2, 3, 4], w = [1, 0] gives y = x, and dL/dy = 1 gives dL/dw = [10, 9] as printed.
    (With the true convolution the tutorial writes, sum_m f[m] g[n - m], it would be [10, 6].)"""
    from kernels.rnn import conv1d, conv1d_backward

    x, w = np.array([1.0, 2, 3, 4]), np.array([1.0, 0])
    y = np.empty(4)
    conv1d(x, w, y)
    assert y.tolist() == [1, 2, 3, 4]
    gx, gw = np.empty(4), np.empty(2)
    conv1d_backward(x, w, np.ones(4), gx, gw)
    assert gw.tolist() == [10, 9] and gx.tolist() == [1, 1, 1, 1]
    # and against finite differences for random data
    rng = np.random.default_rng(0)
    x, w, gy = rng.normal(size=9), rng.normal(size=3), rng.normal(size=9)
    conv1d_backward(x, w, gy, gx := np.empty(9), gw := np.empty(3))
    loss = lambda x_, w_: float(gy @ (lambda out: (conv1d(x_, w_, out), out)[1])(np.empty(9)))
    h = 1e-6
    num_w = [(loss(x, w + h * e) - loss(x, w - h * e)) / (2 * h) for e in np.eye(3)]
    num_x = [(loss(x + h * e, w) - loss(x - h * e, w)) / (2 * h) for e in np.eye(9)]
    np.testing.assert_allclose(gw, num_w, rtol=1e-7)
    np.testing.assert_allclose(gx, num_x, rtol=1e-7, atol=1e-9)


@pytest.mark.slow
def test_same_numbers_with_one_or_two_threads(tmp_path):
    from tests.conftest import run_cli

    weights = []
    for threads in ("1", "2"):
        out = run_cli(["task=train", "data=moons", "train.steps=300", "seed=2", "tracking=none", f"hydra.run.dir=t{threads}"],
                      cwd=tmp_path, env_extra={"NUMBA_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
                                               "OMP_NUM_THREADS": threads})
        assert out.returncode == 0, out.stderr
        weights.append(np.load(tmp_path / f"t{threads}" / "trajectory.npz")["weights"])
    np.testing.assert_array_equal(weights[0], weights[1])


def test_gradient_norm_per_layer_is_logged(tmp_path, run_app, mlflow_uri):
    result, doc, run_dir = run_app("task=train", "data=moons", "train.steps=100", "train.record_params=5")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_uri)
    for layer in (1, 2, 3):
        hist = sorted(client.get_metric_history(doc["mlflow_run_id"], f"grad_norm.layer{layer}"), key=lambda m: m.step)
        assert [m.step for m in hist] == list(range(0, 101, 5))
    g = result.trajectory["grad"]
    total = np.sqrt(sum(result.metrics[f"grad_norm.layer{l}"].values ** 2 for l in (1, 2, 3)))
    np.testing.assert_allclose(total, np.linalg.norm(g, axis=1), rtol=1e-12)
    assert (run_dir / "plots" / "decision_boundary.png").is_file()


def test_categorical_cross_entropy_gradient_is_softmax_minus_onehot(tmp_path):
    r = preset(tmp_path, "backprop_cce")
    (probs,) = r.final["forward"]["a"]
    assert np.round(probs, 3).tolist() == [0.090, 0.245, 0.665]
    grad_b = r.trajectory["grad"][0][3:]
    np.testing.assert_allclose(grad_b, np.array(probs) - [0, 0, 1], rtol=1e-12)
    assert r.trajectory["loss"][0] == pytest.approx(-math.log(probs[2]), rel=1e-12)
    assert r.final["grad_check"]["max_rel_error"] < 1e-6


@pytest.mark.parametrize("act,loss_out", [("tanh", ("mse", "identity")), ("relu", ("cce", "softmax")),
                                          ("sigmoid", ("bce", "sigmoid")), ("leaky_relu", ("logistic", "identity"))])
def test_convolutional_network_backprop_matches_central_differences(tmp_path, act, loss_out):
    loss, out = loss_out
    data = {"mse": ["data=sequence", "data.noise=0.3"], "cce": ["data=spirals"], "bce": ["data=moons"],
            "logistic": ["data=moons"]}[loss]
    r = run(tmp_path, "model=cnn1d", *data, "data.n=30", f"model.activation={act}", f"model.output={out}",
            f"model.loss={loss}", "model.kernel_size=2", "model.l2=0.01", "train.steps=1", "train.grad_check=true")
    assert r.final["grad_check"]["max_rel_error"] < 1e-6, r.final["grad_check"]


def test_convolutional_network_learns_digits(tmp_path):
    f = run(tmp_path, "model=cnn1d", "data=digits", "train.steps=400").final
    assert f["val_accuracy"] > 0.9 and f["params_count"] == 4 * 3 + 4 + 10 * 4 * 64 + 10


def test_csv_data_and_its_errors_name_the_train_keys(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("a,b,label\n" + "\n".join(f"{i % 7},{(i * 3) % 5},{i % 2}" for i in range(40)) + "\n")
    r = run(tmp_path, "data=csv", f"data.path={f}", "train.steps=10")
    assert r.final["layers"][0] == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("a,label\n1,0\nx,1\n")
    with pytest.raises(ConfigError) as e:
        run(tmp_path, "data=csv", f"data.path={bad}")
    assert e.value.key == "data.path" and "not a number" in e.value.problem
    with pytest.raises(ConfigError) as e:
        run(tmp_path, "data=csv", f"data.path={tmp_path / 'missing.csv'}")
    assert e.value.key == "data.path" and "file not found" in e.value.problem


def test_float32_tanh_is_within_three_ulps_and_keeps_nan_and_saturation():
    from numba import njit

    from kernels.mlp import tanh_f32

    @njit
    def apply(z):
        out = np.empty_like(z)
        for i in range(z.size):
            out[i] = tanh_f32(z[i])
        return out

    z = np.concatenate([np.linspace(-12, 12, 400_001), [0.0, 1e-30, 3.9e-4, 4.1e-4, 20.0, -20.0]]).astype(np.float32)
    got, ref = apply(z).astype(np.float64), np.tanh(z.astype(np.float64))
    assert np.all(np.abs(got - ref) <= 3 * 2.0 ** -23 * np.maximum(np.abs(ref), 2.0 ** -126))
    assert apply(z).dtype == np.float32 and np.isnan(apply(np.float32([np.nan]))[0])
    assert apply(np.float32([np.inf, -np.inf])).tolist() == [1.0, -1.0]


@pytest.mark.parametrize("act,loss_out", [("tanh", ("cce", "softmax")), ("sigmoid", ("bce", "sigmoid")),
                                          ("relu", ("mse", "identity"))])
def test_float32_backprop_agrees_with_float64(act, loss_out):
    from kernels import mlp as K

    loss, out = loss_out
    sizes = [8, 32, 16, 3 if loss != "bce" else 1]
    codes = {"tanh": K.TANH, "sigmoid": K.SIGMOID, "relu": K.RELU, "softmax": K.SOFTMAX, "identity": K.IDENTITY}
    P = np.array([3, 1.0, {"cce": K.CCE, "bce": K.BCE, "mse": K.MSE}[loss], 0.01, 0.01, *sizes,
                  codes[act], codes[act], codes[out]], dtype=float)
    count = sum(sizes[i + 1] * sizes[i] + sizes[i + 1] for i in range(3))
    rng = np.random.default_rng(3)
    theta, X = rng.normal(scale=0.3, size=count), rng.normal(size=(64, 8))
    y = {"cce": rng.integers(0, 3, 64), "bce": rng.integers(0, 2, 64), "mse": rng.normal(size=64 * 3)}[loss].astype(float)
    g64, g32 = np.zeros(count), np.zeros(count)
    l64, l32 = K.mlp_value_grad(theta, g64, P, X, y), K.mlp_value_grad_f32(theta, g32, P, X, y)
    assert l32 == pytest.approx(l64, rel=1e-5)
    assert np.max(np.abs(g32 - g64)) < 1e-5 * np.max(np.abs(g64))
    assert not np.array_equal(g32, g64)       # it really ran in float32


def test_float32_training_learns_digits(tmp_path):
    r = run(tmp_path, "data=digits", "model.hidden=[32]", "model.output=softmax", "model.loss=cce",
            "model.precision=float32", "optim=adam", "optim.lr=0.005", "train.steps=1500")
    assert r.status == "FINISHED" and r.final["val_accuracy"] > 0.9


def _net(sizes, hidden, out, loss, bias, rng):
    from kernels import mlp as K

    L = len(sizes) - 1
    P = np.array([L, 1.0 if bias else 0.0, loss, 0.0, 0.05, *sizes, *([hidden] * (L - 1) + [out])], float)
    count = sum(sizes[i + 1] * sizes[i] + (sizes[i + 1] if bias else 0) for i in range(L))
    n = 7
    X = rng.normal(size=(n, sizes[0]))
    if loss in (K.CCE,):
        y = rng.integers(0, sizes[-1], n).astype(float)
    elif loss in (K.HINGE, K.LOGISTIC):
        y = rng.choice([-1.0, 1.0], n)
    elif loss == K.BCE:
        y = rng.integers(0, 2, n).astype(float)
    else:
        y = rng.uniform(size=n * sizes[-1])
    return P, rng.normal(scale=0.7, size=count), X, y


@pytest.mark.parametrize("sizes", [[1, 1, 1], [2, 3, 2], [3, 5, 4, 3], [16, 16, 16]])
@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "relu", "leaky_relu", "identity"])
@pytest.mark.parametrize("out,loss", [("identity", "mse"), ("sigmoid", "mse"), ("softmax", "mse"), ("sigmoid", "bce"),
                                      ("softmax", "cce"), ("identity", "hinge"), ("identity", "logistic")])
@pytest.mark.parametrize("bias", [True, False])
def test_small_network_row_path_equals_the_batched_path(sizes, hidden, out, loss, bias):
    """Networks up to 16 wide go row by row with the scratch on the stack (kernels.mlp._rows);
    the BLAS path (_batched) must give the same loss and gradient."""
    from kernels import mlp as K

    names = {"sigmoid": K.SIGMOID, "tanh": K.TANH, "relu": K.RELU, "leaky_relu": K.LEAKY_RELU,
             "identity": K.IDENTITY, "softmax": K.SOFTMAX, "mse": K.MSE, "bce": K.BCE, "cce": K.CCE,
             "hinge": K.HINGE, "logistic": K.LOGISTIC}
    if loss in ("bce", "hinge", "logistic") and sizes[-1] != 1:
        sizes = sizes[:-1] + [1]
    if out == "softmax" and sizes[-1] == 1:                # a softmax of one output is constant
        sizes = sizes[:-1] + [2]
    P, theta, X, y = _net(sizes, names[hidden], names[out], names[loss], bias, np.random.default_rng(len(sizes)))
    assert K.is_small(P)
    g_rows, g_blas = np.zeros_like(theta), np.zeros_like(theta)
    l_rows = K._rows(theta, g_rows, P, X, y)
    l_blas = K._batched(theta, g_blas, P, X, y)
    assert np.isfinite(l_rows) and np.abs(g_rows).max() > 0
    assert l_rows == pytest.approx(l_blas, rel=1e-12, abs=1e-14)
    np.testing.assert_allclose(g_rows, g_blas, rtol=1e-11, atol=1e-13)
    g_api = np.zeros_like(theta)
    assert K.mlp_value_grad(theta, g_api, P, X, y) == l_rows and np.array_equal(g_api, g_rows)


def test_only_small_networks_take_the_row_path():
    from kernels import mlp as K

    rng = np.random.default_rng(0)
    assert K.is_small(_net([16, 16, 1], K.TANH, K.IDENTITY, K.MSE, True, rng)[0])
    assert not K.is_small(_net([17, 4, 1], K.TANH, K.IDENTITY, K.MSE, True, rng)[0])
    assert not K.is_small(_net([64, 128, 10], K.TANH, K.SOFTMAX, K.CCE, True, rng)[0])
    deep = [4] * 130                                   # (2 L + 3) W > SCRATCH: the stack would overflow
    assert not K.is_small(_net(deep, K.TANH, K.IDENTITY, K.MSE, True, rng)[0])
    P, theta, X, y = _net([16, 16, 16, 1], K.TANH, K.IDENTITY, K.MSE, True, rng)
    g = np.zeros_like(theta)
    assert K.mlp_value_grad(theta, g, P, X[:0], y[:0]) == 0.0 and not g.any()     # empty batch
