"""``sweep(grid)``: a grid of runs (methods × settings × seeds), each run an independent job.

A :class:`Grid` names pruning methods, seeds (each sets both ``seed`` and
``data_seed``), an optional preset, and settings with one or more values each; every
combination is one run, made exactly as ``landscape prune`` makes it, into the same
``<root>/<method>_<hash>`` directory (so a sweep and a hand-made run share directories)::

    from landscape.jobs.sweep import Grid, sweep

    grid = Grid(method=("imp-wr", "imp-lrr"), seeds=(0, 1, 2), preset="mlp-mnist1d",
                settings={"lr": (0.05, 0.1), "levels": 5})
    res = sweep(grid, workers=2)          # or sweep("grid.toml", workers=2)
    print(res.table())                    # per setting: mean ± std across seeds
    res.failed                            # the jobs that failed, each with its log's tail

The same grid as a TOML file (``landscape sweep grid.toml``)::

    preset = "mlp-mnist1d"
    method = ["imp-wr", "imp-lrr"]
    seeds = [0, 1, 2]
    [set]
    lr = [0.05, 0.1]
    levels = 5

A setting that applies to some of the methods only (``particles``: SWAMP's) is used
for those methods and left out of the others' runs, as ``landscape prune`` would
refuse it. A value of the wrong type, an unknown setting, or a value the settings refuse
(``lr = -1``) is an error before anything runs or is written; a job that fails while it
runs (e.g. a batch larger than the training set) is reported with its log, and the others
go on.

**Jobs.** Each job is a subprocess ``python -m landscape prune ... --quiet`` (a crash
in one cannot take the others down), its output appended to
``<sweep dir>/logs/<run name>.log``. A run whose ``config.json`` is there and whose
levels ``0..levels`` are all finished is skipped without starting a process; the
others resume by themselves (the runners skip finished levels), so a killed sweep
is resumed by running it again. With ``nproc_per_job = N > 1`` each job is one
torchrun of N processes on one node::

    python -m torch.distributed.run --standalone --nproc-per-node N -m landscape prune ... --quiet

which is what SWAMP's ``--particle-mode distributed`` needs (with
``slurm_gpus_per_job = N`` on a cluster); nothing else in a job is multi-process.

**Executors.** ``local`` runs ``workers`` jobs at once on this machine, each with
``threads`` CPU threads (default: cores // (workers · nproc_per_job), at least 1);
``gpus = "0,1"`` hands each running job one of those GPUs. ``slurm`` submits the
jobs as one SLURM job array through ``submitit`` (an optional dependency: ``pip
install submitit``), at most ``workers`` running at once, and waits for them; the
Python environment and the root must be on a file system the nodes share.

**Summary.** Per setting (everything but the seed): the mean ± standard deviation
across seeds of the final level's test accuracy and density and of the dense
level's test accuracy, read from the runs' ``metrics.json``; written (atomically)
as ``<sweep dir>/summary.json`` and ``summary.md``. The sweep directory is
``<root>/sweep_<digest of the grid>`` unless ``out`` names one.

Only the standard library and torch-free modules are used here; torch runs in the jobs.

Modules: ``grid`` (:class:`Grid`, :class:`Point`, flags and TOML), ``job`` (:class:`Job`,
:func:`plan`: one job per run directory), ``local`` (subprocess workers), ``slurm``
(submitit), ``summary`` (the mean ± std table, ``summary.json``/``summary.md``); here
:func:`sweep`, which plans, runs what is not finished, and summarises.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from landscape import paths
from landscape.io import save_json
from landscape.jobs.sweep.grid import Grid, Point, as_grid, grid_of, load_grid
from landscape.jobs.sweep.job import Job, job_environment, plan, threads_per_job
from landscape.jobs.sweep.local import run_job, run_local
from landscape.jobs.sweep.slurm import require_submitit, run_slurm
from landscape.jobs.sweep.summary import SweepResult, summarize, write_summary
from landscape.locks import LOCK_NAME, LockedError, hold
from landscape.specs import SweepSpec

__all__ = [
    "Grid",
    "Job",
    "Point",
    "SweepResult",
    "as_grid",
    "grid_of",
    "load_grid",
    "plan",
    "run_job",
    "summarize",
    "sweep",
]


@contextmanager
def _sweep_lock(folder: Path) -> Iterator[None]:
    """Hold the sweep directory's lock: one process runs a sweep at a time."""
    stack = ExitStack()
    try:
        stack.enter_context(hold(folder, what="sweep"))
    except LockedError:
        try:
            holder = (folder / LOCK_NAME).read_text().strip() or "another process"
        except OSError:
            holder = "another process"
        raise LockedError(
            f"the sweep {folder} is running in another process ({holder}); wait for it to end, "
            "or stop it (running the sweep again then resumes it)"
        ) from None
    with stack:
        yield


def sweep(
    grid: Grid | Mapping[str, Any] | str | Path,
    spec: SweepSpec | None = None,
    *,
    root: str | Path | None = None,
    out: str | Path | None = None,
    dry_run: bool = False,
    summary_only: bool = False,
    log: Callable[[str], object] = print,
    **options: Any,
) -> SweepResult:
    """Run every job of ``grid`` that is not finished, then summarise; the result.

    Args:
        grid: a :class:`Grid`, a grid file's mapping, or the path of a TOML grid file.
        spec: how the jobs run (:class:`~landscape.specs.SweepSpec`); ``options`` override
            its fields, e.g. ``sweep(grid, workers=2)``.
        root: where run directories go (default: ``$LANDSCAPE_ROOT`` or ``./runs``).
        out: the sweep directory (default: ``<root>/sweep_<digest of the grid>``).
        dry_run: list the jobs (and the summary of what is finished); run and write nothing.
        summary_only: run nothing; write the summary of what is finished.
        log: where progress lines go.

    A failed job does not stop the others: see :attr:`SweepResult.failed`.

    Raises:
        ValueError: a bad grid or option.
        LandscapeError: submitit missing for ``executor="slurm"``; another process is
            running the same sweep (``LockedError``).
    """
    grid = as_grid(grid)
    if dry_run and summary_only:
        raise ValueError("--dry-run writes nothing and --summary-only writes the summary: pick one")
    unknown = sorted(set(options) - {f.name for f in fields(SweepSpec)})
    if unknown:
        raise ValueError(f"unknown sweep options {unknown}; known: "
                         f"{', '.join(f.name for f in fields(SweepSpec))}")  # fmt: skip
    spec = replace(spec or SweepSpec(), **options)
    root = Path(root or paths.default_root()).absolute()
    folder = Path(out).absolute() if out else root / f"sweep_{grid.digest()}"
    jobs = plan(grid, spec, root, folder)
    for job in jobs:
        if job.finished():
            job.status = "finished"
    todo = [j for j in jobs if j.status == "pending"]
    if dry_run or summary_only:
        if dry_run:
            for j in jobs:
                state = "finished" if j.status == "finished" else "to run"
                log(f"{state:8s}  {j.name}: {shlex.join(j.command)}")
        res = SweepResult(folder, grid, tuple(jobs), tuple(summarize(grid, jobs, log)))
        if summary_only:
            with _sweep_lock(folder):
                write_summary(res)
        return res
    if spec.executor == "slurm":
        require_submitit()  # missing: say so before anything is written
    with _sweep_lock(folder):  # one process per sweep; each run has its own lock too
        save_json(folder / "grid.json", grid.to_dict())
        threads = threads_per_job(spec)
        how = (f"{spec.workers} worker(s) × {threads or 'auto'} thread(s)"
               if spec.executor == "local" else f"SLURM, {spec.workers} at once")  # fmt: skip
        log(f"sweep {folder}: {len(jobs)} run(s), {len(jobs) - len(todo)} finished already, "
            f"{len(todo)} to run ({how})")  # fmt: skip
        if todo:
            env = job_environment(threads)
            if spec.executor == "slurm":
                run_slurm(todo, spec, env, folder, log)
            else:
                run_local(todo, spec, env, log)
        res = SweepResult(folder, grid, tuple(jobs), tuple(summarize(grid, jobs, log)))
        write_summary(res)
    return res
