"""``landscape sharpness RUN``: how much the training loss rises within a ball of radius ρ.

On the kept weights of the level's mask (pruned weights stay 0; biases and BatchNorm move),
for each radius of --radii: the average-case rise E[ℓ(w+δ)] − ℓ(w) under Gaussian δ with
E‖δ‖² = ρ² (--pairs antithetic pairs ±δ), and the worst-case rise at the ball's maximiser
found by --steps of projected gradient ascent from SAM's step (a lower bound of the
maximum); for each radius of --adaptive-radii the same in adaptive coordinates δ = |w|⊙ε
(Kwon et al. 2021; Andriushchenko et al. 2023), invariant to rescaling a layer in front of
BatchNorm. The loss is the mean cross-entropy over the first --samples of --split
(unaugmented, BatchNorm in eval mode). Each level's result goes to
level_LL/analysis/sharpness_<hash>/ (result.json, result.npz, sharpness.png, report.md);
--all-levels adds sharpness-levels_<hash>/ with every measure against the level.
Re-running reuses finished results.
"""

from __future__ import annotations

import argparse

from landscape import settings
from landscape.cli._common import add_job_arguments, add_level_choice
from landscape.specs import SharpnessSpec

VERB = "sharpness"
HELP = "average-case, worst-case (SAM-style) and adaptive sharpness on the kept weights"
DESCRIPTION = __doc__.split("\n\n", 1)[1]
ORDER = 63


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("run_dir", metavar="RUN",
                        help="a run directory, a level_NN folder, or a checkpoint in a run")  # fmt: skip
    add_level_choice(parser, "every trained level, plus each measure against the level")
    settings.add_arguments(parser, SharpnessSpec, title="what to compute, on which data")
    add_job_arguments(parser, out="output folder (default: the level's analysis/)")


def run(args: argparse.Namespace) -> int:
    spec = settings.from_args(SharpnessSpec, args)
    from landscape.jobs.sharpness import sharpness, summary_text

    levels = "all" if args.all_levels else args.level
    res = sharpness(args.run_dir, spec, levels=levels, out=args.out, force=args.force,
                    wait=args.wait, quiet=args.quiet)  # fmt: skip
    print()
    print(summary_text(res))
    print(f"{'across levels' if res.children else 'result'} → {res.folder}")
    return 0
