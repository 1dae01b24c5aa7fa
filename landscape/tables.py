"""Plain-text and Markdown tables for summaries and reports (torch-free)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["RUN_HEADERS", "format_table", "plus_minus", "run_cells"]


def format_table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], markdown: bool = False
) -> str:
    """A fixed-width (or Markdown) table; floats printed with 4 significant decimals."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 1000 else f"{v:.1f}"
        return str(v)

    body = [[cell(v) for v in r] for r in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)
    ]
    if markdown:
        line = lambda r: "| " + " | ".join(c.rjust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
        sep = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
        return "\n".join([line(headers), sep, *map(line, body)])
    line = lambda r: "  ".join(c.rjust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *map(line, body)])


def plus_minus(value: float | None, err: float | None) -> str:
    """``"12.3 ± 0.45"``, or the value alone without an error, or ``"—"`` without a value."""
    if value is None:
        return "—"
    return f"{value:.5g} ± {err:.2g}" if err is not None else f"{value:.5g}"


RUN_HEADERS = ("level", "density", "train err", "test err", "test acc", "seconds")


def run_cells(r: Mapping[str, Any]) -> tuple:
    """One level's row of a run table (:data:`RUN_HEADERS`), from its ``metrics.json``."""
    return (r["level"], r["density"], r["train_error"], r["test_error"], 1 - r["test_error"],
            f"{r['seconds']:.1f}")  # fmt: skip
