"""Processes that die with the process that started them (docs/reliability.md, "Orphans").

A sweep's ``landscape prune`` children, the spawned workers of ``robustness`` and
``bound --empirical``, and the ranks of a ``torchrun`` job write under a lock their
parent holds. When the parent is killed (SIGKILL included) the lock is free again, so
such a process must not go on: it would keep computing, write files that the next
writer of the folder also writes, and keep its own locks (a rerun stops on them).

:func:`die_with_parent` makes the kernel kill this process when its parent ends
(Linux ``PR_SET_PDEATHSIG``; elsewhere a thread watches the parent), and
:func:`check_parent` is called by every write of a worker (:mod:`landscape.io`): a
worker whose parent is gone writes nothing. ``python -m landscape.lifetime PID
COMMAND ...`` runs ``COMMAND`` so that it dies with process ``PID`` (how the sweep
starts its jobs; Popen's ``preexec_fn`` is unsafe with the sweep's threads).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

__all__ = ["check_parent", "child_command", "die_with_parent", "worker_pool"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_POLL_S = 0.5

#: the parent this process works for (set by die_with_parent), None in a process of its own
_parent: int | None = None


def _prctl_deathsig() -> bool:
    """Ask Linux to SIGKILL this process when the thread that started it ends; False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_POLL_S)
    os._exit(1)


def die_with_parent(parent: int | None = None) -> None:
    """End this process when ``parent`` (default: the current parent) ends.

    Called first thing in a worker or child. If the parent is gone already (it died
    before this call), the process exits at once.
    """
    global _parent
    parent = os.getppid() if parent is None else int(parent)
    _parent = parent
    if not _prctl_deathsig():
        threading.Thread(target=_watch, args=(parent,), daemon=True, name="parent-watch").start()
    check_parent()


def check_parent() -> None:
    """Exit at once (status 1, writing nothing) if this process works for a parent that is gone.

    A no-op in a process of its own. A re-parented worker sees another ``getppid()``.
    """
    if _parent is not None and os.getppid() != _parent:
        os._exit(1)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """``workers`` spawned worker processes that die with this one (``spawn``: no copy of
    this process's threads or locks). Start it from the thread that waits for it: Linux
    ties the death signal to the thread that starts a worker."""
    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=die_with_parent, initargs=(os.getpid(),),
    )  # fmt: skip


def child_command(command: Sequence[str]) -> list[str]:
    """``command`` wrapped so that it dies with this process (see the module docstring)."""
    return [sys.executable, "-m", "landscape.lifetime", str(os.getpid()), *command]


def _run(parent: int, command: list[str]) -> int:
    """Run ``command`` tied to ``parent``: replaced by it on Linux (the death signal survives
    ``exec``), else watched from here and killed when the parent ends."""
    if _prctl_deathsig():
        if os.getppid() != parent:
            return 1
        os.execvp(command[0], command)
    proc = subprocess.Popen(command)
    while proc.poll() is None:
        if os.getppid() != parent:
            with contextlib.suppress(OSError):
                proc.kill()
            return 1
        time.sleep(_POLL_S)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(_run(int(sys.argv[1]), sys.argv[2:]))
