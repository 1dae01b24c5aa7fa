"""Flatness-bound figures [PAUL §3.3] (docs/science.md §10): the inequality at one level, the
predicted maximal ratio p* across levels, and the one-shot retraining against the prediction.

Every function reads a record written by ``landscape bound`` (a ``result.json`` path,
its folder, or the loaded dict) and draws it; nothing is computed here, and neither
torch nor the run-reading code is imported. Figures are bare
:class:`~matplotlib.figure.Figure` objects (no pyplot state).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from landscape.plotting._common import bn_note, load_result

__all__ = ["load_result", "plot_bound", "plot_bound_empirical", "plot_bound_levels"]

_KINDS = ("magnitude", "random")
_COLORS = {"magnitude": "C0", "random": "C3"}


def _two(axes: Sequence[Axes] | None, size: tuple[float, float]) -> tuple[Figure, list[Axes]]:
    if axes is not None:
        return axes[0].figure, list(axes)
    fig = Figure(figsize=size, layout="constrained")
    return fig, list(fig.subplots(1, 2))


def _legend_below(ax: Axes, ncol: int) -> None:
    """The legend under the axes, outside the data area: inside, the vertical markers of
    ``p*`` and the run's ratio run through it whatever corner it takes."""
    ax.legend(frameon=False, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16),
              ncol=ncol)  # fmt: skip


def _actual(ax: Axes, ratio: float | None, vertical: bool = True) -> None:
    if ratio is None:
        return
    if vertical:
        ax.axvline(ratio, color="k", ls=":", lw=1, label=f"run's ratio {ratio:.3f}")
    else:
        ax.axhline(ratio, color="k", ls=":", lw=1, label=f"run's ratio {ratio:.3f}")


def plot_bound(
    result: str | Path | Mapping[str, Any], axes: Sequence[Axes] | None = None
) -> tuple[Figure, np.ndarray]:
    """Left: both sides of ``p·D ≤ tr[(I + R(p)²/(2ε) H_L)^{-1}]`` over ``p``, divided by
    ``D``, for magnitude and random pruning, with ``p*`` and the run's ratio marked.
    Right: ``p*`` against ε (× 0.25 … 4), the default ε marked.

    Args:
        result: a ``bound`` result.
        axes: two axes to draw into (default: a new 1×2 figure).
    """
    res = load_result(result, ("bound",))
    fig, (ax, bx) = _two(axes, (9.0, 4.6))
    p, dim = np.asarray(res["ratios"]), res["num_kept"]
    ax.plot(p, p, color="gray", lw=1, label="left side p")
    for k in _KINDS:
        rhs = np.asarray(res["rhs"][k]) / dim
        ax.plot(p, rhs, color=_COLORS[k], label=f"right side, {k}")
        star = res["p_star"][k]
        ax.plot([star], [star], "o", color=_COLORS[k], ms=5)
        ax.axvline(star, color=_COLORS[k], ls="--", lw=0.8, label=f"p* {k} = {star:.3f}")
    _actual(ax, res.get("actual_ratio"))
    ax.set_xlabel("pruning ratio p (fraction of the kept weights)")
    ax.set_ylabel("(1/D) · side (fraction of D)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    _legend_below(ax, ncol=2)
    ax.grid(alpha=0.3)
    factors = np.asarray(res["epsilon_factors"])
    eps = res["epsilon"]
    for k in _KINDS:
        bx.plot(factors * eps, res["p_star_epsilon"][k], "o-", ms=3, color=_COLORS[k], label=k)
    bx.axvline(eps, color="gray", lw=0.8, ls="--", label=f"ε = {eps:.3g} ({res['epsilon_rule']})")
    _actual(bx, res.get("actual_ratio"), vertical=False)
    bx.set_xscale("log")
    bx.set_xticks(factors * eps, [f"{v:.3g}" for v in factors * eps])
    bx.minorticks_off()
    bx.set_xlabel("ε (loss increase)")
    bx.set_ylabel("predicted p* (fraction of the kept weights)")
    _legend_below(bx, ncol=2)
    bx.grid(alpha=0.3, which="both")
    fig.suptitle(f"{res.get('title', '')}: D = {dim}, trace {res['method']}", fontsize=9)
    return fig, np.asarray([ax, bx])


def plot_bound_levels(
    summary: str | Path | Mapping[str, Any], ax: Axes | None = None
) -> tuple[Figure, Axes]:
    """Predicted ``p*`` against the level for magnitude and random pruning (band: ε × 0.25 … 4),
    the ratio the run used, and the empirical maximal ratio where it was measured."""
    res = load_result(summary, ("bound-levels",))
    rows = res["levels"]
    if ax is None:
        fig = Figure(figsize=(6.0, 3.8), layout="constrained")
        ax = fig.subplots()
    fig = ax.figure
    lv = np.array([r["level"] for r in rows])
    for k in _KINDS:
        star = np.array([r["p_star"][k] for r in rows])
        ax.plot(lv, star, "o-", ms=4, color=_COLORS[k], label=f"predicted p*, {k}")
        sweep = np.array([r["p_star_epsilon"][k] for r in rows])
        ax.fill_between(lv, sweep.min(axis=1), sweep.max(axis=1), color=_COLORS[k], alpha=0.15,
                        lw=0, label=f"ε × {rows[0]['epsilon_factors'][0]:g} … "
                        f"{rows[0]['epsilon_factors'][-1]:g}")  # fmt: skip
        emp = [(r["level"], r["empirical_max"][k]) for r in rows
               if r.get("empirical_max") and r["empirical_max"][k] is not None]  # fmt: skip
        if emp:
            x, y = zip(*emp)
            ax.plot(x, y, "s", mfc="none", ms=7, color=_COLORS[k], label=f"empirical max, {k}")
    actual = np.array([np.nan if r["actual_ratio"] is None else r["actual_ratio"] for r in rows])
    if np.isfinite(actual).any():
        ax.plot(lv, actual, "x--", color="k", lw=1, ms=6, label="ratio the run used")
    ax.set_xlabel("level L")
    ax.set_ylabel("pruning ratio (fraction of the kept weights)")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(lv)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=7)
    ax.set_title(f"{res.get('title', '')}\nε = {res['epsilon']:.3g} ({res['epsilon_rule']})",
                 fontsize=9)  # fmt: skip
    return fig, ax


def plot_bound_empirical(
    result: str | Path | Mapping[str, Any], axes: Sequence[Axes] | None = None
) -> tuple[Figure, np.ndarray]:
    """Left: test error (a fraction) of each one-shot pruned and retrained network against
    the ratio (filled: linearly connected to ``w^(L)``), the matching threshold and the
    predicted ``p*``. Right: the error barrier to ``w^(L)`` (a fraction) against the ratio,
    with the tolerance. Each legend sits below its panel, where no curve or line runs.

    Args:
        result: a ``bound-empirical`` result.
        axes: two axes to draw into (default: a new 1×2 figure).
    """
    res = load_result(result, ("bound-empirical",))
    fig, (ax, bx) = _two(axes, (9.0, 4.8))
    r = np.asarray(res["ratios"])
    for k in _KINDS:
        q, c = res[k], _COLORS[k]
        err = np.asarray(q["test_error"])
        ax.plot(r, err, "-", color=c, lw=1, label=f"{k} mask, retrained")
        conn = np.asarray(q["connected"], dtype=bool)
        ax.plot(r[conn], err[conn], "o", color=c, ms=5)
        ax.plot(r[~conn], err[~conn], "o", mfc="none", color=c, ms=5)
        ax.axvline(res["predicted"][k], color=c, ls="--", lw=0.8,
                   label=f"predicted p* {k} = {res['predicted'][k]:.3f}")  # fmt: skip
        emp = res["empirical_max"][k]
        if emp is not None:
            ax.axvline(emp, color=c, ls=":", lw=1.2, label=f"empirical max {k} = {emp:g}")
        bx.plot(r, q["error_barrier"], "o-", ms=4, color=c, label=k)
    ax.axhline(res["threshold"], color="gray", lw=0.8,
               label=f"matching: ≤ {res['reference_error']:.3f} + {res['tolerance']:g}")  # fmt: skip
    _actual(ax, res.get("actual_ratio"))
    ax.set_xlabel("one-shot pruning ratio p (fraction)")
    ax.set_ylabel("test error after retraining (fraction)")
    ax.set_xlim(0, 1)
    _legend_below(ax, ncol=2)
    ax.grid(alpha=0.3)
    bx.axhline(res["tolerance"], color="gray", lw=0.8, label=f"tolerance {res['tolerance']:g}")
    bx.set_xlabel("one-shot pruning ratio p (fraction)")
    bx.set_ylabel("error barrier to w^(L) (fraction)")
    bx.set_title(f"linear path to w^(L), {bn_note(res)}", fontsize=8)
    bx.set_xlim(0, 1)
    _legend_below(bx, ncol=3)
    bx.grid(alpha=0.3)
    fig.suptitle(f"{res.get('title', '')} (filled: linearly connected)", fontsize=9)
    return fig, np.asarray([ax, bx])
