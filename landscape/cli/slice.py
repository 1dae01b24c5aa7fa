"""``landscape slice``: loss and error on a 2-D plane of weight space.

- ``landscape slice RUN_DIR --level L`` — through ``w^(L)``, its projection
  ``m_{L+1} ⊙ w^(L)`` and the next solution ``w^(L+1)`` [PAUL Fig. 3];
- ``landscape slice --checkpoints A B C`` — through any three checkpoints of one architecture;
- ``landscape slice CKPT --random --filter-normalize`` — random filter-normalised
  directions [Li et al. 2018].

Flags → :class:`SliceSpec` → ``jobs.slice``.
"""

from __future__ import annotations

import argparse

from landscape import settings
from landscape.cli._common import add_bare_arguments, add_job_arguments, bare_kwargs, format_table
from landscape.errors import LandscapeError
from landscape.specs import SliceSpec

VERB = "slice"
HELP = "loss/error contour on a plane: level anchors (Paul Fig. 3), any 3 checkpoints, or random"
ORDER = 53


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target", nargs="?", metavar="RUN_DIR|CKPT",
        help="a run directory (with --level) or, with --random, any checkpoint",
    )  # fmt: skip
    parser.add_argument("--level", type=int, default=None, help="level L of the anchor plane")
    parser.add_argument(
        "--checkpoints", nargs=3, metavar=("A", "B", "C"), default=None,
        help="plane through three checkpoints (A is the origin)",
    )  # fmt: skip
    parser.add_argument(
        "--random", action="store_true", help="random directions around one checkpoint (Li et al.)"
    )
    parser.add_argument(
        "--filter-normalize", dest="normalize", action="store_const", const="filter",
        help="--random: filter normalisation [Li et al. 2018] (the default; same as --normalize filter)",
    )  # fmt: skip
    settings.add_arguments(parser, SliceSpec)
    add_job_arguments(parser, out="result folder (default: analysis/slice_<hash>/ in the origin's "
                      "level, or in its run for a file outside the levels)")  # fmt: skip
    add_bare_arguments(parser, mask=True)


def run(args: argparse.Namespace) -> int:
    """Under ``torchrun`` every rank computes its share and rank 0 alone writes and prints."""
    from landscape.jobs.targets import on_ranks

    with on_ranks(args):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    modes = [flag for flag, on in (("--level", args.level is not None),
             ("--checkpoints", args.checkpoints is not None), ("--random", args.random)) if on]  # fmt: skip
    if len(modes) != 1:
        raise LandscapeError(
            "pick one plane: RUN_DIR --level L, --checkpoints A B C, or CKPT --random"
            + (f" (got {' and '.join(modes)})" if modes else "")
        )
    if args.checkpoints is not None and args.target is not None:
        raise LandscapeError("--checkpoints takes the three checkpoints; drop the first argument")
    if args.checkpoints is None and args.target is None:
        raise LandscapeError(f"{modes[0]} needs a run directory or checkpoint as first argument")
    plane = "random" if args.random else "checkpoints" if args.checkpoints else "level"
    spec = settings.from_args(SliceSpec, args, plane=plane, level=args.level)
    if args.random and spec.grid % 2 == 0:
        print(f"note: with an even --grid ({spec.grid}) the grid misses the centre itself; "
              "an odd one includes it")  # fmt: skip
    from landscape.jobs import resolve, slice

    bare = bare_kwargs(args)
    if plane == "level":
        target = args.target
    elif plane == "random":
        target = resolve(args.target, device=spec.engine.device, **bare)
    else:
        target = [resolve(c, device=spec.engine.device, **bare) for c in args.checkpoints]
    res = slice(target, spec, out=args.out, force=args.force, wait=args.wait, quiet=args.quiet)
    record = res.record
    rows = [(m["name"], f"{m['a']:.3f}", f"{m['b']:.3f}", m["test_error"], m["train_loss"])
            for m in record["marks"]]  # fmt: skip
    print(f"\n{record['title']} ({len(record['a'])}x{len(record['b'])} grid, BN policy "
          f"{record['bn_policy']}{'' if record['has_batchnorm'] else ', no BatchNorm'})")  # fmt: skip
    print(format_table(("point", "a", "b", "test error", "train loss"), rows))
    if "matching_fraction" in record:  # results written before 2026-12-01 lack it
        print(f"matching level {record['matching_level']:.4f} ({record['matching_reference']} + "
              f"tolerance): {record['matching_fraction']:.1%} of the grid is at or below it")  # fmt: skip
    print(f"{len(record['a']) * len(record['b'])} grid points in {record['seconds']:.1f}s → "
          f"{res.folder}")  # fmt: skip
    return 0
