"""``landscape instability RUN_DIR --level L``: train two copies of a level with different SGD
noise and measure their barrier; with ``--rewind-steps``, the onset of linear mode
connectivity [PAUL §2]. Flags → :class:`InstabilitySpec` → ``jobs.instability``."""

from __future__ import annotations

import argparse

from landscape import settings
from landscape.cli._common import add_job_arguments, format_table, print_barrier
from landscape.specs import InstabilitySpec

VERB = "instability"
HELP = "train two copies of a level with different SGD noise and measure their barrier"
ORDER = 52


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="an IMP run directory")
    parser.add_argument("--level", type=int, required=True, help="the level to test")
    parser.add_argument(
        "--seeds", type=int, nargs=2, default=None, metavar=("S1", "S2"),
        help="data-order seeds of the two copies (default: the run's --data-seed + 1 and + 2)",
    )  # fmt: skip
    settings.add_arguments(parser, InstabilitySpec)
    add_job_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Under ``torchrun`` every rank computes its share and rank 0 alone writes and prints."""
    from landscape.jobs.targets import on_ranks

    with on_ranks(args):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    seeds = tuple(args.seeds) if args.seeds else None
    spec = settings.from_args(InstabilitySpec, args, level=args.level, seeds=seeds)
    from landscape.jobs import instability

    res = instability(args.run_dir, spec, force=args.force, wait=args.wait, quiet=args.quiet)
    if res.kind == "instability":
        _print_test(res.record, res.folder)
        return 0
    rec = res.record
    rows = [(t, f"{e:.4f}", f"{lo:.4f}", ", ".join(f"{c:.4f}" for c in own))
            for t, e, lo, own in zip(rec["rewind_steps"], rec["error_barriers"],
                                     rec["loss_barriers"], rec["copy_errors_own_bn"])]  # fmt: skip
    print(rec["title"])
    print(format_table(("rewind step", "error barrier", "loss barrier",
                        f"copies' {rec['split']} errors"), rows))  # fmt: skip
    onset, eps, spe = rec["onset"], rec["onset_threshold"], rec["steps_per_epoch"]
    found = (f"step {onset} (≈ {onset / spe:.2f} epochs), the first rewind step with an error "
             f"barrier ≤ {eps}" if onset is not None else
             f"not reached: every error barrier is above {eps}")  # fmt: skip
    print(f"onset of linear mode connectivity: {found} → {res.folder}")
    return 0


def _print_test(record, folder) -> None:
    print(f"level {record['settings']['level']}: two copies trained over steps "
          f"{record['train_steps'][0]}..{record['train_steps'][1]} with data seeds "
          f"{record['settings']['seeds']}; their {record['settings']['split']} errors (as "
          "trained): " + ", ".join(f"{e:.4f}" for e in record["copy_errors_own_bn"]))  # fmt: skip
    print_barrier(record, folder)
