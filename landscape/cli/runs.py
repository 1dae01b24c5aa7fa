"""``landscape runs [ROOT]``: one line per run directory under ROOT (reads JSON only; no torch)."""

from __future__ import annotations

import argparse

from landscape.cli._common import print_runs

VERB = "runs"
HELP = "list the runs in a folder: method, model, data, seed, levels, last error, state, analyses"
ORDER = 31
COMPUTES = False  # reads files only: no engine group
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

    root = args.root or paths.default_root()
    found = print_runs(root, as_json=args.json, markdown=args.markdown, check=args.check)
    if not found and not args.json:
        print(f"no run directories in {root} (folders with a config.json)")
    return 0
