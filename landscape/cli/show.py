"""``landscape show``: a table of a run's levels."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from landscape import paths
from landscape.checkpoint import load_json
from landscape.cli._common import format_table
from landscape.runs import level_metrics

VERB = "show"
HELP = "print a run's table: level, density, train/test error, seconds"
ORDER = 30

__all__ = ["print_run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dirs", nargs="+", metavar="RUN_DIR", help="run directories written by a runner"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the rows as JSON instead of a table"
    )
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")


HEADERS = ("level", "density", "train err", "test err", "test acc", "seconds")


def _cells(r: dict) -> tuple:
    return (
        r["level"],
        r["density"],
        r["train_error"],
        r["test_error"],
        1 - r["test_error"],
        f"{r['seconds']:.1f}",
    )


def print_run(run_dir: Path, markdown: bool = False) -> None:
    rows = level_metrics(run_dir)
    cfg = load_json(paths.config(run_dir))
    print(f"\n{cfg['method']} run {run_dir}")
    if not rows:
        print("  (no finished level yet)")
        return
    print(format_table(HEADERS, [_cells(r) for r in rows], markdown=markdown))
    total = sum(r["seconds"] for r in rows)
    print(f"{len(rows)} levels, {total:.1f}s of training and evaluation")


def run(args: argparse.Namespace) -> int:
    for run_dir in args.run_dirs:
        if args.json:
            print(json.dumps(level_metrics(Path(run_dir)), indent=2))
        else:
            print_run(Path(run_dir), markdown=args.markdown)
    return 0
