"""``landscape hessian TARGET``: the Hessian spectrum report.

Top-k eigenvalues (Lanczos), the trace ± standard error (Hutchinson) and the spectral
density (stochastic Lanczos quadrature) of the training loss over a fixed subset of the
training split (the first --samples, no augmentation, BatchNorm in eval mode),
optionally per layer and restricted to the kept weights of the level's mask. Each
level's result goes to level_NN/analysis/hessian_<hash>/ as result.json + result.npz +
report.md + density.png; with --all-levels a summary across levels adds the top
eigenvalue and trace against sparsity (and, per layer, each layer's), and with --overlap
the level × level overlap of the top-k eigenspaces. --curvature ggn|fisher measures the
generalised Gauss-Newton matrix or the empirical Fisher instead of the Hessian, and
--trace-method hutchpp estimates the trace by Hutch++, and --trace-method exact computes it
exactly from the curvature's diagonal (no products, no sampling error; for the Hessian the
network must be piecewise linear in each weight, as ReLU MLPs, CNNs and ResNets are, and
others are refused with the reason). Re-running the same command reuses finished levels.

TARGET is a run directory, a level_NN folder, any checkpoint file in a run (a SWAMP
particle too: --masked uses its level's mask), or a bare state dict with --model and
--data (--mask FILE for --masked).
"""

from __future__ import annotations

import argparse

from landscape import settings
from landscape.cli._common import add_bare_arguments, add_job_arguments, add_level_choice
from landscape.specs import HessianSpec

VERB = "hessian"
HELP = "Hessian spectrum of the training loss: top eigenvalues, trace, density"
DESCRIPTION = __doc__.split("\n\n", 1)[1]
ORDER = 60


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "ckpt", metavar="TARGET",
        help="a run directory, a level_NN directory, a checkpoint file in a run directory, or a "
        "state-dict file with --model and --data",
    )  # fmt: skip
    add_level_choice(parser, "every trained level, plus top eigenvalue and trace against sparsity")
    parser.add_argument("--per-layer", action="store_true",
                        help="also the top-k (and trace) of each layer's own Hessian block")  # fmt: skip
    parser.add_argument("--per-block", action="store_true",
                        help="also per top-level block (e.g. a ResNet stage) instead of per layer")  # fmt: skip
    # --params REGEX (a group of its own) and --overlap come from HessianSpec
    settings.add_arguments(parser, HessianSpec, title="what to compute, on which data, how")
    add_job_arguments(parser, out="output folder (default: the level's analysis/, or beside a "
                      "bare checkpoint)")  # fmt: skip
    add_bare_arguments(parser, mask=True)


def run(args: argparse.Namespace) -> int:
    """Under ``torchrun`` every rank computes its share and rank 0 alone writes and prints."""
    from landscape.jobs.targets import on_ranks

    with on_ranks(args):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    if args.per_layer and args.per_block:
        raise ValueError("choose one of --per-layer and --per-block")
    groups = "layer" if args.per_layer else "block" if args.per_block else ""
    spec = settings.from_args(HessianSpec, args, groups=groups)
    if spec.overlap and not args.all_levels:
        raise ValueError("--overlap compares levels: add --all-levels")
    if args.mask and not args.model:
        raise ValueError(
            "--mask is for bare checkpoints (with --model); a run's levels have their masks"
        )
    from landscape.jobs import hessian, resolve

    if args.all_levels or args.level is not None:
        if args.model:
            raise ValueError("--level/--all-levels need a run directory, not a bare checkpoint")
        levels = "all" if args.all_levels else [args.level]
        res = hessian(args.ckpt, spec, levels=levels, out=args.out, force=args.force, wait=args.wait,
                      quiet=args.quiet)  # fmt: skip
    else:
        target = resolve(args.ckpt, device=spec.device, model=args.model, data=args.data,
                         data_root=args.data_root, mask=args.mask)  # fmt: skip
        res = hessian(
            target, spec, out=args.out, force=args.force, wait=args.wait, quiet=args.quiet
        )
    from landscape.jobs.hessian import summary_text

    print(summary_text(res, spec.top_k))
    return 0
