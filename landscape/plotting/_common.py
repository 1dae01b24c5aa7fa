"""What every plot module shares: reading a result, and making axes without pyplot."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["axes", "load_result"]


def load_result(result: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    """A result dict from a dict, a ``result.json`` file or the analysis folder holding one."""
    if isinstance(result, Mapping):
        return result
    path = Path(result)
    if path.is_dir():
        path = path / "result.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; pass a result.json written by an analysis")
    return json.loads(path.read_text())


def axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """``(ax.figure, ax)``, or a new bare :class:`Figure` (no pyplot: no global state, any backend)."""
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots()
