"""Low-loss curve figures (Garipov et al. 2018, Fig. 1): loss and error along a trained
curve next to the straight line between the same two networks.

Reads a ``curve`` result (``result.json``, its folder or the loaded dict); computes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from landscape.plotting._common import bn_note, load_result, with_unit

__all__ = ["plot_curve"]


def plot_curve(
    result: str | Path | Mapping[str, Any], axes: Sequence[Axes] | None = None
) -> tuple[Figure, Sequence[Axes]]:
    """Two panels against ``t``: error (left) and loss (right) on the curve and on the line.

    The titles give each path's barrier (max over ``t`` of the value above the ends'
    linear interpolation [PAUL Def. 2.1]); the suptitle names the two networks, the curve
    family and the BatchNorm policy.
    """
    res = load_result(result, ("curve",))
    if axes is None:
        fig = Figure(figsize=(8.4, 3.3), layout="constrained")
        axes = fig.subplots(1, 2)
    else:
        fig = axes[0].figure
    t = np.asarray(res["ts"])
    split = res.get("settings", {}).get("split", "test")
    family = res.get("settings", {}).get("curve", "curve")
    for ax, key, what in zip(axes, ("errors", "losses"), ("error", "loss")):
        ax.plot(t, res["line"][key], "o--", ms=3, color="gray", label="straight line")
        ax.plot(t, res["curve"][key], "o-", ms=3, color="C0", label=f"trained {family}")
        ax.set_xlabel("t  (t = 0: CKPT_A, t = 1: CKPT_B)")
        ax.set_ylabel(with_unit(f"{split} {what}"))
        ax.set_title(f"{what} barrier: line {res['line'][f'{what}_barrier']:.4f}, "
                     f"curve {res['curve'][f'{what}_barrier']:.4f}", fontsize=9)  # fmt: skip
        ax.legend(frameon=False, fontsize=8)
    fig.suptitle(f"{res.get('title', '')}  ({bn_note(res)})", fontsize=9)
    return fig, axes
