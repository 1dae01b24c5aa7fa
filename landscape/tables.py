"""Plain-text and Markdown tables for summaries and reports (torch-free).

One number format per quantity, in every verb's table: errors, losses, densities and
ratios as fractions with 4 decimals (:func:`format_table`'s floats); curvatures
(eigenvalues, traces, κ) and norms with 4 significant digits (:func:`sig`); an estimate
with its error rounded where the error's second digit falls (:func:`plus_minus`);
seconds with 1 decimal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["RUN_HEADERS", "format_table", "plus_minus", "run_cells", "sig"]


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


def sig(value: float | None, digits: int = 4) -> str:
    """``value`` with ``digits`` significant digits, trailing zeros kept so that a column
    reads alike (``3.810``, ``12.00``, ``0.001234``, ``1.234e+05``); ``"—"`` for ``None``."""
    if value is None:
        return "—"
    text = f"{value:#.{digits}g}"
    return text[:-1] if text.endswith(".") else text


def plus_minus(value: float | None, err: float | None) -> str:
    """``"91.1 ± 3.7"``: the error to 2 significant digits and the value rounded at the
    same decimal place; the value alone (:func:`sig`) without an error, ``"—"`` without a
    value."""
    if value is None:
        return "—"
    if err is None or not math.isfinite(err) or not math.isfinite(value):
        return sig(value)
    if err == 0:
        return f"{sig(value)} ± 0"
    decimals = 1 - math.floor(math.log10(abs(err)))
    if decimals <= 0:  # an error of 10 or more: whole numbers
        return f"{value:.0f} ± {err:.0f}"
    return f"{value:.{decimals}f} ± {err:.{decimals}f}"


RUN_HEADERS = ("level", "density", "train err", "test err", "test acc", "seconds")


def run_cells(r: Mapping[str, Any]) -> tuple:
    """One level's row of a run table (:data:`RUN_HEADERS`), from its ``metrics.json``."""
    return (r["level"], r["density"], r["train_error"], r["test_error"], 1 - r["test_error"],
            f"{r['seconds']:.1f}")  # fmt: skip
