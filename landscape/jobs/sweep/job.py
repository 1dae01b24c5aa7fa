"""The jobs of a sweep: one per run directory (:func:`plan`), each a ``landscape prune``
command, and whether its run is finished already (:meth:`Job.finished`).

Each job is a subprocess ``python -m landscape prune ... --quiet``. With
``nproc_per_job = N > 1`` it is one torchrun of N processes on one node::

    python -m torch.distributed.run --standalone --nproc-per-node N -m landscape prune ... --quiet

so the run trains data-parallel over N ranks (dense, IMP, ``imp``, BIMP) or with
SWAMP's particles one per rank (with ``slurm_gpus_per_job = N`` on a cluster).
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import landscape
from landscape import paths
from landscape.errors import LandscapeError
from landscape.hparams import RunConfig
from landscape.io import load_json
from landscape.jobs.sweep.grid import Grid, Point
from landscape.specs import SweepSpec

__all__ = ["Job", "job_environment", "plan", "threads_per_job"]


@dataclass
class Job:
    """One run directory's job: the grid points it serves, its command, and how it went.

    ``status``: ``pending`` (to run), ``finished`` (was finished before; skipped), ``done``
    (ran and finished) or ``failed`` (``returncode``, ``tail``: the end of its log, or
    ``error``: what went wrong around it).
    """

    name: str
    points: tuple[Point, ...]
    run_dir: Path
    run_hash: str
    levels: int
    command: tuple[str, ...]
    log: Path
    status: str = "pending"
    returncode: int | None = None
    seconds: float = 0.0
    tail: str = ""
    error: str = ""

    def finished(self) -> bool:
        """Whether the run directory holds this run with levels ``0..levels`` all finished."""
        if not paths.config(self.run_dir).exists():
            return False
        try:
            meta = load_json(paths.config(self.run_dir))
        except LandscapeError:
            return False
        if not isinstance(meta, dict) or meta.get("hash") != self.run_hash:
            return False
        return set(range(self.levels + 1)) <= set(paths.levels(self.run_dir))

    def to_dict(self) -> dict[str, Any]:
        """The job as JSON (``summary.json``'s ``jobs``)."""
        return {"name": self.name, "run_dir": str(self.run_dir),
                "status": self.status, "returncode": self.returncode,
                "seconds": round(self.seconds, 3), "log": str(self.log),
                "command": shlex.join(self.command), "error": self.error,
                "tail": self.tail if self.status == "failed" else ""}  # fmt: skip


def _cores() -> int:
    """The CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_job(spec: SweepSpec) -> int:
    """CPU threads per job process (0: let the job choose)."""
    if spec.threads:
        return spec.threads
    if spec.executor == "slurm":
        return 0
    return max(1, _cores() // (spec.workers * spec.nproc_per_job))


def _command(point: Point, spec: SweepSpec, root: Path, threads: int) -> tuple[str, ...]:
    head = [sys.executable, "-m"]
    if spec.nproc_per_job > 1:
        head += ["torch.distributed.run", "--standalone",
                 f"--nproc-per-node={spec.nproc_per_job}", "-m"]  # fmt: skip
    tail = [f"--threads={threads}"] if threads else []
    if spec.device != "auto":
        tail.append(f"--device={spec.device}")
    return (*head, "landscape", "prune", *point.flags(), f"--root={root}", *tail, "--quiet")


def plan(grid: Grid, spec: SweepSpec, root: Path, folder: Path) -> list[Job]:
    """The jobs of ``grid``: one per run directory (the points of an IMP-WR/LRR/FT or SWAMP
    run that differ only in ``levels`` share a directory, and one job trains the most)."""
    threads = threads_per_job(spec)
    members: dict[str, list[tuple[Point, RunConfig]]] = {}
    for p in grid.points():
        # Every point's settings are checked before the sweep writes anything (its folder,
        # grid.json, logs): a value the runner would refuse stops the sweep with one line.
        try:
            cfg = p.config()
            name = cfg.run_name()
        except ValueError as exc:
            raise ValueError(
                f"sweep point {shlex.join(p.flags())}: {exc}; fix that value in the grid "
                "(--set or the TOML file) — nothing was run or written"
            ) from None
        members.setdefault(name, []).append((p, cfg))
    jobs = []
    for name, group in members.items():
        lead, cfg = max(group, key=lambda pc: pc[0].levels())
        jobs.append(Job(
            name=name, points=tuple(p for p, _ in group),
            run_dir=paths.run_dir(root, name, cfg.legacy_run_name()), run_hash=cfg.hash(),
            levels=lead.levels(),
            command=_command(lead, spec, root, threads), log=folder / "logs" / f"{name}.log",
        ))  # fmt: skip
    return jobs


def job_environment(threads: int) -> dict[str, str]:
    """What a job's environment adds: this package importable, unbuffered output, threads."""
    here = str(Path(landscape.__file__).resolve().parents[1])
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])),
           "PYTHONUNBUFFERED": "1"}  # fmt: skip
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env
