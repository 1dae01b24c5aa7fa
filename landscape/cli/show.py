"""``landscape show``: a table of a run's levels (reads metrics.json only; no torch)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from landscape.cli._common import print_run

VERB = "show"
HELP = "print a run's table: level, density, train/test error, seconds"
ORDER = 30
COMPUTES = False  # reads files only: no engine group

__all__ = ["print_run"]  # kept here for callers of the old location


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dirs", nargs="+", metavar="RUN_DIR", help="run directories written by a runner"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the rows as JSON instead of a table"
    )
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")


def run(args: argparse.Namespace) -> int:
    from landscape.io import level_metrics

    for run_dir in args.run_dirs:
        if args.json:
            print(json.dumps(level_metrics(Path(run_dir)), indent=2))
        else:
            print_run(Path(run_dir), markdown=args.markdown)
    return 0
