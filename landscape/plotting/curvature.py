"""Curvature of the pruning direction [PAUL §3.3] (docs/science.md, section 10): κ of the
magnitude mask against random masks of the same size, at one level and across levels.

Every function reads a result written by ``landscape curvature`` (a ``result.json`` path, its
folder, or the loaded dict) and draws it; nothing is computed here. Figures are bare
:class:`~matplotlib.figure.Figure` objects (no pyplot state).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from landscape.plotting._common import axes as _axes
from landscape.plotting._common import load_result

__all__ = ["plot_curvature", "plot_curvature_levels"]


def plot_curvature(
    result: str | Path | Mapping[str, Any], ax: Axes | None = None
) -> tuple[Figure, Axes]:
    """One level (kind ``curvature``): each random mask's κ as a dot, their mean ± std as a
    bar, and the magnitude mask's κ beside them."""
    res = load_result(result, ("curvature",))
    fig, ax = _axes(ax, (4.2, 3.6))
    rand = np.asarray(res["kappa_random"], dtype=float)
    jitter = np.linspace(-0.12, 0.12, len(rand)) if len(rand) > 1 else np.zeros(1)
    ax.scatter(1 + jitter, rand, s=14, color="C1", alpha=0.7, label="random masks")
    std = res.get("kappa_random_std")
    ax.errorbar([1.3], [res["kappa_random_mean"]], yerr=[std or 0.0], fmt="s", color="C1",
                capsize=3, label="random mean ± std")  # fmt: skip
    ax.scatter([0], [res["kappa_magnitude"]], s=40, marker="D", color="C0", zorder=3,
               label="magnitude mask")  # fmt: skip
    ax.set_xticks([0, 1], ["magnitude", "random"])
    ax.set_xlabel("pruning mask")
    ax.set_xlim(-0.6, 1.7)
    ax.set_ylabel("κ = ΔᵀHΔ / ‖Δ‖²")
    ratio = res.get("kappa_ratio")
    sub = f"magnitude / random mean = {ratio:.3g}" if ratio is not None else ""
    ax.set_title(f"{res.get('title', '')}\n{sub}", fontsize=9)
    ax.legend(frameon=False, fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    return fig, ax


def plot_curvature_levels(
    summary: str | Path | Mapping[str, Any], ax: Axes | None = None
) -> tuple[Figure, Axes]:
    """Across levels (kind ``curvature-levels``): κ of the magnitude mask and the random
    masks' mean ± std (band) against the level, log scale when every value is positive;
    the weights remaining at each level label the top axis."""
    res = load_result(summary, ("curvature-levels",))
    rows = res["levels"]
    fig, ax = _axes(ax, (6.0, 3.8))
    lv = np.array([r["level"] for r in rows], dtype=float)
    mag = np.array([r["kappa_magnitude"] for r in rows], dtype=float)
    mean = np.array([r["kappa_random_mean"] for r in rows], dtype=float)
    std = np.array([r["kappa_random_std"] or 0.0 for r in rows], dtype=float)
    lo, hi = mean - std, mean + std
    positive = bool((mag > 0).all() and (lo > 0).all())
    ax.fill_between(lv, lo, hi, color="C1", alpha=0.25, lw=0, label="random: mean ± std")
    ax.plot(lv, mean, color="C1", marker="o", ms=3, label="random masks (mean)")
    ax.plot(lv, mag, color="C0", marker="D", ms=4, label="magnitude mask")
    if positive:
        ax.set_yscale("log")
    ax.set_xlabel("level L (κ at w^(L), direction to the next mask)")
    ax.set_ylabel("κ = ΔᵀHΔ / ‖Δ‖²")
    ax.set_xticks(lv, [str(int(v)) for v in lv])
    top = ax.secondary_xaxis("top")
    top.set_xticks(lv, [f"{100 * r['weights_remaining']:.3g}" for r in rows], fontsize=7)
    top.set_xlabel("weights remaining at level L (%)", fontsize=8)
    ax.grid(alpha=0.3, which="both")
    ax.legend(frameon=False, fontsize=8)
    title = res.get("title")
    if title:
        n = res.get("random_masks", "")
        ax.set_title(f"{title}\n{res.get('num_samples', '')} {res.get('split', '')} samples, "
                     f"{n} random masks per level", fontsize=9)  # fmt: skip
    return fig, ax
