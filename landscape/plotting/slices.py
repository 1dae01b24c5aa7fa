"""Slice figures [PAUL Fig. 3; Li et al. 2018]: a filled contour on a plane, its marked points.

Reads a slice result (``result.json``, its folder, or the dict) and draws it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from landscape.plotting._common import bn_note, load_result, with_unit

__all__ = ["plot_slice", "plot_slices"]

_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def plot_slice(
    result: str | Path | Mapping[str, Any],
    metric: str = "test_error",
    ax: Axes | None = None,
    *,
    matching_level: float | None = None,
    levels: int = 20,
) -> tuple[Figure, Axes]:
    """Filled contour of ``metric`` over the plane, the marked points, the matching contour
    and, for the test error, [PAUL]'s linearly connected sublevel set of the origin (dashed).

    A legend entry is made only for what is drawn: no matching contour when no grid point
    is on each side of it, no set outline when the set is empty or the whole grid.

    Args:
        result: a slice result.
        metric: a key of ``values``, e.g. ``test_error`` or ``train_loss``.
        matching_level: error level drawn as a solid contour (the outline of the
            set of matching networks in the plane [PAUL Fig. 3]); default: the
            result's ``matching_level``, for error metrics only.
        levels: number of filled contour levels (losses use log-spaced levels).
    """
    res = load_result(result, ("anchors", "random"))
    values = res["values"]
    if metric not in values:
        raise ValueError(f"no {metric!r} in this slice; it has {sorted(values)}")
    z = np.asarray(values[metric], dtype=np.float64)
    a, b = np.asarray(res["a"]), np.asarray(res["b"])
    own_fig = ax is None
    if own_fig:
        fig = Figure(figsize=(5.0, 5.0), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    finite = z[np.isfinite(z)]
    if metric.endswith("loss") and finite.size and finite.min() > 0:
        lv = np.geomspace(finite.min(), finite.max() * (1 + 1e-9), levels)
        from matplotlib.colors import LogNorm

        cs = ax.contourf(a, b, z, levels=lv, norm=LogNorm(), cmap="viridis")
    else:
        cs = ax.contourf(a, b, z, levels=levels, cmap="viridis")
    cbar = fig.colorbar(cs, ax=ax, label=with_unit(metric.replace("_", " ")), format="%.3g")
    if metric.endswith("loss") and len(cs.levels) > 6:
        cbar.set_ticks(cs.levels[:: max(1, len(cs.levels) // 5)])
        cbar.minorticks_off()
    if matching_level is None and metric.endswith("error"):
        matching_level = res.get("matching_level")
    if matching_level is not None and finite.size and finite.min() <= matching_level < finite.max():
        # White with a black edge: visible on every colour of the map and in the legend.
        edge = [patheffects.withStroke(linewidth=3.2, foreground="black")]
        lines = ax.contour(a, b, z, levels=[matching_level], colors="white", linewidths=1.6)
        lines.set(path_effects=edge)
        ax.plot(
            [],
            [],
            color="white",
            lw=1.6,
            path_effects=edge,
            label=f"{metric.split('_')[0]} error ≤ {matching_level:.3f}",
        )
    lcs = res.get("lcs")
    path_max = res.get("origin_path_max")
    if metric == "test_error" and lcs is not None:
        # [PAUL]'s linearly connected sublevel set of w^(L), as the analysis wrote it.
        inside = np.asarray(lcs, dtype=np.float64)
        if 0 < inside.sum() < inside.size:  # an outline exists: some points in, some out
            ax.contour(a, b, inside, levels=[0.5], colors="magenta", linewidths=1.4,
                       linestyles="--")  # fmt: skip
            ax.plot([], [], color="magenta", lw=1.4, ls="--",
                    label=f"LCS of the origin (≤ {res['lcs_level']:.3f} on the ray, "
                    f"barrier ≤ {res['lcs_barrier']:g})")  # fmt: skip
    elif metric == "test_error" and path_max is not None and matching_level is not None:
        # A result written before the LCS was recorded: the older set (the matching level
        # on the whole ray, no barrier test), named for what it is.
        pm = np.asarray(path_max, dtype=np.float64)
        if pm.min() <= matching_level < pm.max():
            ax.contour(a, b, pm, levels=[matching_level], colors="magenta", linewidths=1.4,
                       linestyles="--")  # fmt: skip
            ax.plot([], [], color="magenta", lw=1.4, ls="--",
                    label=f"≤ {matching_level:.3f} on the whole ray from the origin")  # fmt: skip
    for i, mark in enumerate(res.get("marks", [])):
        ax.plot(mark["a"], mark["b"], _MARKERS[i % len(_MARKERS)], ms=8, mec="black", mfc="red",
                label=f"{mark['name']} ({mark.get(metric, float('nan')):.3f})")  # fmt: skip
    ax.set_aspect("equal" if res.get("kind") == "anchors" else "auto")
    ax.set_xlabel("a  (along e1)" if res.get("kind") == "anchors" else "a  (direction 1)")
    ax.set_ylabel("b  (along e2)" if res.get("kind") == "anchors" else "b  (direction 2)")
    # Below the axes (inside, it would hide the anchors it names), one column: a long
    # entry in two columns runs past the figure's edge.
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1, frameon=False)
    if own_fig:  # one panel: the result's title; in plot_slices the figure carries it
        title = res.get("title")
        ax.set_title(title or f"{metric.replace('_', ' ')} ({bn_note(res)})", fontsize=9)
    else:
        ax.set_title(f"{metric.replace('_', ' ')} ({bn_note(res)})", fontsize=9)
    return fig, ax


def plot_slices(
    result: str | Path | Mapping[str, Any], metrics: tuple[str, ...] = ("test_error", "train_loss")
) -> tuple[Figure, np.ndarray]:
    """Side-by-side panels of several metrics of one slice (those present in the result)."""
    res = load_result(result, ("anchors", "random"))
    metrics = tuple(m for m in metrics if m in res["values"]) or tuple(res["values"])[:1]
    fig = Figure(figsize=(5.0 * len(metrics), 5.0), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)
    for m, ax in zip(metrics, axes[0]):
        plot_slice(res, m, ax)
    if res.get("title"):
        fig.suptitle(res["title"], fontsize=10)
    return fig, axes[0]
