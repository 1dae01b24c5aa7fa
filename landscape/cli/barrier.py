"""``landscape barrier CKPT_A CKPT_B``: the error and loss barrier between two checkpoints.

A CKPT is a run directory (its last level, or ``--level-a/--level-b``), a ``level_NN``
folder, a file inside a run directory (``rewind.safetensors``, a SWAMP particle), or a
bare state dict with ``--model`` and ``--data``. Both must be of one architecture.
The data and BatchNorm batches come from CKPT_A's run; the result goes into CKPT_A's
level ``analysis/barrier_<hash>/`` (the run's ``analysis/`` when CKPT_A is in no level)
or ``--out``. Flags → :class:`BarrierSpec` → ``jobs.barrier``.
"""

from __future__ import annotations

import argparse

from landscape import settings
from landscape.cli._common import (
    add_bare_arguments,
    add_job_arguments,
    add_pair_arguments,
    bare_kwargs,
    print_barrier,
)
from landscape.specs import BarrierSpec

VERB = "barrier"
HELP = "error/loss barrier on the straight path between two checkpoints of one architecture"
ORDER = 51


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pair_arguments(parser)
    settings.add_arguments(parser, BarrierSpec)
    add_job_arguments(parser, out="result folder (default: analysis/barrier_<hash>/ in CKPT_A's "
                      "level, or in its run for a file outside the levels)")  # fmt: skip
    add_bare_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Under ``torchrun`` every rank computes its share and rank 0 alone writes and prints."""
    from landscape.jobs.targets import on_ranks

    with on_ranks(args):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    spec = settings.from_args(BarrierSpec, args)
    from landscape.jobs import barrier, resolve

    a, b = (resolve(c, lv, device=spec.engine.device, **bare_kwargs(args))
            for c, lv in ((args.ckpt_a, args.level_a), (args.ckpt_b, args.level_b)))  # fmt: skip
    res = barrier(a, b, spec, out=args.out, force=args.force, wait=args.wait)
    print_barrier(res.record, res.folder)
    return 0
