"""Sharpness figures (``landscape sharpness``): each measure against ρ at one point, and
against the level for a run.

Every function reads a result written by ``landscape sharpness`` (a ``result.json`` path, its
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
from matplotlib.ticker import NullFormatter

from landscape.plotting._common import load_result, with_unit

__all__ = ["plot_sharpness", "plot_sharpness_levels"]


def _panels(count: int, figsize: tuple[float, float]) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, list(np.atleast_1d(fig.subplots(1, count)))


def plot_sharpness(result: str | Path | Mapping[str, Any]) -> tuple[Figure, list[Axes]]:
    """One point (kind ``sharpness``): average (± standard error) and worst-case loss rise
    against ρ, plain (left, weight units) and adaptive (right, units of |w|), log-log."""
    res = load_result(result, ("sharpness",))
    panels = [(p, r) for p, r in (("", res["radii"]), ("adaptive_", res["adaptive_radii"])) if r]
    fig, axes = _panels(len(panels), (4.2 * len(panels), 3.6))
    for ax, (prefix, radii) in zip(axes, panels):
        r = np.asarray(radii, dtype=float)
        avg = np.asarray(res[prefix + "average"], dtype=float)
        se = np.asarray(res[prefix + "average_stderr"], dtype=float)
        worst = np.asarray(res[prefix + "worst"], dtype=float)
        ax.errorbar(r, avg, yerr=se, marker="o", ms=4, capsize=3, color="C0",
                    label="average case ± s.e.")  # fmt: skip
        ax.plot(r, worst, marker="s", ms=4, color="C3", label="worst case (ascent)")
        if (avg > 0).all() and (worst > 0).all():
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xticks(r, [f"{v:g}" for v in r])
        ax.xaxis.set_minor_formatter(NullFormatter())  # the radii label the axis, nothing else
        unit = "ρ (units of |w|)" if prefix else "ρ (weight units)"
        ax.set_xlabel(unit)
        ax.set_ylabel(with_unit("training-loss rise"))
        ax.set_title(("adaptive: δ = |w|⊙ε, ‖ε‖ ≤ ρ" if prefix else "plain: ‖δ‖ ≤ ρ"),
                     fontsize=9)  # fmt: skip
        ax.grid(alpha=0.3, which="both")
        ax.legend(frameon=False, fontsize=8)
    if res.get("title"):
        fig.suptitle(res["title"], fontsize=9)
    return fig, axes


def plot_sharpness_levels(summary: str | Path | Mapping[str, Any]) -> tuple[Figure, list[Axes]]:
    """Across levels (kind ``sharpness-levels``): for each measure, one line per radius
    against the level; the weights remaining label the top axis."""
    res = load_result(summary, ("sharpness-levels",))
    rows = res["levels"]
    first = rows[0]
    measures = [(k, lab, "radii" if not k.startswith("adaptive") else "adaptive_radii")
                for k, lab in (("average", "average case"), ("worst", "worst case"),
                               ("adaptive_average", "adaptive average"),
                               ("adaptive_worst", "adaptive worst"))
                if first[k]]  # fmt: skip
    fig, axes = _panels(len(measures), (3.6 * len(measures), 3.6))
    lv = np.array([r["level"] for r in rows], dtype=float)
    for ax, (key, label, rkey) in zip(axes, measures):
        values = np.array([r[key] for r in rows], dtype=float)  # level × radius
        for j, rho in enumerate(first[rkey]):
            ax.plot(lv, values[:, j], marker="o", ms=3, color=f"C{j}", label=f"ρ = {rho:g}")
        if (values > 0).all():
            ax.set_yscale("log")
        ax.set_xlabel("level L")
        ax.set_ylabel(with_unit("training-loss rise"))
        ax.set_title(label, fontsize=9)
        ax.set_xticks(lv, [str(int(v)) for v in lv])
        top = ax.secondary_xaxis("top")
        top.set_xticks(lv, [f"{100 * r['weights_remaining']:.3g}" for r in rows], fontsize=6)
        top.set_xlabel("weights remaining (%)", fontsize=7)
        ax.grid(alpha=0.3, which="both")
        ax.legend(frameon=False, fontsize=7)
    if res.get("title"):
        fig.suptitle(res["title"], fontsize=9)
    return fig, axes
