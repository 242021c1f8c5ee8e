"""Figures for task=analyze and task=constrained (matplotlib's object API, Agg, no pyplot).

Every function returns a ``matplotlib.figure.Figure``; the tasks wrap them in zero-argument
lambdas so the outputs layer draws them only when plots are enabled.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np

from runner.analysis.core import DEGENERATE, Subject
from runner.analysis.taylor import taylor_terms
from runner.outputs.plots import figure

KIND_STYLE = {"minimum": ("o", "tab:green"), "maximum": ("^", "tab:red"),
              "saddle": ("X", "tab:purple"), "inflection": ("D", "tab:orange"),
              DEGENERATE: ("s", "tab:gray")}
MAX_TAYLOR_CURVES = 6


def _values(subject: Subject, pts: np.ndarray) -> np.ndarray:
    out = np.empty(len(pts))
    for i, p in enumerate(pts):
        v = subject.value(np.atleast_1d(p))
        out[i] = v if np.isfinite(v) else np.nan
    return out


def _clip_ylim(ax, y: np.ndarray) -> None:
    finite = y[np.isfinite(y)]
    if finite.size:
        lo, hi = np.percentile(finite, [1, 99])
        pad = 0.15 * max(hi - lo, 1e-9)
        ax.set_ylim(lo - pad, hi + pad)


def function_1d(subject: Subject, a: float, lo: float, hi: float, order: int,
                critical: Sequence[Dict] = (), gradient=None, hessian=None):
    """f on [lo, hi] with its tangent at a, the Taylor polynomials of orders 2..order, and
    the critical points marked by kind."""
    fig = figure(6.5, 4.5)
    ax = fig.add_subplot()
    xs = np.linspace(lo, hi, 400)
    fx = _values(subject, xs)
    ax.plot(xs, fx, color="black", lw=1.8, label=f"f = {subject.label}")
    pa = np.array([a])
    for k in range(1, min(order, MAX_TAYLOR_CURVES) + 1):
        T = np.array([np.sum(taylor_terms(subject, pa, np.array([x]), k, gradient, hessian)) for x in xs])
        ax.plot(xs, T, lw=1.0, ls="-" if k == 1 else "--", label="tangent" if k == 1 else f"Taylor order {k}")
    ax.plot([a], [subject.value(pa)], "o", color="black", ms=6)
    for p in critical:
        marker, color = KIND_STYLE[p["kind"]]
        ax.plot(p["x"][0], p["value"], marker, color=color, ms=9, label=p["kind"])
    _clip_ylim(ax, fx)
    ax.set_xlabel(subject.variables[0])
    ax.set_ylabel("f")
    ax.set_title(f"{subject.label} at {subject.variables[0]} = {a:g}")
    ax.grid(True, alpha=0.3)
    _dedupe_legend(ax)
    return fig


def taylor_error(growth: Dict, title: str):
    """log-log |f - T_k| against the distance from the expansion point, one line per order,
    with the slope each order should show (k + 1) noted in the legend."""
    fig = figure()
    ax = fig.add_subplot()
    r, errors = growth["distance"], growth["errors"]
    for k in range(errors.shape[0]):
        e = np.where(errors[k] > 0, errors[k], np.nan)
        slope = growth["slopes"][k]
        tag = f"slope {slope:.2f}" if slope is not None else "at rounding level"
        ax.loglog(r, e, ".-", lw=1.0, ms=3, label=f"order {k + 1} ({tag})")
    ax.set_xlabel("distance from the expansion point")
    ax.set_ylabel("|f - Taylor polynomial|")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def contour_2d(subject: Subject, lo: np.ndarray, hi: np.ndarray, point: Optional[np.ndarray] = None,
               gradient: Optional[np.ndarray] = None, critical: Sequence[Dict] = (),
               curves: Sequence = (), solutions: Sequence[Dict] = (), title: str = ""):
    """Contours of f over the box, the point with its gradient arrow, critical points by
    kind, zero curves of constraint functions and constrained solutions."""
    fig = figure(6.0, 5.0)
    ax = fig.add_subplot()
    xs, ys = np.linspace(lo[0], hi[0], 150), np.linspace(lo[1], hi[1], 150)
    X, Y = np.meshgrid(xs, ys)
    Z = _values(subject, np.stack([X.ravel(), Y.ravel()], axis=1)).reshape(X.shape)
    if np.isfinite(Z).any():
        cs = ax.contour(X, Y, Z, levels=25, cmap="viridis", linewidths=0.8)
        fig.colorbar(cs, ax=ax, label="f")
    for g_fn, label in curves:
        G = _values(g_fn, np.stack([X.ravel(), Y.ravel()], axis=1)).reshape(X.shape)
        if np.nanmin(G) <= 0 <= np.nanmax(G):
            ax.contour(X, Y, G, levels=[0.0], colors="tab:orange", linewidths=2.0)
            ax.plot([], [], color="tab:orange", lw=2.0, label=label)
    if point is not None:
        ax.plot(point[0], point[1], "o", color="black", ms=6, label="point")
        if gradient is not None and np.all(np.isfinite(gradient)) and np.linalg.norm(gradient) > 0:
            scale = 0.15 * float(np.min(hi - lo)) / float(np.linalg.norm(gradient))
            ax.annotate("", xy=point + scale * gradient, xytext=point,
                        arrowprops=dict(arrowstyle="->", color="black"))
    for p in critical:
        marker, color = KIND_STYLE[p["kind"]]
        ax.plot(p["x"][0], p["x"][1], marker, color=color, ms=9, label=p["kind"])
    for s in solutions:
        ax.plot(s["x"][0], s["x"][1], "*", color="tab:red", ms=14,
                label=f"{s['kind']} f={s['value']:.6g}")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xlabel(subject.variables[0])
    ax.set_ylabel(subject.variables[1])
    ax.set_title(title or subject.label)
    _dedupe_legend(ax)
    return fig


def activation_curves(table: Dict[str, np.ndarray], label: str):
    """Value and derivative of an activation over its table range."""
    fig = figure()
    ax = fig.add_subplot()
    ax.plot(table["x"], table["value"], lw=1.6, label=label)
    ax.plot(table["x"], table["derivative"], lw=1.2, ls="--", label="derivative")
    ax.axhline(0.0, color="black", lw=0.5)
    ax.set_xlabel("x")
    ax.set_title(label)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def jacobian_heatmap(J: np.ndarray, title: str, rows: List[str], cols: List[str]):
    fig = figure(4.5, 4.0)
    ax = fig.add_subplot()
    im = ax.imshow(J, cmap="RdBu_r", vmin=-np.max(np.abs(J)), vmax=np.max(np.abs(J)))
    for i in range(J.shape[0]):
        for j in range(J.shape[1]):
            ax.text(j, i, f"{J[i, j]:.3g}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_title(title)
    fig.colorbar(im, ax=ax)
    return fig


def _dedupe_legend(ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    seen = {}
    for h, lab in zip(handles, labels):
        seen.setdefault(lab, h)
    if seen:
        ax.legend(list(seen.values()), list(seen), fontsize=8, loc="best")
