"""Hessian spectrum figures (docs/science.md): the density, the per-layer top eigenvalues, the
top eigenvalue and trace against sparsity across pruning levels (whole network and per layer),
and the overlap of the top-k eigenspaces of every pair of levels.

Every function reads a result written by ``landscape hessian`` (a ``result.json``
path, its folder, or the loaded dict) and draws it; nothing is computed here.
Figures are bare :class:`~matplotlib.figure.Figure` objects (no pyplot state).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from landscape.plotting._common import axes as _axes
from landscape.plotting._common import cell_label, load_result

__all__ = [
    "load_result",
    "plot_density",
    "plot_layer_levels",
    "plot_layers",
    "plot_levels",
    "plot_overlap",
]


def plot_density(
    result: str | Path | Mapping[str, Any], ax: Axes | None = None, label: str | None = None
) -> tuple[Figure, Axes]:
    """The smoothed eigenvalue density on a log scale (Ghorbani et al. 2019, Fig. 1 style).

    Values below 1e-8 of the peak are clipped so the log axis shows the bulk and the
    outliers rather than the kernel's vanishing tails.
    """
    res = load_result(result, ("hessian",))
    if res.get("density") is None:
        raise ValueError("this result has no density; run `landscape hessian --density`")
    grid, dens = np.asarray(res["density_grid"]), np.asarray(res["density"])
    fig, ax = _axes(ax, (5.5, 3.6))
    floor = 1e-8 * dens.max()
    ax.semilogy(grid, np.maximum(dens, floor), lw=1, label=label)
    ax.set_ylim(bottom=floor)
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density (log scale)")
    top = res.get("eigenvalues") or []
    if top:
        ax.axvline(top[0], color="C3", lw=0.8, ls="--", label=f"λ_max = {top[0]:.4g}")
    title = res.get("title")
    if title:
        ax.set_title(title, fontsize=9)
    if label is not None or top:
        ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    return fig, ax


def plot_layers(
    result: str | Path | Mapping[str, Any], ax: Axes | None = None
) -> tuple[Figure, Axes]:
    """Top eigenvalue (and trace, where measured) of each parameter group, as bars."""
    res = load_result(result, ("hessian",))
    groups = res.get("groups") or []
    if not groups:
        raise ValueError(
            "this result has no per-layer spectra; run `landscape hessian --per-layer`"
        )
    names = [g["group"] or "(root)" for g in groups]
    top = [g["eigenvalues"][0] if g["eigenvalues"] else np.nan for g in groups]
    fig, ax = _axes(ax, (max(4.0, 0.5 * len(names) + 2), 3.6))
    x = np.arange(len(names))
    ax.bar(x - 0.2, top, width=0.4, label="top eigenvalue")
    traces = [g.get("trace") for g in groups]
    if any(t is not None for t in traces):
        ax.bar(x + 0.2, [np.nan if t is None else t for t in traces], width=0.4, label="trace")
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=7)
    ax.set_xlabel("parameter group")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_ylabel("curvature")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return fig, ax


def _minor_label(v: float, _pos: int) -> str:
    """Label the 2, 3 and 5 between decades, so log-axis labels do not collide."""
    if v <= 0:
        return ""
    lead = round(v / 10 ** math.floor(math.log10(v)))
    return f"{v:g}" if lead in (2, 3, 5) else ""


def plot_levels(
    summary: str | Path | Mapping[str, Any], axes: Any = None
) -> tuple[Figure, np.ndarray]:
    """Top eigenvalue and trace (± standard error) against the weights remaining, per level.

    Args:
        summary: a ``hessian-levels`` result (``landscape hessian RUN_DIR --all-levels``).
        axes: two axes to draw into (default: a new 1×2 figure).

    Returns:
        ``(fig, axes)`` with the two axes.
    """
    res = load_result(summary, ("hessian-levels",))
    rows = res["levels"]
    remaining = np.array([100 * r["weights_remaining"] for r in rows])
    if axes is None:
        fig = Figure(figsize=(9.0, 3.6), layout="constrained")
        axes = fig.subplots(1, 2)
    fig = axes[0].figure
    top = np.array([r["eigenvalues"][0] if r["eigenvalues"] else np.nan for r in rows])
    axes[0].plot(remaining, top, marker="o", ms=3)
    axes[0].set_ylabel("top Hessian eigenvalue λ_max")
    trace = np.array([np.nan if r.get("trace") is None else r["trace"] for r in rows])
    err = np.array([0.0 if r.get("trace_stderr") is None else r["trace_stderr"] for r in rows])
    axes[1].errorbar(remaining, trace, yerr=err, marker="o", ms=3, capsize=2)
    axes[1].set_ylabel("Hessian trace (± s.e.)")
    masked = res.get("settings", {}).get("masked", False)
    for ax in axes:
        _remaining_axis(ax)
        for r, x_, y_ in zip(rows, remaining, top if ax is axes[0] else trace):
            ax.annotate(str(r["level"]), (x_, y_), fontsize=6, xytext=(2, 2),
                        textcoords="offset points")  # fmt: skip
    title = res.get("title")
    if title:
        fig.suptitle(title + (" (kept coordinates)" if masked else ""), fontsize=9)
    return fig, np.asarray(axes)


def _remaining_axis(ax: Axes) -> None:
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(_minor_label))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("weights remaining (%)")
    ax.grid(alpha=0.3, which="both")


def plot_layer_levels(
    summary: str | Path | Mapping[str, Any], axes: Any = None
) -> tuple[Figure, np.ndarray]:
    """Each parameter group's top eigenvalue and trace against the weights remaining.

    Args:
        summary: a ``hessian-levels`` result of ``landscape hessian RUN --all-levels
            --per-layer`` (or ``--per-block``, ``--params REGEX``).
        axes: two axes to draw into (default: a new 1×2 figure; one when no trace).

    Returns:
        ``(fig, axes)``; one line per group, the same colour in both panels.
    """
    res = load_result(summary, ("hessian-levels",))
    rows = [r for r in res["levels"] if r.get("groups")]
    if not rows:
        raise ValueError(
            "this summary has no per-layer spectra; run `landscape hessian RUN --all-levels "
            "--per-layer`"
        )
    names = list(dict.fromkeys(g["group"] for r in rows for g in r["groups"]))
    has_trace = any(g.get("trace") is not None for r in rows for g in r["groups"])
    if axes is None:
        fig = Figure(figsize=(9.5 if has_trace else 5.5, 3.8), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, 2 if has_trace else 1))
    axes = np.atleast_1d(axes)
    fig = axes[0].figure
    remaining = np.array([100 * (r["weights_remaining"] or 1.0) for r in rows])
    for c, name in enumerate(names):
        by = [next((g for g in r["groups"] if g["group"] == name), None) for r in rows]
        top = [g["eigenvalues"][0] if g and g["eigenvalues"] else np.nan for g in by]
        label = name or "(root)"
        axes[0].plot(remaining, top, marker="o", ms=3, color=f"C{c % 10}", label=label)
        if has_trace:
            tr = [np.nan if not g or g.get("trace") is None else g["trace"] for g in by]
            err = [0.0 if not g or g.get("trace_stderr") is None else g["trace_stderr"] for g in by]
            axes[1].errorbar(remaining, tr, yerr=err, marker="o", ms=3, capsize=2,
                             color=f"C{c % 10}")  # fmt: skip
    curvature = res.get("settings", {}).get("curvature", "hessian")
    what = {"hessian": "Hessian", "ggn": "GGN", "fisher": "empirical Fisher"}[curvature]
    axes[0].set_ylabel(f"top {what} eigenvalue of the block")
    if has_trace:
        axes[1].set_ylabel(f"{what} trace of the block (± s.e.)")
    for ax in axes:
        _remaining_axis(ax)
        ax.set_yscale("log")
    by = res.get("settings", {}).get("groups") or "group"
    axes[0].legend(frameon=False, fontsize=7, ncol=1 + len(names) // 8, title=by,
                   title_fontsize=7)  # fmt: skip
    title = res.get("title")
    if title:
        masked = res.get("settings", {}).get("masked", False)
        fig.suptitle(title + " — per layer" + (" (kept coordinates)" if masked else ""), fontsize=9)
    return fig, axes


def plot_overlap(
    summary: str | Path | Mapping[str, Any], ax: Axes | None = None
) -> tuple[Figure, Axes]:
    """The level × level overlap of the top-k eigenspaces as a heat map, values written in.

    Args:
        summary: a ``hessian-levels`` result of ``landscape hessian RUN --all-levels
            --overlap``.

    Returns:
        ``(fig, ax)``.
    """
    res = load_result(summary, ("hessian-levels",))
    over = res.get("overlap")
    if not over:
        raise ValueError(
            "this summary has no overlap; run `landscape hessian RUN --all-levels --overlap`"
        )
    m = np.array([[np.nan if v is None else v for v in row] for row in over["overlap"]])
    rows = res["levels"]
    labels = [
        f"{r['level']}" + ("" if r.get("weights_remaining") is None
                           else f" ({100 * r['weights_remaining']:.3g}%)")
        for r in rows
    ]  # fmt: skip
    n = len(labels)
    fig, ax = _axes(ax, (max(4.2, 0.55 * n + 2.5), max(3.6, 0.5 * n + 1.8)))
    im = ax.imshow(m, vmin=0.0, vmax=1.0, cmap="viridis")
    ax.set_xticks(range(n), labels, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    ax.set_xlabel("level (weights remaining)")
    ax.set_ylabel("level (weights remaining)")
    if n <= 16:
        for i in range(n):
            for j in range(n):
                if np.isfinite(m[i, j]):
                    ax.text(j, i, cell_label(m[i, j], 2), ha="center", va="center", fontsize=6,
                            color="white" if m[i, j] < 0.6 else "black")  # fmt: skip
    k = res.get("settings", {}).get("top_k")
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label(f"top-{k} eigenspace overlap ‖Q_iᵀQ_j‖²_F / k")
    title = res.get("title")
    if title:
        ax.set_title(title, fontsize=9)
    return fig, ax
