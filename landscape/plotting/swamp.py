"""SWAMP figures [SWAMP Fig. 3]: accuracy against sparsity (SWAMP vs IMP-WR), particles vs their average.

Both functions read the result written by ``analysis_scripts/swamp_vs_imp.py`` (its
JSON path or the loaded dict) and draw it; nothing is computed here but means and
standard deviations over seeds. Figures are bare :class:`~matplotlib.figure.Figure`
objects (no pyplot state).

The result holds one row per level::

    {"level": L, "density": d, "imp_wr_test_error": [per seed], "swamp_test_error": [per seed],
     "swamp_particle_test_errors": [[per particle] per seed]}
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

__all__ = ["load_result", "plot_accuracy_vs_sparsity", "plot_particles_vs_average"]


def _band(ax: Axes, x: np.ndarray, values: np.ndarray, **kw: Any) -> None:
    """Mean line with a ±1 std band over the last axis (seeds), in percent."""
    mean, std = 100 * values.mean(-1), 100 * values.std(-1, ddof=1 if values.shape[-1] > 1 else 0)
    (line,) = ax.plot(x, mean, marker="o", ms=3, **kw)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, lw=0)


def _sparsity_axis(ax: Axes, x: np.ndarray) -> None:
    """Log-scaled weights remaining, decreasing to the right, ticks at the levels' densities."""
    ax.set_xscale("log")
    ax.set_xticks(x, [f"{v:.3g}" for v in x])
    ax.minorticks_off()
    ax.invert_xaxis()
    ax.set_xlabel("weights remaining (%)")
    ax.grid(alpha=0.3)


def plot_accuracy_vs_sparsity(
    result: str | Path | Mapping[str, Any], ax: Axes | None = None
) -> tuple[Figure, Axes]:
    """Test accuracy (%) against weights remaining, SWAMP and IMP-WR, mean ± std over seeds."""
    r = load_result(result)
    rows = r["levels"]
    fig, ax = _axes(ax, (5.5, 3.6))
    x = np.array([100 * row["density"] for row in rows])
    s = r["settings"]
    for key, label in (("imp_wr_test_error", "IMP-WR"),
                       ("swamp_test_error", f"SWAMP (N={s['particles']})")):  # fmt: skip
        _band(ax, x, 1 - np.array([row[key] for row in rows]), label=label)
    _sparsity_axis(ax, x)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{s['preset']}: mean ± std over {len(s['seeds'])} seeds", fontsize=9)
    ax.legend(frameon=False)
    return fig, ax


def plot_particles_vs_average(
    result: str | Path | Mapping[str, Any], ax: Axes | None = None
) -> tuple[Figure, Axes]:
    """Test error of the individual SWA particles and of their average at every level.

    Dots: every particle of every seed; lines: the mean particle and the averaged
    network, mean ± std over seeds. [SWAMP Fig. 3] finds the average worse than
    its particles at low sparsity and better at high sparsity.
    """
    r = load_result(result)
    rows = r["levels"]
    fig, ax = _axes(ax, (5.5, 3.6))
    x = np.array([100 * row["density"] for row in rows])
    for xi, row in zip(x, rows):
        errs = [100 * e for seed in row["swamp_particle_test_errors"] for e in seed]
        ax.scatter([xi] * len(errs), errs, s=6, color="0.6", zorder=1)
    mean_particle = np.array(
        [[np.mean(seed) for seed in row["swamp_particle_test_errors"]] for row in rows]
    )
    _band(ax, x, mean_particle, label="mean of the particles", color="tab:gray")
    _band(ax, x, np.array([row["swamp_test_error"] for row in rows]), label="their average (SWAMP)",
          color="tab:orange")  # fmt: skip
    _sparsity_axis(ax, x)
    ax.set_ylabel("test error (%)")
    ax.set_title(f"{r['settings']['preset']}: particles vs their weight average", fontsize=9)
    ax.legend(frameon=False)
    return fig, ax
