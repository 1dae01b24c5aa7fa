"""``landscape connectivity RUN_DIR``: the path through successive level solutions and the
barrier matrix [PAUL Fig. 2]; flags → :class:`ConnectivitySpec` → ``jobs.connectivity``."""

from __future__ import annotations

import argparse

from landscape import settings
from landscape.cli._common import add_job_arguments, format_table
from landscape.specs import ConnectivitySpec

VERB = "connectivity"
HELP = "error along the path through successive levels, and the barrier matrix (Paul Fig. 2)"
ORDER = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by a runner")
    settings.add_arguments(parser, ConnectivitySpec)
    add_job_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Under ``torchrun`` every rank computes its share and rank 0 alone writes and prints."""
    from landscape.jobs.targets import on_ranks

    with on_ranks(args):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    spec = settings.from_args(ConnectivitySpec, args)
    from landscape.jobs import connectivity

    res = connectivity(args.run_dir, spec, force=args.force, wait=args.wait, quiet=args.quiet)
    record = res.record
    labels = record["labels"]
    rows = [
        (f"{a} → {b}", seg["errors"][0], seg["errors"][-1], seg["error_barrier"],
         seg["loss_barrier"], seg["error_barrier_mean"])
        for a, b, seg in zip(labels, labels[1:], record["segments"])
    ]  # fmt: skip
    split = record["settings"].get("split", "test")
    print(f"\npath through levels {labels} ({split} split, BN policy {record['bn_policy']}"
          f"{'' if record['has_batchnorm'] else ', model has no BatchNorm'})")  # fmt: skip
    print(format_table(("pair", "err start", "err end", "err barrier", "loss barrier",
                        "err barrier (mean ends)"), rows))  # fmt: skip
    mat = record.get("error_matrix")
    if mat is not None:
        n = len(mat)
        off = [mat[i][j] for i in range(n) for j in range(n) if i != j]
        print(f"barrier matrix over {n} levels: largest error barrier "
              f"{max(max(r) for r in mat):.4f}, mean off-diagonal {sum(off) / len(off):.4f}")  # fmt: skip
    print(f"{record['points_evaluated']} points in {record['seconds']:.1f}s → {res.folder}")
    return 0
