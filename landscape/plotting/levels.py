"""Per-level metrics against sparsity, one line per run (the papers' accuracy-vs-sparsity plots)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from landscape.io import level_metrics
from landscape.plotting._common import with_unit

__all__ = ["plot_metric_vs_sparsity"]


def plot_metric_vs_sparsity(
    runs: Mapping[str, str | Path | Sequence[Mapping[str, Any]]],
    metric: str = "test_accuracy",
    ax: Any = None,
) -> tuple[Any, Any]:
    """Draw ``metric`` against the percentage of weights remaining (log scale), one line per run.

    Args:
        runs: ``{label: run_dir}`` or ``{label: rows}`` with rows as in ``metrics.json``.
        metric: a key of ``metrics.json`` (``test_accuracy``, ``test_error``, ``train_loss`` ...).
    """
    # A bare Figure (no pyplot): the caller's backend is left alone and nothing global is kept.
    if ax is None:
        fig = Figure(figsize=(5.5, 3.6))
        ax = fig.subplots()
    fig = ax.figure
    ticks: set[float] = set()
    for label, src in runs.items():
        rows = level_metrics(src) if isinstance(src, (str, Path)) else list(src)
        x = [100 * r["density"] for r in rows]
        ticks.update(round(v, 1) for v in x)
        y = [r[metric] if metric in r else 1 - r["test_error"] for r in rows]
        ax.plot(x, y, marker="o", ms=3, label=label)
    ax.set_xscale("log")
    ax.set_xticks(sorted(ticks)[:: max(1, len(ticks) // 8)], minor=False)
    ax.set_xticklabels([f"{v:g}" for v in sorted(ticks)[:: max(1, len(ticks) // 8)]])
    ax.minorticks_off()
    ax.invert_xaxis()
    ax.set_xlabel("weights remaining (%)")
    ax.set_ylabel(with_unit(metric.replace("_", " ")))
    ax.grid(alpha=0.3, which="both")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig, ax
