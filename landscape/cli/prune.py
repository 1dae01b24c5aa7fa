"""``landscape prune``: run a pruning method's level loop into a run directory.

The flags are per method, as open_lth's per-branch hparams: when the command line
names a known ``--method X``, the command is parsed (and ``--help`` printed) with
X's flags only, and a flag of another method is refused by name. Without
``--method``, every flag is listed, in sections titled by the methods they apply to.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import fields

from landscape.cli._common import print_run
from landscape.cli._runner import add_run_arguments, execute
from landscape.hparams import PruneHparams, applies_to, check_method_flags, config_from_args
from landscape.runners import METHODS

VERB = "prune"
HELP = "pruning: imp-wr, imp-lrr, imp-ft, imp (retraining schedules), bimp, swamp, gmp, dpf"
ORDER = 20


def _description() -> str:
    lines = ["Run a pruning method; every level's weights, mask and metrics go to the run directory.",
             "A killed run resumes at the first unfinished level when the same command is repeated;",
             "imp-wr, imp-lrr, imp-ft and swamp runs continue with a larger --levels;",
             "gmp and dpf are one training run, its --levels checkpoints along the schedule.", "",
             "methods:"]  # fmt: skip
    lines += [f"  {name:8s} {METHODS.help(name)}" for name in METHODS.names() if name != "dense"]
    lines += ["", "`landscape prune --method X --help` lists only X's settings.",
              "example: landscape prune --method imp-wr --preset mlp-mnist1d --levels 10"]  # fmt: skip
    return "\n".join(lines)


DESCRIPTION = _description()


def add_arguments(parser: argparse.ArgumentParser, argv: Sequence[str] = ()) -> None:
    """The flags of the method ``argv`` names (``--method X``), or every method's flags."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    method = named_method(argv)
    if method is None or method == "dense" or method not in METHODS:
        add_run_arguments(parser)  # run() reports an unknown method, listing the valid ones
        return
    add_run_arguments(parser, method=method)
    foreign = _foreign_flags(method)
    for flag, methods in foreign.items():  # known flags of other methods: refused by name
        parser.add_argument(
            flag, nargs="?", dest=f"_foreign{flag.replace('-', '_')}", help=argparse.SUPPRESS,
            action=_refuse(f"{flag} is not a setting of --method {method} (it belongs to "
                           f"--method {', '.join(methods)}); drop it, or see `landscape prune "
                           f"--method {method} --help`"),
        )  # fmt: skip


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


def _refuse(message: str) -> type[argparse.Action]:
    class Refuse(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None) -> None:
            parser.error(message)

    return Refuse


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if cfg.prune.method == "dense":
        raise ValueError("use `landscape train` for a dense run")
    METHODS.get(cfg.prune.method)  # an unknown method fails here, listing the valid ones
    check_method_flags(args, cfg.prune.method)  # e.g. --particles without --method swamp
    from landscape.distributed import env_rank

    run_dir = execute(cfg, args.out, args.root, args.quiet, args.log)
    if env_rank() == 0:
        print_run(run_dir)
    return 0
