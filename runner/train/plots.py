"""Plots of a trained network."""
from __future__ import annotations

import numpy as np

from runner.outputs import plots


def decision_boundary(network, theta, data, title):
    """The classes a 2-D classifier assigns over the data's box, with the data on top."""
    fig = plots.figure()
    ax = fig.add_subplot()
    X = np.vstack([data.X, data.X_val]) if data.X_val.size else data.X
    lo, hi = X.min(axis=0) - 0.3, X.max(axis=0) + 0.3
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 150), np.linspace(lo[1], hi[1], 150))
    out = network.predict(theta, np.c_[gx.ravel(), gy.ravel()])
    cls = out.argmax(axis=1) if network.n_outputs > 1 else (out[:, 0] > network.binary_threshold)
    ax.contourf(gx, gy, cls.reshape(gx.shape).astype(float), alpha=0.3, cmap="coolwarm")
    ax.scatter(data.X[:, 0], data.X[:, 1], c=data.y, s=12, cmap="coolwarm", edgecolors="k", linewidths=0.3)
    ax.set(title=f"decision boundary · {title}", xlabel="x1", ylabel="x2")
    return fig
