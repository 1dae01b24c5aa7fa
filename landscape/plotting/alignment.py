"""Alignment figures: the path before and after permuting one network onto another, and the
barriers (and mask overlaps) between runs per level, raw and aligned.

Every function reads a result record (``align`` or ``connectivity-across``) and draws it;
nothing is computed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from landscape.plotting._common import axes as _axes
from landscape.plotting._common import load_result, with_unit

__all__ = ["plot_across", "plot_alignment"]


def plot_alignment(
    result: str | Path | Mapping[str, Any], metric: str = "error", ax: Axes | None = None
) -> tuple[Figure, Axes]:
    """The straight path A → B (before) and A → π(B) (after alignment), ``metric`` along it."""
    res = load_result(result, ("align",))
    key = "errors" if metric == "error" else "losses"
    split = res.get("settings", {}).get("split", "test")
    fig, ax = _axes(ax, (4.8, 3.4))
    for part, style in (("before", "o--"), ("after", "o-")):
        curve = res[part]
        label = (f"{part}: {metric} barrier {curve[f'{metric}_barrier']:.4f}" +
                 ("" if part == "before" else f" ({res['method']} matching)"))  # fmt: skip
        ax.plot(curve["alphas"], curve[key], style, ms=3, label=label)
    ax.set_xlabel("γ  (w = (1−γ)·w_A + γ·w_B)")
    ax.set_ylabel(with_unit(f"{split} {metric}"))
    repair = f", REPAIR by {res['repair_by']}" if res.get("repair") else ""
    ax.set_title(f"{res.get('title', '')}\n‖θ_A − θ_B‖ {res['distance_before']:.3g} → "
                 f"{res['distance_after']:.3g}{repair}", fontsize=8)  # fmt: skip
    ax.legend(frameon=False, fontsize=8)
    return fig, ax


def plot_across(result: str | Path | Mapping[str, Any]) -> tuple[Figure, np.ndarray]:
    """Mean error barrier between the runs (left) and mean mask IoU (right) per level, raw
    and aligned; one point per level, the mean over the run pairs."""
    res = load_result(result, ("connectivity-across",))
    per = res["per_level"]
    levels = [p["level"] for p in per]
    fig = Figure(figsize=(9.0, 3.4), layout="constrained")
    axes = fig.subplots(1, 2, squeeze=False)[0]
    for part, style in (("raw", "o--"), ("aligned", "o-")):
        if f"error_matrix_{part}" not in per[0]:
            continue
        label = part if part == "raw" else f"aligned ({res['align']} matching)"
        axes[0].plot(levels, [p["summary"][f"error_matrix_{part}"] for p in per], style,
                     ms=4, label=label)  # fmt: skip
        axes[1].plot(levels, [p["summary"][f"mask_iou_{part}"] for p in per], style, ms=4,
                     label=label)  # fmt: skip
    split = res.get("settings", {}).get("split", "test")
    axes[0].set_ylabel(f"{split} error barrier (fraction, mean over run pairs)")
    axes[1].set_ylabel("mask IoU (fraction, mean over run pairs)")
    for ax in axes:
        ax.set_xlabel("level")
        ax.legend(frameon=False, fontsize=8)
    fig.suptitle(res.get("title", ""), fontsize=9)
    return fig, axes
