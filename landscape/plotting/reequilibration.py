"""Re-equilibration after pruning [PAUL §3.4] (docs/science.md, section 11): several runs
(e.g. IMP-WR, IMP-LRR, IMP-FT) compared level by level.

Every function reads a result written by ``landscape reequilibration`` (a ``result.json`` path,
its folder, or the loaded dict) and draws it; nothing is computed here (the definitions are in
``landscape/analysis/reequilibration.py``). Figures are bare :class:`~matplotlib.figure.Figure`
objects (no pyplot state).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from landscape.plotting._common import load_result

__all__ = ["plot_histograms", "plot_reequilibration"]


def _values(rows: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else r[key] for r in rows], dtype=float)


def _middle_level(res: Mapping[str, Any]) -> int:
    common = set.intersection(*({r["level"] for r in e["levels"]} for e in res["runs"]))
    pool = sorted(common) or sorted(r["level"] for r in res["runs"][0]["levels"])
    return pool[len(pool) // 2]


def _span(
    edges: np.ndarray, hists: Sequence[Sequence[int]], tail: float = 1e-3
) -> tuple[float, float]:
    """The x-range holding the drawn histograms' mass: from the bin where the pooled
    cumulative count passes ``tail`` of the total to the last nonzero bin (a display choice:
    the shared edges span every weight, down to the very smallest)."""
    pooled = np.sum([np.asarray(h, dtype=float) for h in hists], axis=0)
    if not pooled.sum():
        return float(edges[0]), float(edges[-1])
    cum = np.cumsum(pooled) / pooled.sum()
    lo = int(np.searchsorted(cum, tail, side="right"))
    hi = int(np.flatnonzero(pooled)[-1]) + 1
    return float(edges[max(lo - 1, 0)]), float(edges[hi])


def _step(ax: Any, edges: np.ndarray, counts: Sequence[int], **kw: Any) -> None:
    c = np.asarray(counts, dtype=float)
    total = c.sum()
    dens = c / (total * np.diff(edges)) if total else c
    ax.stairs(dens, edges, **kw)


def plot_reequilibration(
    result: str | Path | Mapping[str, Any], axes: Any = None, level: int | None = None
) -> tuple[Figure, np.ndarray]:
    """Four panels against the level L, one colour per run: (a) the fraction of kept weights
    below the level-L threshold after retraining; (b) the relative projection length with
    retraining (solid) and without (dashed); (c) the overlap of successive pruning steps, with
    its chance level (dotted); (d) the ``log10|w|`` histograms of the kept weights at ``level``
    (default: the middle one) at the projection (dashed) and after retraining (solid), density
    on a log scale so that the tail below each run's threshold ``log10 t_L`` (thin vertical
    line) shows.

    Returns:
        ``(fig, axes)`` with the four axes (a 2×2 array).
    """
    res = load_result(result, ("reequilibration",))
    if axes is None:
        fig = Figure(figsize=(10.0, 7.0), layout="constrained")
        axes = fig.subplots(2, 2)
    axes = np.asarray(axes)
    fig = axes.flat[0].figure
    a, b, c, d = axes.flat
    edges = np.asarray(res["bin_edges"], dtype=float)
    level = _middle_level(res) if level is None else level
    drawn = []
    for i, e in enumerate(res["runs"]):
        rows = e["levels"]
        lv = np.array([r["level"] for r in rows], dtype=float)
        col = f"C{i}"
        a.plot(lv, _values(rows, "below_retrained"), marker="o", ms=3, color=col, label=e["label"])
        b.plot(lv, _values(rows, "projection_length"), marker="o", ms=3, color=col,
               label=f"{e['label']}, retrained")  # fmt: skip
        b.plot(lv, _values(rows, "projection_length_without_retraining"), ls="--", marker="x",
               ms=3, color=col, label=f"{e['label']}, not retrained")  # fmt: skip
        c.plot(lv, _values(rows, "removed_overlap"), marker="o", ms=3, color=col, label=e["label"])
        if i == 0:
            c.plot(lv, _values(rows, "overlap_chance"), ls=":", color="0.4", label="chance")
        row = next((r for r in rows if r["level"] == level), None)
        if row is not None:
            drawn += [row["hist_projection"], row["hist_retrained"]]
            _step(d, edges, row["hist_projection"], color=col, ls="--", lw=1)
            _step(d, edges, row["hist_retrained"], color=col, lw=1.4, label=e["label"])
            if row.get("threshold"):
                d.axvline(np.log10(row["threshold"]), color=col, lw=0.7, alpha=0.7)
    a.set_ylabel("kept weights below t_L\nafter retraining (fraction)")
    b.set_ylabel("‖w − m_{L+1}⊙w‖ / ‖w‖")
    c.set_ylabel("overlap of successive pruning steps (fraction)")
    for ax in (a, b, c):
        ax.set_xlabel("level L (pruned to L+1)")
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize=7)
    if drawn:
        d.set_xlim(*_span(edges, drawn))
    d.set_yscale("log")
    d.set_xlabel("log10 |w| of the weights m_{L+1} keeps")
    d.set_ylabel("density (log scale)")
    d.set_title(f"level {level}: projection m⊙w^({level}) dashed, retrained w^({level + 1}) "
                "solid, t_L vertical", fontsize=8)  # fmt: skip
    d.legend(frameon=False, fontsize=7)
    d.grid(alpha=0.3)
    fig.suptitle(res.get("title", ""), fontsize=10)
    return fig, axes


def plot_histograms(
    result: str | Path | Mapping[str, Any], levels: Sequence[int] | None = None
) -> tuple[Figure, np.ndarray]:
    """Small multiples, one row per run and one column per level: the ``log10|w|`` histograms
    of the kept weights at the projection (grey) and after retraining (colour), with the
    level-L threshold (dashed) and the fraction that fell below it.

    Args:
        levels: the columns (default: up to six levels spread over the runs' range).

    Returns:
        ``(fig, axes)`` (a rows × columns array).
    """
    res = load_result(result, ("reequilibration",))
    edges = np.asarray(res["bin_edges"], dtype=float)
    allv = sorted({r["level"] for e in res["runs"] for r in e["levels"]})
    if levels is None:
        idx = np.unique(np.linspace(0, len(allv) - 1, min(6, len(allv))).round().astype(int))
        levels = [allv[i] for i in idx]
    nrow, ncol = len(res["runs"]), len(levels)
    fig = Figure(figsize=(2.3 * ncol + 0.8, 1.9 * nrow + 0.8), layout="constrained")
    axes = np.asarray(fig.subplots(nrow, ncol, sharex=True, squeeze=False))
    shown = [h for e in res["runs"] for r in e["levels"] if r["level"] in levels
             for h in (r["hist_projection"], r["hist_retrained"])]  # fmt: skip
    if shown:
        axes[0, 0].set_xlim(*_span(edges, shown))
    for i, e in enumerate(res["runs"]):
        by = {r["level"]: r for r in e["levels"]}
        for j, lv in enumerate(levels):
            ax = axes[i, j]
            r = by.get(lv)
            if r is None:
                ax.set_axis_off()
                continue
            _step(ax, edges, r["hist_projection"], color="0.5", fill=True, alpha=0.35)
            _step(ax, edges, r["hist_retrained"], color=f"C{i}", lw=1.2)
            if r.get("threshold"):
                ax.axvline(np.log10(r["threshold"]), color="k", ls="--", lw=0.7)
            below = r.get("below_retrained")
            # a fraction, as on the summary figure's axis: one unit for the quantity
            note = f", below t_L: {below:.3f}" if below is not None else ""
            ax.set_title(f"{e['label']}, L={lv}{note}", fontsize=7)
            ax.tick_params(labelsize=6)
            # Every panel says what its axes are: small multiples are read one at a time.
            ax.set_xlabel("log10 |w|", fontsize=7)
            ax.set_ylabel("density", fontsize=7)
    fig.suptitle("kept weights: projection m_{L+1}⊙w^(L) (grey) and retrained w^(L+1) (colour); "
                 "dashed: t_L; titles: the fraction below t_L after retraining", fontsize=8)  # fmt: skip
    return fig, axes
