"""``landscape prune``: run a pruning method's level loop into a run directory.

The flags are per method, as open_lth's per-branch hparams: when the command line
names a known ``--method X``, the command is parsed (and ``--help`` printed) with
X's flags only, and a flag of another method is refused by name. Without
``--method``, every flag is listed, in sections titled by the methods they apply to.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from landscape.cli._common import print_run
from landscape.cli._runner import add_run_arguments, execute
from landscape.hparams import PruneHparams, applies_to, check_method_flags, config_from_args
from landscape.runners import METHODS

VERB = "prune"
HELP = "iterative pruning: imp-wr, imp-lrr, imp-ft, imp (retraining schedules), bimp, swamp"
ORDER = 20


def _description() -> str:
    lines = ["Run a pruning method; every level's weights, mask and metrics go to the run directory.",
             "A killed run resumes at the first unfinished level when the same command is repeated;",
             "imp-wr, imp-lrr, imp-ft and swamp runs continue with a larger --levels.", "",
             "methods:"]  # fmt: skip
    lines += [f"  {name:8s} {METHODS.help(name)}" for name in METHODS.names() if name != "dense"]
    lines += ["", "`landscape prune --method X --help` lists only X's settings.",
              "example: landscape prune --method imp-wr --preset mlp-mnist1d --levels 10"]  # fmt: skip
    return "\n".join(lines)


DESCRIPTION = _description()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every method's flags; parsing narrows them to the ``--method`` the command line names."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_run_arguments(parser)
    _narrow_to_method(parser)


def named_method(argv: Sequence[str]) -> str | None:
    """The method that ``--method X`` or ``--method=X`` names in ``argv`` (the last, as argparse)."""
    method = None
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--method" and i + 1 < len(argv):
            method = argv[i + 1]
        elif arg.startswith("--method="):
            method = arg.partition("=")[2]
    return method


def _foreign_flags(method: str) -> dict[str, tuple[str, ...]]:
    """``{flag: methods}`` for the pruning flags that do not apply to ``method``."""
    out = {}
    for f in fields(PruneHparams):
        if not applies_to(f, method):
            names = ["--" + f.name.replace("_", "-")] + (["--from"] if f.name == "from_run" else [])
            out.update(dict.fromkeys(names, f.metadata["methods"]))
    return out


def _narrow_to_method(parser: argparse.ArgumentParser) -> None:
    """Make ``parser`` parse with only the named method's flags (a fresh parser built per call).

    The verb's parser keeps every flag, so ``landscape prune --help`` lists them all;
    with ``--method X`` (a known method) the arguments go to a parser made with X's
    flags alone, and a flag that belongs to other methods is an error naming them.
    """
    whole = parser.parse_known_args

    def parse_known_args(
        args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        argv = list(sys.argv[1:] if args is None else args)
        method = named_method(argv)
        if method is None or method == "dense" or method not in METHODS:
            return whole(argv, namespace)  # run() reports an unknown method, listing them
        narrow = argparse.ArgumentParser(
            prog=parser.prog, description=parser.description, formatter_class=parser.formatter_class
        )
        add_run_arguments(narrow, method=method)
        defaults: dict[str, Any] = parser._defaults  # what set_defaults gave the verb (its _run)
        narrow.set_defaults(**defaults)
        ns, extras = narrow.parse_known_args(argv, namespace)
        foreign = _foreign_flags(method)
        for arg in extras:
            flag = arg.partition("=")[0]
            if flag in foreign:
                narrow.error(
                    f"{flag} is not a setting of --method {method} (it belongs to --method "
                    f"{', '.join(foreign[flag])}); drop it, or see `{parser.prog} --method "
                    f"{method} --help`"
                )
        return ns, extras

    parser.parse_known_args = parse_known_args  # type: ignore[method-assign]


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if cfg.prune.method == "dense":
        raise ValueError("use `landscape train` for a dense run")
    METHODS.get(cfg.prune.method)  # an unknown method fails here, listing the valid ones
    check_method_flags(args, cfg.prune.method)  # e.g. --particles without --method swamp
    from landscape.distributed import env_rank

    run_dir = execute(cfg, args.out, args.root, args.quiet)
    if env_rank() == 0:
        print_run(run_dir)
    return 0
