"""``landscape show``: a table of a run's levels (reads metrics.json only; no torch)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from landscape.cli._common import print_run, print_runs

VERB = "show"
HELP = "print a run's table: level, density, train/test error, seconds"
ORDER = 30
COMPUTES = False  # reads files only: no engine group

__all__ = ["print_run"]  # kept here for callers of the old location


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dirs",
        nargs="+",
        metavar="RUN_DIR",
        help="run directories written by a runner; a folder of runs lists them as `landscape runs`",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the rows as JSON instead of a table"
    )
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")


def run(args: argparse.Namespace) -> int:
    from landscape import paths
    from landscape.io import level_metrics

    for run_dir in args.run_dirs:
        if Path(run_dir).is_dir() and not paths.config(Path(run_dir)).exists():
            _show_folder(Path(run_dir), args)  # a folder of runs: the `landscape runs` table
            continue
        if args.json:
            print(json.dumps(level_metrics(Path(run_dir)), indent=2))
        else:
            print_run(Path(run_dir), markdown=args.markdown)
    return 0


def _show_folder(folder: Path, args: argparse.Namespace) -> None:
    """The ``landscape runs`` table of a folder of run directories."""
    if not print_runs(folder, as_json=args.json, markdown=args.markdown):
        raise ValueError(
            f"{folder} is not a run directory (no config.json) and holds none; pass a run "
            "directory or a folder of them"
        )
