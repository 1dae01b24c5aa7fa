"""Robustness figure [PAUL §3.2] (docs/science.md, section 11): the barrier between the trained
perturbed and unperturbed rewind point against the perturbation radius ``r`` (in units of
``d_L``, the size of the next pruning step), mean ± standard deviation over seeds.

Reads a ``robustness`` record only (a dict, a ``result.json`` or its folder); computes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from landscape.plotting._common import axes, load_result, with_unit

__all__ = ["plot_robustness"]

_METRICS = {"error": "error_barrier", "loss": "loss_barrier"}


def plot_robustness(
    result: str | Path | Mapping[str, Any], metric: str = "error", ax: Axes | None = None
) -> tuple[Figure, Axes]:
    """Barrier vs ``r``: the mean over seeds as a line, ± one standard deviation as a band,
    each seed as a dot; the x axis is linear up to the smallest positive radius and
    logarithmic above it (``symlog``), so ``r = 0`` (the stability test of level ``L+1``)
    is shown beside radii spread over decades.

    Args:
        metric: ``error`` or ``loss`` barrier.
    """
    if metric not in _METRICS:
        raise ValueError(f"metric must be error or loss, got {metric!r}")
    res = load_result(result, ("robustness",))
    key = _METRICS[metric]
    radii = np.asarray(res["radii"], dtype=float)
    mean = np.asarray(res[f"{key}_mean"], dtype=float)
    std = np.asarray(res[f"{key}_std"], dtype=float)
    each = np.asarray(res[f"{key}s"], dtype=float)  # [radius, seed]
    fig, ax = axes(ax, (4.8, 3.4))
    ax.fill_between(radii, mean - std, mean + std, color="C0", alpha=0.2, lw=0,
                    label="± 1 std over seeds")  # fmt: skip
    ax.plot(radii, mean, "o-", color="C0", ms=4, label=f"mean of {each.shape[-1]} seeds")
    for j in range(each.shape[-1]):
        ax.plot(radii, each[:, j], ".", color="C0", alpha=0.45, ms=4)
    positive = radii[radii > 0]
    if positive.size:
        ax.set_xscale("symlog", linthresh=float(positive.min()), linscale=0.5)
    ax.set_xticks(radii)
    ax.set_xticklabels([f"{r:g}" for r in radii])
    ax.set_xlabel(f"perturbation radius r  (‖δ‖ = r·d_L, d_L = {res['step_distance']:.3g})")
    ax.set_ylabel(with_unit(f"{res.get('split', 'test')} {metric} barrier"))
    ax.set_ylim(bottom=min(0.0, float(np.nanmin(mean - std))))
    ax.set_title(res.get("title", ""), fontsize=8)
    ax.legend(frameon=False, fontsize=8)
    return fig, ax
