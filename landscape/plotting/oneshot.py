"""One-shot pruning: test accuracy against the retraining budget, one curve per schedule [ZIMMER §3].

Reads the ``oneshot`` result written by ``analysis_scripts/oneshot_budget.py``
(a JSON file or the loaded dict) and draws it; nothing is computed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from landscape.plotting._common import load_result
from landscape.plotting.schedules import SCHEDULE_COLORS, SCHEDULE_LABELS

__all__ = ["plot_oneshot"]


def plot_oneshot(result: str | Path | Mapping[str, Any]) -> tuple[Figure, np.ndarray]:
    """One panel per goal sparsity: mean test accuracy (%) ± one std over seeds vs budget.

    The x axis is the retraining budget in epochs (log scale, ticks at the budgets
    measured). The dashed line is the dense network's accuracy, the dotted line
    the pruned network's before any retraining (both means over the same seeds).

    Returns:
        ``(fig, axes)``, one axis per sparsity in increasing order.
    """
    res = load_result(result, ("oneshot",))
    sparsities = sorted({c["sparsity"] for c in res["curves"]})
    if not sparsities:
        raise ValueError("the result holds no curves; re-run the script that wrote it")
    fig = Figure(figsize=(4.2 * len(sparsities) + 1.2, 3.6), layout="constrained")
    axes = fig.subplots(1, len(sparsities), squeeze=False)
    axes = axes[0]
    dense = res["dense"]
    pruned = {p["sparsity"]: p for p in res.get("pruned", [])}
    n_seeds = len(res["settings"]["seeds"])
    for ax, sparsity in zip(axes, sparsities):
        budgets: list[float] = []
        for c in res["curves"]:
            if c["sparsity"] != sparsity:
                continue
            x = np.asarray(c["budgets"], dtype=float)
            mean, std = 100 * np.asarray(c["mean"]), 100 * np.asarray(c["std"])
            color = SCHEDULE_COLORS.get(c["schedule"])
            ax.plot(x, mean, "o-", ms=3, lw=1.4, color=color,
                    label=SCHEDULE_LABELS.get(c["schedule"], c["schedule"]))  # fmt: skip
            ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.15, lw=0)
            budgets = sorted(set(budgets) | set(x.tolist()))
        ax.axhline(100 * dense["mean"], ls="--", color="black", lw=1, label="dense")
        if sparsity in pruned:
            ax.axhline(
                100 * pruned[sparsity]["mean"],
                ls=":",
                color="black",
                lw=1,
                label="pruned, no retraining",
            )
        ax.set_xscale("log", base=2)
        ax.set_xticks(budgets, [f"{b:g}" for b in budgets])
        ax.minorticks_off()
        ax.set_xlabel("retraining budget (epochs)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"one-shot, {100 * sparsity:g}% sparsity")
        ax.grid(alpha=0.3)
    axes[-1].legend(frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(
        f"{res['settings'].get('title', '')}  (mean ± std over {n_seeds} seeds)".strip(),
        fontsize=10,
    )
    return fig, axes
