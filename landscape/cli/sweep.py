"""``landscape sweep``: a grid of pruning runs (methods × settings × seeds), one job each.

A thin shell over :func:`landscape.jobs.sweep.sweep`: the grid comes from flags or
from a TOML file, the execution options from :class:`~landscape.specs.SweepSpec`.
Exit status 0 when every job finished, 1 when a job failed, 2 for a bad grid.
"""

from __future__ import annotations

import argparse

from landscape import settings
from landscape.hparams import PRESETS
from landscape.specs import SweepSpec

VERB = "sweep"
HELP = "a grid of prune runs (methods × settings × seeds) as parallel jobs; mean ± std table"
ORDER = 25

DESCRIPTION = """\
Run a grid of `landscape prune` runs, one job (a subprocess, or a SLURM task) per run,
into the run directories `landscape prune` would use (<root>/<method>_<model>-<data>_s<seed>_<hash>), and
summarise: per setting, mean ± std across seeds of the final level's test accuracy and
density and of the dense level's accuracy (<sweep dir>/summary.json and summary.md).

Finished runs are skipped; a killed sweep resumes when run again; a failed job is
reported with the end of its log (<sweep dir>/logs/<run>.log) while the others go on.

examples:
  landscape sweep --method imp-wr,imp-lrr --seeds 0,1,2 --preset mlp-mnist1d \\
      --set lr=0.05,0.1 --set levels=5 --workers 2
  landscape sweep grid.toml --workers 2          # the same grid as a file:

      preset = "mlp-mnist1d"
      method = ["imp-wr", "imp-lrr"]
      seeds = [0, 1, 2]
      [set]
      lr = [0.05, 0.1]
      levels = 5

  landscape sweep grid.toml --executor slurm --slurm-partition gpu --slurm-time 120 \\
      --slurm-gpus-per-job 1 --workers 16      # a SLURM job array (pip install submitit)

With --nproc-per-job N each job is `python -m torch.distributed.run --standalone
--nproc-per-node N -m landscape prune ...` (SWAMP's distributed particles; with
--slurm-gpus-per-job N on a cluster).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "grid", nargs="?", default=None, metavar="GRID.toml",
        help="the grid as a TOML file (keys preset, method, seeds, [set]); or give the flags below",
    )  # fmt: skip
    g = parser.add_argument_group("the grid (instead of GRID.toml)")
    g.add_argument("--method", default=None, metavar="LIST", help="methods, e.g. imp-wr,imp-lrr")
    g.add_argument(
        "--seeds", default=None, metavar="LIST",
        help="seeds, e.g. 0,1,2 or 0-4; each sets both --seed and --data-seed (default 0)",
    )  # fmt: skip
    g.add_argument("--preset", default=None, choices=sorted(PRESETS), help="start from a recipe")
    g.add_argument(
        "--set", action="append", default=[], dest="sets", metavar="KEY=V1,V2",
        help="a setting of `landscape prune` (lr, levels, batch-size, ...) and its values, each a "
        "grid axis; repeatable. Values holding commas are separated by ';' instead: "
        "--set 'milestones=20ep,30ep;10ep,15ep' (one such value: 'milestones=20ep,30ep;')",
    )  # fmt: skip
    parser.add_argument(
        "--root", default=None,
        help="where run directories go (default: $LANDSCAPE_ROOT or ./runs)",
    )  # fmt: skip
    parser.add_argument(
        "--out", default=None, metavar="DIR",
        help="the sweep directory: logs, summary (default: <root>/sweep_<digest of the grid>)",
    )  # fmt: skip
    settings.add_arguments(parser, SweepSpec, title="execution")
    parser.add_argument(
        "--dry-run", action="store_true",
        help="list the jobs and their commands (and summarise what is finished); run nothing",
    )  # fmt: skip
    parser.add_argument(
        "--summary-only", action="store_true",
        help="run nothing; write the summary of the runs finished so far",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    spec = settings.from_args(SweepSpec, args)
    from landscape.jobs.sweep import grid_of, sweep  # here: --help stays torch-free

    grid = grid_of(args.grid, method=args.method, seeds=args.seeds, preset=args.preset,
                   sets=args.sets)  # fmt: skip
    res = sweep(grid, spec, root=args.root, out=args.out, dry_run=args.dry_run,
                summary_only=args.summary_only)  # fmt: skip
    print(f"\n{grid.describe()}")
    print(res.table())
    if not args.dry_run:
        print(f"summary: {res.folder / 'summary.md'} and summary.json")
    if res.failed:
        print(f"{len(res.failed)} job(s) failed (logs in {res.folder / 'logs'}): "
              f"{', '.join(j.name for j in res.failed)}")  # fmt: skip
        return 1
    return 0
