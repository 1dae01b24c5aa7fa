"""``landscape robustness RUN_DIR --level L``: perturb the pruned rewind point inside the kept
subspace by ``r·d_L``, train the perturbed and unperturbed points with different SGD noise,
and measure their barrier against ``r`` [PAUL §3.2] (docs/science.md, section 11).
Flags → :class:`RobustnessSpec` → ``jobs.robustness``."""

from __future__ import annotations

import argparse

from landscape import settings
from landscape.cli._common import add_job_arguments, format_table, plus_minus, sig
from landscape.specs import RobustnessSpec

VERB = "robustness"
HELP = "barrier between the trained perturbed and unperturbed rewind point vs the radius r·d_L"
ORDER = 54


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="an IMP-WR run directory")
    parser.add_argument(
        "--level", type=int, required=True,
        help="level L: perturbations in units of d_L = ‖m_L⊙w_τ − m_(L+1)⊙w_τ‖, networks "
        "trained as level L+1 is",
    )  # fmt: skip
    settings.add_arguments(parser, RobustnessSpec)
    add_job_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Under ``torchrun`` every rank computes its share and rank 0 alone writes and prints."""
    from landscape.jobs.targets import on_ranks

    with on_ranks(args):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    spec = settings.from_args(RobustnessSpec, args)
    from landscape.jobs.robustness import robustness  # here: `landscape --help` stays torch-free

    res = robustness(args.run_dir, spec, level=args.level, force=args.force, wait=args.wait,
                     quiet=args.quiet)  # fmt: skip
    rec = res.record
    print(rec["title"])
    print(f"d_L = {sig(rec['step_distance'])} (‖m_(L+1)⊙w_τ‖ = {sig(rec['start_norm'])}); "
          f"networks trained over steps {rec['train_steps'][0]}..{rec['train_steps'][1]}; "
          "mean ± std over seeds")  # fmt: skip
    rows = [(f"{r:g}", sig(n), plus_minus(m, s), plus_minus(lm, ls),
             f"{sum(e) / len(e):.4f}")
            for r, n, m, s, lm, ls, e in zip(
                rec["radii"], rec["perturbation_norms"], rec["error_barrier_mean"],
                rec["error_barrier_std"], rec["loss_barrier_mean"], rec["loss_barrier_std"],
                rec["errors_perturbed"])]  # fmt: skip
    print(format_table(("r", "‖δ‖", f"{rec['split']} error barrier", "loss barrier",
                        "perturbed nets' error"), rows))  # fmt: skip
    done = ("reused" if res.reused else
            f"{rec['trained']} networks trained now ({rec['train_seconds']:.1f}s)")  # fmt: skip
    print(f"{done} → {res.folder}")
    return 0
