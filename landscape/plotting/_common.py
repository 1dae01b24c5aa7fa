"""What every plot module shares: reading a result, and making axes without pyplot."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from landscape.io import load_json

__all__ = ["axes", "bn_note", "cell_label", "load_result", "matrix_font", "unit", "with_unit"]


def load_result(
    result: str | Path | Mapping[str, Any], kinds: tuple[str, ...] = ()
) -> Mapping[str, Any]:
    """A result dict from a dict, a JSON file, or the analysis folder holding ``result.json``.

    Args:
        kinds: the ``kind`` values the caller can draw (empty: any); a result of another
            kind is a ``ValueError`` that names both, instead of a ``KeyError`` deep in
            the plot (a result without ``kind``, e.g. built by hand, is drawn as it is).
    """
    if isinstance(result, Mapping):
        res, source = result, "the result"
    else:
        path = Path(result)
        if path.is_dir():
            path = path / "result.json"
        res, source = load_json(path), str(path)  # CheckpointError if missing or corrupt
    if kinds and "kind" in res and res["kind"] not in kinds:
        raise ValueError(
            f"{source} is a {res['kind']!r} result; this figure draws "
            f"{' or '.join(repr(k) for k in kinds)} results (`landscape plot result FILE` "
            "draws any analysis result by its kind)"
        )
    return res


def axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """``(ax.figure, ax)``, or a new bare :class:`Figure` (no pyplot: no global state, any backend)."""
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots()


def cell_label(value: float, decimals: int = 3) -> str:
    """A matrix cell's text: ``value`` to ``decimals`` places, never ``-0.000`` (a value
    that rounds to zero is written without a sign; a barrier is never below zero, but a
    mean of tiny float differences can be, e.g. ``-1e-17``)."""
    text = f"{value:.{decimals}f}"
    return text.lstrip("-") if float(text) == 0 else text


def bn_note(res: Mapping[str, Any]) -> str:
    """How BatchNorm was handled, for a title: ``BN: <policy>``, or ``no BatchNorm`` for a
    network without it (where the policy changes nothing and naming it would mislead)."""
    if res.get("has_batchnorm") is False:
        return "no BatchNorm"
    return f"BN: {res.get('bn_policy')}"


def unit(quantity: str) -> str:
    """The unit the records hold ``quantity`` in, for an axis label: errors, accuracies and
    their barriers are fractions of the split (0.05, never 5 %); losses are cross-entropy in
    nats; anything else (a ratio, a curvature) has no unit to name (``""``).

    Every figure of a verb draws a record's number as it is, so its label says which of the
    two a reader is looking at: the analysis scripts draw some of the same quantities in %.
    """
    q = quantity.replace("_", " ").lower()
    if "error" in q or "accuracy" in q:
        return "fraction"
    if "loss" in q:
        return "nats"
    return ""


def with_unit(label: str, quantity: str | None = None) -> str:
    """``label (unit)`` for the unit of ``quantity`` (default: the label itself), or
    ``label`` alone when the quantity has none (:func:`unit`)."""
    u = unit(label if quantity is None else quantity)
    return f"{label} ({u})" if u else label


def matrix_font(n: int) -> float:
    """Font size of the cell labels of an ``n × n`` matrix drawn about 0.3 in a cell."""
    return 7.0 if n <= 8 else 6.0 if n <= 12 else 5.0
