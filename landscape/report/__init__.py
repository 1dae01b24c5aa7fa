"""A study's self-contained HTML page, built from result records alone (``landscape report``).

For each run directory named (or found under a study folder): its settings and levels
table, then every analysis folder in it — finished ones with their figures (inline), their
scalar numbers, settings and the command that reproduces them, unfinished ones flagged —
and the analyses not computed yet. Generic over result kinds: a kind this module does not
know is still shown with its numbers and figures, so analyses added later need no change
here. Imports no torch and recomputes nothing (docs/architecture.md, ``report``).

Example:
    >>> from landscape.report import write_report
    >>> path, runs = write_report(["runs/"], "report.html")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from landscape.io import atomic_write_text
from landscape.report.collect import ANALYSES, RunRecord, collect, find_runs
from landscape.report.html import render

__all__ = ["ANALYSES", "RunRecord", "build_report", "write_report"]


def build_report(targets: Iterable[str | Path], out: str | Path = "report.html",
                 title: str = "") -> tuple[str, Sequence[RunRecord]]:  # fmt: skip
    """The page's HTML for ``targets`` (run directories or folders holding them) and the
    runs it shows; links are relative to ``out``'s folder.

    Raises:
        LandscapeError: a target is neither a run directory nor a folder holding one.
    """
    runs = [collect(p) for p in find_runs(targets)]
    return render(runs, Path(out), title), runs


def write_report(targets: Iterable[str | Path], out: str | Path = "report.html",
                 title: str = "") -> tuple[Path, Sequence[RunRecord]]:  # fmt: skip
    """Write the page (atomically) to ``out``; its path and the runs it shows
    (:func:`build_report`)."""
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; name the HTML file, e.g. {out / 'report.html'}")
    if out.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"--out {out}: the report is an HTML page; name it *.html")
    text, runs = build_report(targets, out, title)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, text)
    return out, runs
