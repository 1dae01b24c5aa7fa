"""The local executor: ``workers`` jobs at once on this machine, each a subprocess.

A crash in one job cannot take the others down; each job's output is appended to
``<sweep dir>/logs/<run name>.log``, and a failed job is reported with the tail of
that attempt's output. ``gpus = "0,1"`` hands each running job one of those GPUs.
An interrupt stops the running jobs; a killed sweep takes its jobs with it
(:mod:`landscape.lifetime`).
"""

from __future__ import annotations

import os
import queue
import shlex
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from landscape.io import open_private
from landscape.jobs.sweep.job import Job
from landscape.lifetime import child_command
from landscape.specs import SweepSpec

__all__ = ["conclude", "log_size", "report", "run_job", "run_local"]

_TAIL_LINES = 20


def _start(
    command: Sequence[str], log: Path, env: Mapping[str, str] | None
) -> tuple[subprocess.Popen, Any, int]:
    """Start ``command`` with its output appended to ``log``: (process, open log, offset of
    this attempt's output in the log)."""
    log = Path(log)
    # never through a link planted in the sweep folder; closed by the caller at the end
    fh = os.fdopen(open_private(log, os.O_WRONLY | os.O_APPEND), "ab")
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    fh.write(f"==== {stamp} on {socket.gethostname()}: {shlex.join(command)}\n".encode())
    fh.flush()
    offset = fh.tell()
    try:
        # The job dies with this process: a killed sweep leaves no run going on (and locked).
        proc = subprocess.Popen(child_command(command), stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})  # fmt: skip
    except BaseException:
        fh.close()
        raise
    return proc, fh, offset


def run_job(command: Sequence[str], log: str | Path, env: Mapping[str, str] | None = None) -> int:
    """Run one job's command, its output appended to ``log``; its exit status (what a SLURM
    task of the sweep runs)."""
    proc, fh, _ = _start(command, Path(log), env)
    try:
        return proc.wait()
    finally:
        fh.close()


def _tail(log: Path, offset: int, lines: int = _TAIL_LINES) -> str:
    """The last ``lines`` lines of ``log`` from ``offset`` on (one attempt's output)."""
    try:
        with open(log, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def log_size(path: Path) -> int:
    """The size of ``path`` in bytes, 0 when it does not exist."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def conclude(job: Job, rc: int | None, seconds: float, offset: int, error: str = "") -> None:
    """Record how ``job`` ended: done only when it exited 0 and its levels are finished."""
    job.returncode, job.seconds, job.error = rc, seconds, error
    if rc == 0 and job.finished():
        job.status = "done"
        return
    job.status = "failed"
    job.tail = _tail(job.log, offset)
    if rc == 0 and not error:
        job.error = f"exited 0, but levels 0..{job.levels} of {job.run_dir} are not all finished"


def report(job: Job, i: int, n: int, say: Callable[[str], object]) -> None:
    """One line per finished job; a failed one with the tail of its log."""
    if job.status == "done":
        say(f"[{i}/{n}] done    {job.name} ({job.seconds:.1f}s)")
        return
    why = job.error or f"exit status {job.returncode}"
    say(f"[{i}/{n}] FAILED  {job.name}: {why}; log {job.log}")
    for line in job.tail.splitlines():
        say(f"    | {line}")


def run_local(jobs: list[Job], spec: SweepSpec, env: dict[str, str], say) -> None:
    """Run ``jobs`` as subprocesses, ``spec.workers`` at a time; on an interrupt, stop them."""
    workers = min(spec.workers, len(jobs))
    gpus = spec.gpu_list()
    slots: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in range(workers):
        slots.put(i)
    live: dict[int, subprocess.Popen] = {}
    guard = threading.Lock()
    stopping = threading.Event()

    def execute(job: Job) -> None:  # in a worker thread: one subprocess, on a free slot
        slot = slots.get()
        try:
            job_env = {**env, **({"CUDA_VISIBLE_DEVICES": gpus[slot % len(gpus)]} if gpus else {})}
            t0 = time.perf_counter()
            with guard:
                if stopping.is_set():
                    return
                proc, fh, offset = _start(job.command, job.log, job_env)
                live[slot] = proc
            try:
                rc = proc.wait()
            finally:
                fh.close()
                with guard:
                    live.pop(slot, None)
            conclude(job, rc, time.perf_counter() - t0, offset)
        finally:
            slots.put(slot)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep")
    futures = {pool.submit(execute, job): job for job in jobs}
    try:
        for i, fut in enumerate(as_completed(futures), 1):
            fut.result()
            report(futures[fut], i, len(jobs), say)
    except BaseException:
        with guard:
            stopping.set()
            running = list(live.values())
        for fut in futures:
            fut.cancel()
        for proc in running:
            proc.terminate()
        raise
    finally:
        pool.shutdown(wait=True)
