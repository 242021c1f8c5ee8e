"""The optimize plots have fixed margins instead of a layout solved at draw time: every title,
axis label, tick label, offset text and colorbar label still lands inside the figure, for
losses over many decades, negative losses, diverged runs and huge coordinates."""
import io

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from runner.outputs import plots
from tests.conftest import compose, run_task


def overflow(fig) -> float:
    """How far (inches) the drawn artists reach outside the figure; 0 when nothing is clipped."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    box = fig.get_tightbbox(canvas.get_renderer())
    width, height = fig.get_size_inches()
    return max(0.0, -box.x0, -box.y0, box.x1 - width, box.y1 - height)


def optimize_figures(tmp_path, *overrides):
    cfg = compose([*overrides, "tracking=none", "quiet=true"])
    result = run_task(cfg, tmp_path)
    return result, {name: draw() for name, draw in result.plots}


@pytest.mark.parametrize("overrides", [
    ["problem=bowl", "optim=gd", "optimize.steps=200", "optimize.grad_tol=0"],
    ["problem=rosenbrock", "optim=adam", "optim.lr=0.02", "optimize.steps=20000", "optimize.grad_tol=0"],
    ["problem=himmelblau", "optim=momentum"],
    ["problem=goldstein_price", "optim=adam", "optim.lr=0.01"],
    ["problem=quadratic"],                                                 # 1-D: f(x) with the iterates
    ["problem=expr", "problem.f=x**2 - 3*x*y - y**2 + 1", "problem.x0=[1,1]", "optimize.steps=300"],  # f < 0
    ["problem=rosenbrock", "optim=gd", "optim.lr=0.1"],                   # diverges: coordinates ~1e10
    ["problem=quadratic", "optim.lr=1.5"],                                # diverges in 1-D
])
def test_no_label_leaves_the_figure(tmp_path, overrides):
    result, figures = optimize_figures(tmp_path, *overrides)
    assert "loss.png" in figures and len(figures) == 2
    for name, fig in figures.items():
        assert overflow(fig) < 0.01, (name, overrides, result.status)


@pytest.mark.parametrize("loss", [
    np.geomspace(1e3, 1e-12, 20001),                                       # log axis over 15 decades
    np.linspace(1e3, -1e3, 501),                                           # symlog through zero
    np.concatenate([np.geomspace(1.0, 1e15, 40), [np.inf, np.nan]]),       # diverged
    -np.geomspace(1e-12, 1e12, 300),                                       # negative, 24 decades
])
def test_loss_curves_over_any_range_stay_inside(loss):
    fig = plots.loss_curve(np.arange(loss.size), loss, "styblinski_tang (dim 10) · adam")
    assert fig.axes[0].get_yscale() in ("log", "symlog")
    assert overflow(fig) < 0.01


def sweep_rows(tmp_path, key, values, diverged=()):
    """job records as runner.sweep.summary.job_records returns them, each with a trajectory.npz"""
    rows = []
    for i, value in enumerate(values):
        run_dir = tmp_path / str(i)
        run_dir.mkdir()
        bad = i in diverged
        loss = np.geomspace(1.0, 1e15 if bad else 10.0 ** -(i % 40), 200)
        np.savez(run_dir / "trajectory.npz", loss=loss)
        rows.append({"job": i, "dir": str(run_dir), "overrides": [f"{key}={value}", "seed=0"],
                     "result": {"status": "DIVERGED" if bad else "FINISHED", "final": {"loss": float(loss[-1])}}})
    return rows


def tick_labels_overlap(fig) -> bool:
    """Whether two shown x tick labels (parallel, rotated 45 degrees) are closer than one line."""
    ax = fig.axes[0]
    shown = [(x, t) for x, t in zip(ax.get_xticks(), ax.get_xticklabels()) if t.get_text()]
    xs = [ax.transData.transform((x, 1.0))[0] / fig.dpi for x, _ in shown]         # inches
    line = shown[0][1].get_fontsize() / 72 if shown else 0.0
    return any((b - a) * np.sin(np.radians(45)) < line for a, b in zip(xs, xs[1:]))


@pytest.mark.parametrize("key, values, diverged", [
    ("optim.lr", [f"{0.01 + 0.01 * i:.2f}" for i in range(32)], ()),                # the 32-job benchmark sweep
    ("optim", ["gd", "momentum", "adam"], (1,)),
    ("problem.f", [f"x**2 + {i}*x*y - y**2 + sin(x*y) + exp(-x**2)" for i in range(6)], (0, 3)),
    ("seed", [str(i) for i in range(100)], (5, 50)),
])
def test_sweep_summary_plots_keep_every_label_inside(tmp_path, key, values, diverged):
    from runner.sweep import summary as sweep

    rows = sweep_rows(tmp_path, key, values, diverged)
    by_key = sweep.final_loss_plot(rows, key)
    assert overflow(by_key) < 0.01 and not tick_labels_overlap(by_key)
    shown = [t.get_text() for t in by_key.axes[0].get_xticklabels() if t.get_text()]
    assert len(shown) >= min(len(values), 10)                  # every value, or every k-th of many
    assert all(any(v.startswith(t.rstrip("…")) for v in values) for t in shown)
    curves = sweep.loss_curves_plot(rows, key)
    assert overflow(curves) < 0.01
    legend = curves.axes[0].get_legend()
    assert len(legend.get_texts()) == len(set(values))        # one entry per swept value
    paths = sweep.summary_plots(rows, [key], tmp_path / "plots")
    assert [p.name for p in paths] == [f"final_loss_by_{key}.png", "loss_curves.png"]


def job(i, lr, status, loss):
    return {"job": i, "dir": f"/nowhere/{i}", "overrides": [f"optim.lr={lr}", "problem=bowl"],
            "result": {"status": status, "final": {} if loss is None else {"loss": loss}}}


def test_diverged_jobs_are_marked_on_the_edge_and_log_spaced_values_get_a_log_axis():
    """The issue's lr sweep: one job diverged to 4e35, one to a loss result.json holds as null,
    one was killed, one failed before any step; the finished ones set the scale."""
    from runner.sweep.summary import DIVERGED, FINISHED, STOPPED, final_loss_plot, final_loss_points

    rows = [job(0, "1e-4", "FINISHED", 0.5), job(1, "1e-3", "FINISHED", 0.02), job(2, "1e-2", "KILLED", 1e-3),
            job(3, "1e-1", "DIVERGED", 4e35), job(4, "1", "DIVERGED", None), job(5, "10", "FAILED", None)]
    pts = final_loss_points(rows, "optim.lr")
    assert pts.kind == [FINISHED, FINISHED, STOPPED, DIVERGED, DIVERGED]       # job 5: nothing to show
    assert pts.log_x and pts.categories is None and pts.x == [1e-4, 1e-3, 1e-2, 0.1, 1.0]
    assert pts.loss == [0.5, 0.02, 1e-3, None, None] and pts.log_y
    fig = final_loss_plot(rows, "optim.lr")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlim()[0] < 1e-4 and ax.get_xlim()[1] > 1.0                # the diverged lr=1 is in view
    assert ax.get_ylim()[1] < 10                                             # 4e35 sets no scale
    assert "diverged (loss off the scale)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert overflow(fig) < 0.01


@pytest.mark.parametrize("values, log", [
    (["1e-4", "1e-3", "1e-2"], True), (["0.0001", "0.001", "0.01", "0.1"], True),
    (["0.1", "0.2", "0.3"], False),                     # evenly spaced: categories, as before
    (["1e-3", "1e-2"], False),                          # two values say nothing about spacing
    (["0", "0.01", "0.1", "1"], False),                 # 0 has no place on a log axis
    (["gd", "adam", "1e-3"], False),
])
def test_a_swept_key_gets_a_log_axis_when_its_values_are_log_spaced(values, log):
    from runner.sweep.summary import final_loss_points

    pts = final_loss_points([job(i, v, "FINISHED", 1.0 + i) for i, v in enumerate(values)], "optim.lr")
    assert pts.log_x == log and (pts.categories is None) == log


def test_a_loss_of_zero_or_below_puts_the_loss_on_a_linear_axis():
    from runner.sweep.summary import final_loss_points

    pts = final_loss_points([job(0, "0.1", "FINISHED", 0.0), job(1, "0.2", "FINISHED", -1.5)], "optim.lr")
    assert not pts.log_y


@pytest.mark.parametrize("mathtext, plain", [
    (r"$\mathdefault{10^{-3}}$", "10⁻³"),
    (r"$\mathdefault{2\times10^{-3}}$", "2×10⁻³"),
    (r"$\mathdefault{-10^{12}}$", "−10¹²"),
    (r"$\mathdefault{0}$", "0"),
    (r"$\mathdefault{10^{1.50}}$", r"$\mathdefault{10^{1.50}}$"),        # fractional: left to mathtext
    (r"$\frac{1}{2}$", r"$\frac{1}{2}$"),
    ("0.5", "0.5"),
])
def test_log_tick_labels_become_plain_text(mathtext, plain):
    assert plots.plain_power(mathtext) == plain


@pytest.mark.parametrize("loss", [np.geomspace(1e3, 1e-12, 2001), np.linspace(1e3, -1e3, 501)])
def test_saved_log_tick_labels_need_no_mathtext(loss):
    fig = plots.loss_curve(np.arange(loss.size), loss, "t")
    plots.save(fig, io.BytesIO(), format="png")       # every saved figure goes through plots.save
    ax = fig.axes[0]
    labels = [t.get_text() for axis in (ax.xaxis, ax.yaxis)
              for t in axis.get_majorticklabels() + axis.get_minorticklabels() if t.get_text()]
    assert labels and not any("$" in t for t in labels), labels
    assert any("⁻" in t or "¹" in t or "²" in t for t in labels)
    assert ax.get_xlim()[0] == 0       # no stretch of negative steps on the symlog x axis


def test_the_contour_grid_is_the_objective_at_every_point(tmp_path):
    from runner.problems.catalog import PROBLEM_SCHEMAS, build_problem
    from runner.config.validate import validate_group
    from tests.conftest import compose as compose_cfg

    cfg = compose_cfg(["problem=rosenbrock", "tracking=none"])
    problem = build_problem(validate_group("problem", cfg.problem, PROBLEM_SCHEMAS, "problem"), 0)
    xs, ys = np.linspace(-2, 2, 7), np.linspace(-1, 3, 5)
    Z = plots._grid_values(problem, xs, ys, np.array([0.3, 0.4]))
    g = np.zeros(2)
    expect = [[problem.value_grad(np.array([x, y]), g, problem.P, problem.X, problem.y) for x in xs] for y in ys]
    np.testing.assert_array_equal(Z, expect)
    np.testing.assert_allclose(Z, [[(1 - x) ** 2 + 100 * (y - x * x) ** 2 for x in xs] for y in ys], rtol=1e-14)


def y_labels_overlap(fig) -> bool:
    """Whether two shown major y tick labels of the first axes overlap on the drawn figure."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = sorted((t.get_window_extent(renderer) for t in fig.axes[0].get_yticklabels() if t.get_text()),
                   key=lambda b: b.y0)
    return any(b.y0 < a.y1 for a, b in zip(boxes, boxes[1:]))


@pytest.mark.parametrize("loss", [
    -np.geomspace(1e-12, 1e12, 300),            # 24 decades below zero: every decade was labelled
    np.linspace(1e3, -1e3, 501),                # through zero: ±10⁰ sat on top of 0
    np.concatenate([np.geomspace(1e-9, 1e9, 200), -np.geomspace(1e9, 1e-9, 200)]),
])
def test_symlog_loss_axes_keep_their_labels_apart(loss):
    fig = plots.loss_curve(np.arange(loss.size), loss, "t")
    plots.save(fig, io.BytesIO(), format="png")       # the labels as saved
    assert fig.axes[0].get_yscale() == "symlog"
    assert not y_labels_overlap(fig)
    shown = [t for t in fig.axes[0].get_yticklabels() if t.get_text()]
    assert 3 <= len(shown) <= plots.MAX_SYMLOG_TICKS + 1


def test_a_run_of_a_few_steps_gets_a_linear_step_axis():
    fig = plots.loss_curve(np.arange(3), np.array([1.0, 5.0, np.inf]), "diverged at step 2")
    assert fig.axes[0].get_xscale() == "linear" and fig.axes[0].get_xlim()[0] == 0
    fig = plots.loss_curve(np.arange(500), np.geomspace(1, 1e-3, 500), "t")
    assert fig.axes[0].get_xscale() == "symlog"
