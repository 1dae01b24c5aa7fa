"""``landscape reequilibration RUN [RUN ...]``: how retraining redistributes the kept weights.

For every level L of each run with a finished level L+1 [PAUL §3.4]: log10|w| histograms of
the weights m_{L+1} keeps, at the projection m_{L+1}⊙w^(L) and after retraining w^(L+1); the
fraction of them that end below t_L, the largest |w^(L)| that m_{L+1} pruned; the relative
projection length ‖w − m_{L+1}⊙w‖/‖w‖ with retraining (w = w^(L)) and without (w = m_L⊙w^(L−1),
pruned by magnitude by as many weights); and the overlap of successive pruning steps: the
share of the next magnitude step after retraining that the projection's own ranking would
have pruned too (chance ≈ the prune fraction). Several runs (e.g. IMP-WR, IMP-LRR, IMP-FT
of one setting) go into one comparison: the first run's analysis/reequilibration_<hash>/
(result.json, result.npz, reequilibration.png, histograms.png, report.md). Only weights and
masks are read: no training, no data. Re-running reuses the finished result.
"""

from __future__ import annotations

import argparse

from landscape import settings
from landscape.cli._common import add_job_arguments
from landscape.specs import ReequilibrationSpec

VERB = "reequilibration"
HELP = "re-equilibration after pruning: kept-weight magnitudes, projection lengths, overlaps"
DESCRIPTION = __doc__.split("\n\n", 1)[1]
ORDER = 64


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "runs", metavar="RUN", nargs="+",
        help="run directories (e.g. the IMP-WR, IMP-LRR and IMP-FT runs)",
    )  # fmt: skip
    settings.add_arguments(parser, ReequilibrationSpec, title="histograms")
    add_job_arguments(parser, out="output folder (default: the first run's analysis/)")


def run(args: argparse.Namespace) -> int:
    spec = settings.from_args(ReequilibrationSpec, args)
    from landscape.jobs.reequilibration import reequilibration, summary_headers, summary_rows
    from landscape.tables import format_table

    res = reequilibration(args.runs, spec, out=args.out, force=args.force, wait=args.wait)
    print()
    print(format_table(summary_headers(), summary_rows(res.record)))
    print(f"result → {res.folder}")
    return 0
