"""The six retraining schedules over one budget, beside the original schedule [ZIMMER Fig. 1].

Reads the ``schedules`` result written by ``landscape plot schedules`` (a JSON
file or the loaded dict) and draws it; nothing is computed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from landscape.plotting._common import load_result

__all__ = ["SCHEDULE_COLORS", "SCHEDULE_LABELS", "plot_schedules"]

# One colour per schedule, shared by every retraining figure.
SCHEDULE_COLORS: dict[str, str] = {
    "ft": "tab:gray",
    "lrw": "tab:brown",
    "slr": "tab:green",
    "clr": "tab:purple",
    "llr": "tab:blue",
    "allr": "tab:red",
}
SCHEDULE_LABELS: dict[str, str] = {k: k.upper() for k in SCHEDULE_COLORS}


def plot_schedules(
    result: str | Path | Mapping[str, Any], log: bool = False
) -> tuple[Figure, np.ndarray]:
    """Left: the original schedule ``η(t)`` over its T epochs. Right: FT/LRW/SLR/CLR/LLR/ALLR.

    Both panels share the LR axis; the x axes are in epochs (the original run's,
    and the retraining phase's). ALLR's ``η_0`` and the norm drop and pruned share
    it was computed from are read from the result and shown in the legend.
    ``log=True`` draws the LR on a log scale (zeros, e.g. a warm-up's first step, drop out).

    Returns:
        ``(fig, axes)`` with ``axes = [original_ax, retrain_ax]``.
    """
    res = load_result(result, ("schedules",))
    fig = Figure(figsize=(11.5, 3.4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1.0, 1.3]})
    spe = res["steps_per_epoch"]
    orig = res["original"]
    axes[0].plot(np.asarray(orig["step"]) / spe, orig["lr"], color="black", lw=1.5)
    axes[0].set_title(f"original schedule ({res['train_epochs']:g} epochs)")
    axes[0].set_xlabel("epoch of dense training")
    for ax in axes:  # the right panel shares the axis, and says so too
        ax.set_ylabel("learning rate")
    for name, curve in res["schedules"].items():
        label = SCHEDULE_LABELS.get(name, name)
        if name == "allr":
            a = res["allr"]
            label += f" (η₀={a['eta0']:.3g}: d={a['norm_drop']:g}, s={a['fraction']:g})"
        axes[1].plot(
            np.asarray(curve["step"]) / spe, curve["lr"],
            color=SCHEDULE_COLORS.get(name), lw=1.5, label=label,
        )  # fmt: skip
    axes[1].set_title(f"retraining schedules ({res['retrain_epochs']:g} epochs)")
    axes[1].set_xlabel("epoch of retraining")
    axes[1].legend(frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    for ax in axes:
        if log:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    return fig, axes
