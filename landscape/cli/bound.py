"""``landscape bound RUN``: the flatness bound on the pruning ratio [PAUL §3.3].

Per level: the projection length R(p) of magnitude and random pruning on a grid of
ratios p, the right side tr[(I + R(p)²/(2ε) H_L)^-1] of the bound over the kept
prunable weights (exact eigendecomposition up to --exact-below kept weights, stochastic
Lanczos quadrature above), the predicted maximal ratio p*(L) for both mask kinds, p*
for ε × 0.25 … 4, and the ratio the run used. Default ε: the dense network's training
loss on the same samples (docs/science.md §10). Each level's result goes to
level_NN/analysis/bound_<hash>/; with --all-levels a summary draws p* against the level.

With --empirical, each level's solution is also pruned one-shot by each of --ratios
(global magnitude and random masks), retrained from the run's rewind point with the
run's recipe (saved and reused), and checked for matching and linear connectivity to
w^(L). Re-running the same command reuses finished results.
"""

from __future__ import annotations

import argparse

from landscape import settings
from landscape.cli._common import add_job_arguments, add_level_choice
from landscape.specs import BoundSpec

VERB = "bound"
HELP = (
    "flatness bound on the pruning ratio: predicted p*(L), optionally against one-shot retraining"
)
DESCRIPTION = __doc__.split("\n\n", 1)[1]
ORDER = 61


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "run_dir", metavar="RUN", help="a run directory (or a level_NN folder of one)"
    )
    add_level_choice(parser, "every trained level, plus p* against the level")
    settings.add_arguments(parser, BoundSpec, title="the bound and its empirical check")
    add_job_arguments(parser, out="output folder of the per-level results (default: each "
                      "level's analysis/)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Under ``torchrun`` every rank computes its share and rank 0 alone writes and prints."""
    from landscape.jobs.targets import on_ranks

    with on_ranks(args):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    spec = settings.from_args(BoundSpec, args)
    from landscape.jobs.bound import bound, summary_text  # here: --help stays torch-free

    levels = "all" if args.all_levels else [args.level] if args.level is not None else None
    res = bound(args.run_dir, spec, levels=levels, out=args.out, force=args.force,
                wait=args.wait, quiet=args.quiet)  # fmt: skip
    print(summary_text(res))
    return 0
