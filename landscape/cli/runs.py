"""``landscape runs [ROOT]``: one line per run directory under ROOT (reads JSON only; no torch)."""

from __future__ import annotations

import argparse
import json

from landscape.cli._common import format_table

VERB = "runs"
HELP = "list the runs in a folder: method, model, data, seed, levels, last error, state, analyses"
ORDER = 31
DESCRIPTION = (
    "One line per run directory in ROOT (default: $LANDSCAPE_ROOT or ./runs): method, model, "
    "data, seed, the settings that differ between the listed runs, levels finished of levels "
    "asked (0..L), the last level's density and test error, its state (finished, being "
    "written by pid ..., interrupted, damaged) and the analyses it holds. "
    "Example: landscape runs runs/"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", nargs="?", default=None, metavar="ROOT",
                        help="folder of run directories (default: $LANDSCAPE_ROOT or ./runs)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the runs as JSON")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument(
        "--check", action="store_true",
        help="also compare every finished level's files with the digests recorded when they "
        "were written (reads every checkpoint)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from landscape import paths
    from landscape.catalog import find_runs, runs_table, summarize, world_note

    root = args.root or paths.default_root()
    runs = [summarize(d, check=args.check) for d in find_runs(root)]
    if args.json:
        print(json.dumps([r.to_dict() for r in runs], indent=2))
        return 0
    if not runs:
        print(f"no run directories in {root} (folders with a config.json)")
        return 0
    headers, rows = runs_table(runs)
    print(format_table(headers, rows, markdown=args.markdown))
    for r in runs:
        note = world_note(r.world_sizes)
        if note:
            print(f"{r.name}: {note}")
    return 0
