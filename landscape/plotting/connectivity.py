"""Connectivity figures [PAUL Fig. 2]: a path's curve, the piecewise path through levels, the barrier matrix.

Every function reads a result written by an analysis (a ``result.json`` path, its
folder, or the loaded dict) and draws it; nothing is computed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from landscape.plotting._common import axes as _axes
from landscape.plotting._common import bn_note, cell_label, load_result, matrix_font, with_unit

__all__ = [
    "load_result",
    "plot_barrier",
    "plot_barrier_matrix",
    "plot_connectivity",
    "plot_instability_scan",
    "plot_path",
]

_METRICS = {"error": ("errors", "test error"), "loss": ("losses", "loss")}


def _split_label(res: Mapping[str, Any], metric: str) -> str:
    split = res.get("settings", {}).get("split", "")
    name = "error" if metric == "error" else "loss"
    return with_unit(f"{split} {name}".strip(), name)


def plot_barrier(
    result: str | Path | Mapping[str, Any], metric: str = "error", ax: Axes | None = None
) -> tuple[Figure, Axes]:
    """The curve along ``(1 − γ) w_a + γ w_b`` with the straight line between its ends.

    The gap between the curve and the dashed line at its widest is the barrier
    [PAUL Def. 2.1]; its value (read from the result) is in the title, under the
    result's own title (the two networks) when it has one.
    """
    res = load_result(result, ("barrier", "instability"))
    key, _ = _METRICS[metric]
    fig, ax = _axes(ax, (4.5, 3.2))
    a, v = np.asarray(res["alphas"]), np.asarray(res[key])
    ax.plot(a, v, "o-", ms=3, label="path")
    ax.plot([a[0], a[-1]], [v[0], v[-1]], "--", color="gray", lw=1, label="linear in γ")
    ax.set_xlabel("γ  (w = (1−γ)·w_a + γ·w_b)")
    ax.set_ylabel(_split_label(res, metric))
    head = f"{res['title']}\n" if res.get("title") else ""  # which two networks
    ax.set_title(
        f"{head}{metric} barrier {res[f'{metric}_barrier']:.4f}  ({bn_note(res)})",
        fontsize=9,
    )
    ax.legend(frameon=False)
    return fig, ax


def plot_path(
    result: str | Path | Mapping[str, Any], metric: str = "error", ax: Axes | None = None
) -> tuple[Figure, Axes]:
    """The piecewise-linear path ``w^(0) → w^(1) → …`` [PAUL Fig. 2 left].

    The x axis counts levels: segment ``i`` runs from ``i`` to ``i + 1``.
    """
    res = load_result(result, ("connectivity",))
    key, _ = _METRICS[metric]
    fig, ax = _axes(ax, (6.0, 3.2))
    pos, vals = np.asarray(res["path"]["position"]), np.asarray(res["path"][key])
    ax.plot(pos, vals, "-", lw=1.5)
    labels = res["labels"]
    ends = np.asarray(res[f"endpoint_{key}"])
    ax.plot(np.arange(len(labels)), ends, "o", color="black", ms=4, label="level solutions")
    ax.set_xticks(np.arange(len(labels)), [str(v) for v in labels])
    ax.set_xlabel("level (path through successive solutions)")
    ax.set_ylabel(_split_label(res, metric))
    ax.set_title(f"path through level solutions ({bn_note(res)})")
    ax.legend(frameon=False)
    return fig, ax


def plot_barrier_matrix(
    result: str | Path | Mapping[str, Any], metric: str = "error", ax: Axes | None = None
) -> tuple[Figure, Axes]:
    """The barrier ``B(w^(i), w^(j))`` of every pair of levels [PAUL Fig. 2 right].

    The colour bar and the cell labels are in the result's unit (a fraction of the split
    for the error, nats for the loss); cells are labelled up to 16 levels.
    """
    res = load_result(result, ("connectivity",))
    mat = res.get(f"{metric}_matrix")
    if mat is None:
        raise ValueError("this result has no barrier matrix (it was computed with --no-matrix)")
    mat = np.asarray(mat)
    labels = [str(v) for v in res["labels"]]
    side = max(3.6, 0.32 * len(labels) + 1.0)  # about 0.3 in a cell: its label fits
    fig, ax = _axes(ax, (side + 0.6, side))
    im = ax.imshow(mat, cmap="viridis", vmin=0.0, origin="upper")
    unit = "fraction of the split" if metric == "error" else "nats"
    fig.colorbar(im, ax=ax, label=f"{metric} barrier ({unit})")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("level j")
    ax.set_ylabel("level i")
    if len(labels) <= 16:
        top = float(mat.max()) if mat.size else 0.0
        size = matrix_font(len(labels))
        for i in range(len(labels)):
            for j in range(len(labels)):
                color = "black" if top > 0 and mat[i, j] > 0.6 * top else "white"
                ax.text(j, i, cell_label(mat[i, j]), ha="center", va="center", fontsize=size,
                        color=color)  # fmt: skip
    ax.set_title(f"{metric} barrier between levels")
    return fig, ax


def plot_connectivity(
    result: str | Path | Mapping[str, Any], metric: str = "error"
) -> tuple[Figure, np.ndarray]:
    """Both panels of [PAUL Fig. 2]: the path (left) and the barrier matrix (right)."""
    res = load_result(result, ("connectivity",))
    has_matrix = res.get(f"{metric}_matrix") is not None
    n = len(res["labels"])
    height = max(3.6, 0.32 * n + 1.0) if has_matrix else 3.6  # the matrix's cells fit a label
    fig = Figure(figsize=(6.0 + 1.2 * height if has_matrix else 6.0, height),
                 layout="constrained")  # fmt: skip
    axes = fig.subplots(1, 2 if has_matrix else 1, squeeze=False,
                        width_ratios=[1.5, 1] if has_matrix else None)  # fmt: skip
    plot_path(res, metric, axes[0, 0])
    if has_matrix:
        plot_barrier_matrix(res, metric, axes[0, 1])
    title = res.get("title")
    if title:
        fig.suptitle(title)
    return fig, axes[0]


def plot_instability_scan(
    result: str | Path | Mapping[str, Any], ax: Axes | None = None
) -> tuple[Figure, Axes]:
    """Error barrier between two copies against the rewind step they start from [PAUL §2]:
    the onset of linear mode connectivity is where the curve meets the threshold (docs/science.md)."""
    res = load_result(result, ("instability-scan",))
    fig, ax = _axes(ax, (4.5, 3.2))
    steps = np.asarray(res["rewind_steps"], dtype=float)
    ax.plot(steps, res["error_barriers"], "o-", ms=4, label="error barrier")
    ax.axhline(res["onset_threshold"], ls="--", color="gray", lw=1,
               label=f"threshold {res['onset_threshold']:g}")  # fmt: skip
    if res.get("onset") is not None:
        ax.axvline(res["onset"], ls=":", color="C3", lw=1, label=f"onset: step {res['onset']}")
    ax.set_xlabel("rewind step τ")
    ax.set_ylabel(with_unit(f"{res.get('split', 'test')} error barrier"))
    ax.set_title(res.get("title", ""), fontsize=9)
    ax.legend(frameon=False, fontsize=8)
    return fig, ax
