"""The SLURM executor: the jobs as one SLURM job array through ``submitit``.

``submitit`` is an optional dependency (``pip install submitit``); at most ``workers``
tasks run at once, and the sweep waits for them. The Python environment and the root
must be on a file system the nodes share. An interrupted sweep cancels what it submitted.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from landscape.errors import LandscapeError
from landscape.jobs.sweep.job import Job, threads_per_job
from landscape.jobs.sweep.local import conclude, log_size, report, run_job
from landscape.specs import SweepSpec

__all__ = ["require_submitit", "run_slurm"]

_POLL_SECONDS = 10.0  # how often the SLURM executor looks at its jobs


def require_submitit() -> Any:
    """The submitit module (an optional dependency), or a clear error."""
    try:
        import submitit
    except ImportError:
        raise LandscapeError(
            "--executor slurm needs submitit, which is not installed: pip install submitit "
            "(or run the sweep here with --executor local)"
        ) from None
    return submitit


def run_slurm(jobs: list[Job], spec: SweepSpec, env: dict[str, str], folder: Path, say) -> None:
    """Submit ``jobs`` as one SLURM job array through submitit and wait for them."""
    submitit = require_submitit()
    threads = threads_per_job(spec)
    executor = submitit.AutoExecutor(folder=folder / "slurm" / "%j")
    params: dict[str, Any] = {"name": f"landscape-{folder.name}", "timeout_min": spec.slurm_time,
                              "nodes": 1, "tasks_per_node": 1,
                              "slurm_array_parallelism": spec.workers}  # fmt: skip
    if spec.slurm_partition:
        params["slurm_partition"] = spec.slurm_partition
    if spec.slurm_gpus_per_job:
        params["gpus_per_node"] = spec.slurm_gpus_per_job
    if threads:
        params["cpus_per_task"] = threads * spec.nproc_per_job
    executor.update_parameters(**params)
    offsets = {job.name: log_size(job.log) for job in jobs}
    with executor.batch():
        handles = [executor.submit(run_job, list(job.command), str(job.log), env) for job in jobs]
    for job, handle in zip(jobs, handles):
        say(f"submitted {job.name}: SLURM job {handle.job_id}")
    pending = list(zip(handles, jobs))
    t0, done = time.perf_counter(), 0
    try:
        while pending:
            for handle, job in [hj for hj in pending if hj[0].done()]:
                pending.remove((handle, job))
                done += 1
                try:
                    rc, error = int(handle.result()), ""
                except Exception as exc:  # the task died: timeout, memory, node failure, cancel
                    rc, error = None, f"SLURM job {handle.job_id}: {str(exc).strip()[-500:]}"
                conclude(job, rc, time.perf_counter() - t0, offsets[job.name], error)
                report(job, done, len(jobs), say)
            if pending:
                time.sleep(_POLL_SECONDS)
    except BaseException:
        for handle, _ in pending:  # an interrupted sweep cancels what it submitted
            try:
                handle.cancel(check=False)
            except Exception as exc:
                say(f"could not cancel SLURM job {handle.job_id}: {exc}")
        raise
