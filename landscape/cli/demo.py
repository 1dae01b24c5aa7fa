"""``landscape demo``: a whole small study on MNIST-1D in a few minutes on 2 CPU cores.

It runs IMP-WR, IMP-LRR and IMP-FT on the MNIST-1D MLP over the same levels,
draws test accuracy against sparsity, and writes a Markdown report with the
tables. Every step resumes: re-running the command only redoes what is missing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from landscape.cli._common import RUN_HEADERS, format_table, run_cells
from landscape.hparams import PRESETS, RunConfig
from landscape.io import atomic_write_text, level_metrics

VERB = "demo"
HELP = "run a small IMP study on MNIST-1D and write figures and a report (a few minutes on CPU)"
ORDER = 1
DESCRIPTION = __doc__

METHODS = ("imp-wr", "imp-lrr", "imp-ft")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", default="landscape_demo", help="folder for runs, figures and report.md"
    )
    parser.add_argument("--levels", type=int, default=10, help="pruning levels (20%% each)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from landscape.cli._runner import execute
    from landscape.plotting.levels import plot_metric_vs_sparsity

    out = Path(args.out)
    t0 = time.perf_counter()
    base = RunConfig().replace(**PRESETS["mlp-mnist1d"], levels=args.levels, device=args.device)
    runs: dict[str, Path] = {}
    for method in METHODS:
        cfg = base.replace(method=method)
        runs[method.upper()] = execute(cfg, root=out / "runs", quiet=args.quiet)
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    fig, _ = plot_metric_vs_sparsity(runs)
    fig.savefig(fig_dir / "accuracy_vs_sparsity.png", dpi=150)

    lines = ["# landscape demo: IMP on MNIST-1D", "",
             f"MLP 40-100-100-10, 36 epochs per level, {args.levels} levels of 20% global magnitude pruning.",
             "", "![test accuracy against sparsity](figures/accuracy_vs_sparsity.png)", ""]  # fmt: skip
    summary = []
    for label, run_dir in runs.items():
        rows = level_metrics(run_dir)
        lines += [f"## {label}", "", f"Run directory: `{run_dir}`", "",
                  format_table(RUN_HEADERS, [run_cells(r) for r in rows], markdown=True), ""]  # fmt: skip
        best = max(rows, key=lambda r: r["level"])
        summary.append((label, best["density"], 1 - best["test_error"], 1 - rows[0]["test_error"]))
    elapsed = time.perf_counter() - t0
    lines.append(f"Wall time of this command: {elapsed:.0f} s.")
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")

    print(f"\nlandscape demo: {len(runs)} runs in {elapsed:.0f} s")
    print(format_table(("method", "final density", "final test acc", "dense test acc"), summary))
    print(f"figures: {fig_dir}/\nreport:  {out / 'report.md'}")
    return 0
