"""``landscape curvature RUN``: the curvature of the pruning direction, magnitude vs random.

At level L's solution w^(L), the pruning direction Δ = m⊙w − w of the next mask (nonzero
only on the weights it removes) and its curvature κ = ΔᵀHΔ/‖Δ‖² under the training-loss
Hessian H (all parameters, the first --samples of --split, unaugmented, BatchNorm in eval
mode), one Hessian-vector product per direction [PAUL §3.3]. The magnitude mask is the run's
own m_{L+1} (else, at the last level, global magnitude pruning of w^(L) by the run's
--prune-fraction); it is compared with --random-masks random masks removing as many kept
weights. Each level's result goes to level_LL/analysis/curvature_<hash>/ (result.json,
result.npz, curvature.png, report.md); --all-levels measures every level with a next mask and
adds curvature-levels_<hash>/ with κ against level. Re-running reuses finished results.
"""

from __future__ import annotations

import argparse

from landscape import settings
from landscape.cli._common import add_job_arguments, add_level_choice
from landscape.specs import DirectionCurvatureSpec

VERB = "curvature"
HELP = "curvature ΔᵀHΔ/‖Δ‖² of the pruning direction: magnitude mask vs random masks"
DESCRIPTION = __doc__.split("\n\n", 1)[1]
ORDER = 62


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("run_dir", metavar="RUN", help="a run directory (or a level_NN folder)")
    add_level_choice(parser, "every level with a next mask, plus κ against level")
    settings.add_arguments(parser, DirectionCurvatureSpec, title="what to compute, on which data")
    add_job_arguments(parser, out="output folder (default: the level's analysis/)")


def run(args: argparse.Namespace) -> int:
    """Under ``torchrun`` every rank computes its share and rank 0 alone writes and prints."""
    from landscape.jobs.targets import on_ranks

    with on_ranks(args):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    spec = settings.from_args(DirectionCurvatureSpec, args)
    from landscape.jobs.curvature import curvature, summary_headers, summary_rows
    from landscape.tables import format_table

    levels = "all" if args.all_levels else args.level
    res = curvature(args.run_dir, spec, levels=levels, out=args.out, force=args.force,
                    wait=args.wait, quiet=args.quiet)  # fmt: skip
    records = [c.record for c in res.children] or [res.record]
    print()
    print(format_table(summary_headers(), summary_rows(records)))
    print(f"{'across levels' if res.children else 'result'} → {res.folder}")
    return 0
