"""The optimize plots have fixed margins instead of a layout solved at draw time: every title,
axis label, tick label, offset text and colorbar label still lands inside the figure, for
losses over many decades, negative losses, diverged runs and huge coordinates."""
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from runner import app, plots
from tests.conftest import compose, task_context


def overflow(fig) -> float:
    """How far (inches) the drawn artists reach outside the figure; 0 when nothing is clipped."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    box = fig.get_tightbbox(canvas.get_renderer())
    width, height = fig.get_size_inches()
    return max(0.0, -box.x0, -box.y0, box.x1 - width, box.y1 - height)


def optimize_figures(tmp_path, *overrides):
    cfg = compose([*overrides, "tracking=none", "quiet=true"])
    task, validated = app.validate(cfg)
    result = task.run(cfg, task_context(tmp_path, validated=validated))
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
