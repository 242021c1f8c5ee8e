"""Figures drawn from a Result (matplotlib's object API, no pyplot global state).

Each function returns a list of ``(file name, draw)`` pairs; ``draw()`` builds the Figure
only when the outputs layer asks for it, so a run with plots disabled pays nothing.
"""
from __future__ import annotations

import functools
import re
from typing import List, Sequence

import numpy as np

from runner.result import Plot, Result


# Fixed margins in inches (left, right, bottom, top) for one axes with a title, axis labels
# and tick labels up to ~9 characters wide ("$-10^{-12}$", "-1.5e+03"; the last x label is
# centred on the right edge); a colorbar's "%.3g" labels and its label need the wider right
# margin; a title longer than the axes is shortened (:func:`fit_title`).  Constrained layout
# instead measured every tick label twice before drawing: over half of a short optimize
# run's plotting time.  tests/test_plots.py checks that no label leaves these figures.
MARGINS = (0.95, 0.4, 0.55, 0.35)
COLORBAR_RIGHT = 0.95
TITLE_CHARS_PER_INCH = 9    # 12-pt DejaVu Sans: ~0.1 in a character in these titles


def figure(width=6.0, height=4.0):
    """A pyplot-free Figure whose layout is solved while it is drawn (one pass at savefig)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def fixed_figure(width=6.0, height=4.0, colorbar=False):
    """A pyplot-free Figure with fixed margins (:data:`MARGINS`) for one axes: no layout pass."""
    from matplotlib.figure import Figure

    left, right, bottom, top = MARGINS
    right = COLORBAR_RIGHT if colorbar else right
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height)
    return fig


def _short(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


# Sweep summaries: category tick labels (a swept key's values) are shortened to LABEL_CHARS
# and rotated 45 degrees, every k-th shown when more would overlap; legend entries are
# shortened to LEGEND_CHARS and put right of the axes in as many columns as their count needs.
LABEL_CHARS = 14
LABEL_SPACING = 0.22          # in between two rotated tick labels
LEGEND_CHARS = 28
LEGEND_ROWS = 20              # 8-pt entries that fit beside a 4.5-in figure's axes
CHAR_INCH = 0.085             # 10-pt tick label character
LEGEND_CHAR_INCH = 0.065      # 8-pt legend character


def category_figure(categories: List[str], width=6.0, height=4.0):
    """A fixed-margin figure for one axes whose x axis shows ``categories`` (call
    :func:`category_ticks`): the bottom margin fits the longest rotated label."""
    chars = max((len(_short(c, LABEL_CHARS)) for c in categories), default=1)
    drop = 0.71 * (chars * CHAR_INCH + 0.15)          # a 45-degree label's height
    fig = fixed_figure(width, height + drop)
    fig.subplots_adjust(bottom=(MARGINS[2] + drop) / (height + drop))
    return fig


def category_ticks(ax, categories: List[str]) -> None:
    """One tick per category, labelled (shortened, rotated 45 degrees, anchored at the tick),
    every k-th label when all would overlap."""
    width = ax.get_position().width * ax.figure.get_figwidth()
    every = max(1, int(np.ceil(len(categories) * LABEL_SPACING / width)))
    ax.set_xticks(range(len(categories)),
                  [_short(c, LABEL_CHARS) if i % every == 0 else "" for i, c in enumerate(categories)],
                  rotation=45, ha="right", rotation_mode="anchor")
    ax.set_xlim(-0.5, len(categories) - 0.5)


def _legend_columns(labels: List[str]) -> int:
    return max(1, int(np.ceil(len(labels) / LEGEND_ROWS)))


def legend_figure(labels: List[str], width=7.0, height=4.5):
    """A fixed-margin figure whose right margin holds a legend of ``labels`` (call
    :func:`legend_right`); the figure widens by that margin."""
    columns = _legend_columns(labels)
    chars = max((len(_short(t, LEGEND_CHARS)) for t in labels), default=1)
    legend = columns * (0.55 + chars * LEGEND_CHAR_INCH) + 0.25
    fig = fixed_figure(width + legend, height)
    fig.subplots_adjust(right=1 - (MARGINS[1] + legend) / (width + legend))
    return fig


def legend_right(ax, handles, labels: List[str]) -> None:
    columns = _legend_columns(labels)
    ax.legend(handles, [_short(t, LEGEND_CHARS) for t in labels], loc="upper left", bbox_to_anchor=(1.02, 1.0),
              borderaxespad=0.0, fontsize=8, ncol=columns)


def fit_title(ax, text: str) -> None:
    """The axes title, at a fixed height (no search for room above the ticks), shortened with
    an ellipsis to the axes' width and 0.3 in either side (it is centred over the axes): a
    formula problem's label can be thousands of characters."""
    fits = int((ax.get_position().width * ax.figure.get_figwidth() + 0.6) * TITLE_CHARS_PER_INCH)
    ax.set_title(_short(text, fits), y=1.0)


_SUPERSCRIPT = str.maketrans("0123456789-−", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁻")
_MATHDEFAULT = re.compile(r"^\$\\mathdefault\{(.*)\}\$$")
_POWER = re.compile(r"\^\{([0-9]+|[-−][0-9]+)\}")


def plain_power(label: str) -> str:
    """A log axis tick label from matplotlib's mathtext (``$\\mathdefault{2\\times10^{-3}}$``)
    as plain text with Unicode superscripts (``2×10⁻³``): it looks the same, and laying out
    mathtext (a pyparsing parse per label) was a quarter of a short run's plotting time.
    Anything else (a fractional exponent, other TeX) comes back unchanged."""
    m = _MATHDEFAULT.match(label)
    if m is None:
        return label
    text = _POWER.sub(lambda p: p.group(1).translate(_SUPERSCRIPT), m.group(1)).replace("\\times", "×")
    return label if any(c in text for c in "\\{}^$") else text.replace("-", "−")


@functools.lru_cache(maxsize=None)
def _plain_log_formatter():
    from matplotlib.ticker import LogFormatterSciNotation

    class PlainLogFormatter(LogFormatterSciNotation):
        """matplotlib's log-axis formatter (the one log and symlog scales use), its labels as
        plain text (:func:`plain_power`)."""

        def __call__(self, x, pos=None):
            return plain_power(super().__call__(x, pos))

    return LogFormatterSciNotation, PlainLogFormatter


def save(fig, target, dpi: int = 110, **kwargs) -> None:
    """Write ``fig`` (every figure calclab saves goes through here): the log and symlog tick
    labels of all its axes as plain text first (:func:`plain_log_labels`)."""
    for ax in fig.axes:
        plain_log_labels(ax)
    fig.savefig(target, dpi=dpi, **kwargs)


def plain_log_labels(ax) -> None:
    """Both axes' log and symlog tick labels (major and minor) drawn as plain text."""
    mathtext, plain = _plain_log_formatter()
    for axis in (ax.xaxis, ax.yaxis):
        for get, put in ((axis.get_major_formatter, axis.set_major_formatter),
                         (axis.get_minor_formatter, axis.set_minor_formatter)):
            f = get()
            if type(f) is mathtext:
                put(plain(base=f._base, labelOnlyBase=f.labelOnlyBase, minor_thresholds=f.minor_thresholds,
                          linthresh=f._linthresh))


LINEAR_STEPS = 20      # runs this short get a linear step axis (symlog's ticks there: 0 and 1.05×10⁰)
MAX_SYMLOG_TICKS = 9   # a symlog axis labels every decade: over 24 decades, 26 labels overlap


@functools.lru_cache(maxsize=None)
def _thinned_locator():
    from matplotlib.ticker import Locator

    class Thinned(Locator):
        """Every k-th of a symlog locator's ticks (0 always kept), at most MAX_SYMLOG_TICKS,
        none strictly inside the linear band but 0."""

        def __init__(self, inner):
            self.inner = inner

        def set_axis(self, axis):
            super().set_axis(axis)
            self.inner.set_axis(axis)

        def __call__(self):
            return self.tick_values(*self.axis.get_view_interval())

        def tick_values(self, vmin, vmax):
            ticks = np.asarray(self.inner.tick_values(vmin, vmax))
            band = getattr(self.inner, "_linthresh", 0.0)     # ticks inside the linear band crowd 0
            ticks = ticks[(ticks == 0) | (np.abs(ticks) >= band)]
            if len(ticks) <= MAX_SYMLOG_TICKS:
                return ticks
            every = int(np.ceil(len(ticks) / MAX_SYMLOG_TICKS))
            zero = int(np.argmin(np.abs(ticks)))          # count outwards from 0 (or the smallest)
            return ticks[(np.arange(len(ticks)) - zero) % every == 0]

    return Thinned


def thin_symlog_ticks(axis) -> None:
    """At most MAX_SYMLOG_TICKS major ticks on a symlog axis (its locator ticks every decade)."""
    axis.set_major_locator(_thinned_locator()(axis.get_major_locator()))


def loss_curve(steps: np.ndarray, loss: np.ndarray, title: str, ylabel: str = "loss"):
    fig = fixed_figure()
    ax = fig.add_subplot()
    finite = np.isfinite(loss)
    s, y = steps[finite], loss[finite]
    ax.plot(s, y, lw=1.2)
    if len(y) and np.all(y > 0):
        ax.set_yscale("log")
    elif len(y):
        ax.set_yscale("symlog", linthresh=max(1e-12, float(np.min(np.abs(y[y != 0]))) if np.any(y != 0) else 1.0))
        thin_symlog_ticks(ax.yaxis)
    if len(s) and s[-1] > LINEAR_STEPS:
        ax.set_xscale("symlog", linthresh=10)
    if len(s) and s[-1] > 0:
        ax.set_xlim(left=0)       # the autoscale margin would add a stretch of negative steps
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    fit_title(ax, title)
    ax.grid(True, which="both", alpha=0.3)
    return fig


def _grid_values(problem, xs, ys, theta_last):
    """f on a grid through the 2-D plane of the problem's parameters (one kernel call: 25,600
    calls from Python took ~25 ms a plot)."""
    from kernels.surface import plane_values

    Z = np.empty((len(ys), len(xs)))
    pt = np.array(theta_last, dtype=np.float64)
    plane_values(problem.value_grad, problem.P, problem.X, problem.y, pt, np.ascontiguousarray(xs, dtype=np.float64),
                 np.ascontiguousarray(ys, dtype=np.float64), Z, np.zeros(problem.dim))
    return Z


def _bounds(values: np.ndarray, marks: List[float]) -> tuple:
    pts = np.concatenate([values[np.isfinite(values)], np.asarray(marks, dtype=float)])
    lo, hi = float(np.min(pts)), float(np.max(pts))
    pad = max(0.15 * (hi - lo), 0.5)
    return lo - pad, hi + pad


def has_contour(problem) -> bool:
    """Whether a run's path is drawn on the contour of f: 2-D, and f on a 160 x 160 grid stays
    cheap (at most 1,000 data points)."""
    return problem.dim == 2 and problem.n_data <= 1000


def contour_path(problem, params: np.ndarray, title: str):
    """Contour of f over the box around the path, with the iterates and known minima."""
    return contour_paths(problem, [params], title)


LEGEND_LINE_INCH = 0.19    # one 8-pt legend entry


def contour_paths(problem, paths: List[np.ndarray], title: str, labels: Sequence[str] = ()):
    """Contour of f over the box around the paths (each an (n, 2) array of iterates) and the
    known minima (x), each path with its start (o) and end (*).  One path without ``labels`` (a
    run's plot) is red, its legend inside the axes; with ``labels`` (a sweep's best paths) each
    path has a colour and its label, in a legend below the axes (the figure grows to hold it)."""
    below = LEGEND_LINE_INCH * (len(labels) + 2) + 0.2 if labels else 0.0
    fig = fixed_figure(6.0, 5.0 + below, colorbar=True)
    if labels:
        fig.subplots_adjust(bottom=(MARGINS[2] + below) / (5.0 + below))
    ax = fig.add_subplot()
    minima = [m[0] for m in problem.minima if len(m[0]) == 2]
    every = np.concatenate(paths)
    xlo, xhi = _bounds(every[:, 0], [m[0] for m in minima])
    ylo, yhi = _bounds(every[:, 1], [m[1] for m in minima])
    xs, ys = np.linspace(xlo, xhi, 160), np.linspace(ylo, yhi, 160)
    _contour_levels(fig, ax, xs, ys, _grid_values(problem, xs, ys, paths[0][-1]))
    colours = [f"C{i % 10}" for i in range(len(paths))] if labels else ["tab:red"]
    for i, (params, colour) in enumerate(zip(paths, colours)):
        path = params[np.all(np.isfinite(params), axis=1)]
        ax.plot(path[:, 0], path[:, 1], "-", color=colour, lw=1.0, alpha=0.8)
        ax.plot(path[:, 0], path[:, 1], ".", color=colour, ms=3)
        ax.plot(path[0, 0], path[0, 1], "o", color="black", label="start" if i == 0 else None)
        ax.plot(path[-1, 0], path[-1, 1], "*", color=colour, ms=12, label=labels[i] if labels else "end")
    for i, m in enumerate(minima):
        ax.plot(m[0], m[1], "x", color="black", ms=8, label="known minimum" if i == 0 else None)
    names = problem.param_names
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    fit_title(ax, title)
    if labels:     # below the x label: 0.5 in under the axes
        height = ax.get_position().height * fig.get_figheight()
        ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.5 / height), fontsize=8, borderaxespad=0.0)
    else:
        ax.legend(loc="best", fontsize=8)
    return fig


def _contour_levels(fig, ax, xs, ys, Z) -> None:
    """Contour lines of Z (log-spaced levels when f > 0) with their colour bar."""
    finite = np.isfinite(Z)
    if finite.any():
        zmin = float(Z[finite].min())
        levels = np.quantile(Z[finite], np.linspace(0.0, 0.98, 25))
        levels = np.unique(levels) if zmin < 0 else np.unique(np.geomspace(max(zmin, 1e-12) + 1e-12,
                                                                                max(levels[-1], zmin + 1e-9), 25))
        if len(levels) >= 2:
            cs = ax.contour(xs, ys, np.where(finite, Z, np.nan), levels=levels, cmap="viridis", linewidths=0.8)
            fig.colorbar(cs, ax=ax, label="f", format="%.3g")


def function_path(problem, params: np.ndarray, title: str):
    """1-D problems: f(x) with the iterates on it."""
    fig = fixed_figure()
    ax = fig.add_subplot()
    x = params[:, 0]
    x = x[np.isfinite(x)]
    lo, hi = _bounds(x, [m[0][0] for m in problem.minima])
    grid = np.linspace(lo, hi, 400)
    g = np.zeros(1)
    f = [problem.value_grad(np.array([v]), g, problem.P, problem.X, problem.y) for v in grid]
    fx = [problem.value_grad(np.array([v]), g, problem.P, problem.X, problem.y) for v in x]
    ax.plot(grid, f, lw=1.2)
    ax.plot(x, fx, ".-", color="tab:red", ms=4, lw=0.6)
    ax.set_xlabel(problem.param_names[0])
    ax.set_ylabel("f")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return fig


def optimize_plots(result: Result, problem) -> List[Plot]:
    tr = result.trajectory
    title = f"{problem.label} · {result.info.get('optimizer')}"
    out: List[Plot] = [("loss.png", lambda: loss_curve(tr["step"], tr["loss"], title))]
    params = tr.get("params")
    if params is not None and len(params):
        if has_contour(problem):
            out.append(("contour.png", lambda: contour_path(problem, params, title)))
        elif problem.dim == 1 and problem.n_data <= 1000:  # f on a grid stays cheap
            out.append(("function.png", lambda: function_path(problem, params, title)))
    return out
