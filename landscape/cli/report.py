"""``landscape report RUN [RUN ...]``: one self-contained HTML page of a run or a study.

Each RUN is a run directory or a folder holding run directories (a study's root, the
demo's folder). The page shows the runs' settings and levels, every finished analysis
result found in them (figures inline, numbers, settings, the command that reproduces it,
a link to its folder), unfinished result folders, and which analyses are missing. It
reads result records only: no torch, nothing recomputed; the file needs no network.
"""

from __future__ import annotations

import argparse

VERB = "report"
HELP = "one self-contained HTML page of runs and every analysis result in them"
DESCRIPTION = __doc__.split("\n\n", 1)[1]
ORDER = 35
COMPUTES = False  # reads result records only: no engine group


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="run directories, or folders holding them")  # fmt: skip
    parser.add_argument("--out", default="report.html", help="the HTML file to write")
    parser.add_argument("--title", default="", help="the page's title")


def run(args: argparse.Namespace) -> int:
    from landscape.report import write_report

    out, runs = write_report(args.runs, args.out, args.title)
    n = sum(r.finished for run in runs for r in run.results)
    print(f"report of {len(runs)} run(s), {n} finished analysis result(s) → {out}")
    return 0
