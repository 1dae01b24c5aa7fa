"""``landscape train``: train a dense network into a run directory."""

from __future__ import annotations

import argparse
import dataclasses

from landscape.cli._common import print_run
from landscape.cli._runner import add_run_arguments, execute
from landscape.hparams import PruneHparams, config_from_args

VERB = "train"
HELP = "train a dense network into a run directory"
ORDER = 10
DESCRIPTION = (
    "Train a dense network (level 0 only) into <root>/dense_<model>-<data>_s<seed>_<hash>. Re-running the same "
    "command resumes or does nothing. Example: landscape train --data mnist1d --model mlp"
)

_KEEP = {"prune_scope", "prune_ignore"}
_SKIP = tuple(f.name for f in dataclasses.fields(PruneHparams) if f.name not in _KEEP)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, skip=_SKIP)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args).dense()
    from landscape.distributed import env_rank

    run_dir = execute(cfg, args.out, args.root, args.quiet, args.log)
    if env_rank() == 0:
        print_run(run_dir)
    return 0
