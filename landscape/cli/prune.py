"""``landscape prune``: run a pruning method's level loop into a run directory."""

from __future__ import annotations

import argparse

from landscape.cli._runner import add_run_arguments, execute
from landscape.cli.show import print_run
from landscape.distributed import env_rank
from landscape.hparams import config_from_args
from landscape.runners import METHODS

VERB = "prune"
HELP = "iterative pruning: imp-wr, imp-lrr, imp-ft, imp (retraining schedules), bimp, swamp"
ORDER = 20


def _description() -> str:
    lines = ["Run a pruning method; every level's weights, mask and metrics go to the run directory.",
             "A killed run resumes at the first unfinished level when the same command is repeated.", "",
             "methods:"]  # fmt: skip
    lines += [f"  {name:8s} {METHODS.help(name)}" for name in METHODS.names() if name != "dense"]
    lines += ["", "example: landscape prune --method imp-wr --preset mlp-mnist1d --levels 10"]
    return "\n".join(lines)


DESCRIPTION = _description()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if cfg.prune.method == "dense":
        raise ValueError("use `landscape train` for a dense run")
    METHODS.get(cfg.prune.method)  # an unknown method fails here, listing the valid ones
    run_dir = execute(cfg, args.out, args.root, args.quiet)
    if env_rank() == 0:
        print_run(run_dir)
    return 0
