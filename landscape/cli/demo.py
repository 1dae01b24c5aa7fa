"""``landscape demo``: a whole small study on MNIST-1D (measured times: the README).

IMP-WR, IMP-LRR and IMP-FT on the MNIST-1D MLP (10 levels), then, on the IMP-WR run, the
path through its levels with the barrier matrix, one slice, the Hessian spectrum of every
level and the flatness bound at level 2; a Markdown report, figures and report.html (every
run and result on one page). Every step resumes: re-running the command only redoes what
is missing. ``--quick`` runs 3 short levels (what the tests run). The work is
``landscape.jobs.demo.demo``."""

from __future__ import annotations

import argparse

from landscape.cli._common import add_engine_arguments, format_table

VERB = "demo"
HELP = "a small study on MNIST-1D: IMP, connectivity, a slice, Hessian spectra, the bound"
ORDER = 1
DESCRIPTION = __doc__


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        default="landscape_demo",
        help="folder for runs, figures, report.md and report.html",
    )
    parser.add_argument("--levels", type=int, default=10, help="pruning levels (20%% each)")
    parser.add_argument("--quick", action="store_true", help="3 short levels (what the tests run)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_engine_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.levels < 1:
        raise ValueError(f"--levels must be at least 1, got {args.levels}")
    from landscape.io import level_metrics
    from landscape.jobs.demo import demo

    res = demo(args.out, levels=args.levels, quick=args.quick, device=args.device or "auto",
               threads=args.threads or 0, quiet=args.quiet)  # fmt: skip
    rows = []
    for label, run_dir in res.runs.items():
        levels = level_metrics(run_dir)
        rows.append((label, levels[-1]["density"], 1 - levels[-1]["test_error"],
                     1 - levels[0]["test_error"]))  # fmt: skip
    print(f"\nlandscape demo: {len(res.runs)} runs and their analyses in {res.seconds:.0f} s")
    print(format_table(("method", "final density", "final test acc", "dense test acc"), rows))
    print(f"figures: {res.report.parent / 'figures'}/\nreport:  {res.report}\npage:    {res.html}")
    return 0
