"""A command under ``torchrun``: its device, the process group, quiet ranks (docs/scaling.md).

:func:`session` wraps one analysis command: every rank joins torchrun's group (gloo on
the CPU, NCCL on CUDA with one GPU per rank), ranks other than 0 print nothing, and the
group is left at the end. On one process it does nothing. The collectives and the
splitting of work are in :mod:`landscape.distributed`.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from typing import Any

import torch

from landscape.distributed import (
    PeerError,
    barrier,
    env_world_size,
    init_from_env,
    is_primary,
    local_device,
    shutdown,
)

__all__ = ["rank_device", "session"]


def rank_device(name: str) -> str:
    """The ``--device`` this rank uses under torchrun: ``cuda`` or ``cuda:N`` becomes
    ``cuda:LOCAL_RANK`` (one GPU per rank); ``auto`` stays (the run's device) but makes
    ``cuda:LOCAL_RANK`` the current CUDA device, which a plain ``cuda`` then names. One
    process keeps ``name`` as it is."""
    if env_world_size() == 1:
        return name
    if name == "auto":
        if torch.cuda.is_available():
            local_device(torch.device("cuda"))
        return name
    if torch.device(name).type == "cuda":
        return str(local_device(torch.device("cuda")))
    return name


def _backend_device(name: str) -> torch.device:
    """The device whose backend the group uses: NCCL for CUDA (``auto`` with a GPU), else gloo."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class _NoTerminal(io.TextIOBase):
    """A stream that writes through but says it is no terminal (progress bars stay off)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return False


def _leave_together() -> None:
    """A finished command waits for every rank before leaving the group (no rank goes while
    a peer's collective is in flight); a peer that died already is no error of this rank."""
    with contextlib.suppress(RuntimeError):
        barrier()


@contextlib.contextmanager
def session(device: str = "auto") -> Iterator[str]:
    """Run a command under torchrun: join the group, keep ranks other than 0 quiet, leave.

    Yields the device name this rank uses (:func:`rank_device`). Ranks other than 0
    print nothing (stdout is dropped, stderr shows no progress bar but still shows
    errors); a :class:`PeerError` (rank 0 failed and said why) ends them with
    status 2 and no second message. On one process this is a no-op yielding ``device``.
    """
    if env_world_size() == 1:
        yield device
        return
    name = rank_device(device)
    created = init_from_env(_backend_device(name))
    try:
        if is_primary():
            yield name
            _leave_together()
            return
        try:
            with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), \
                    contextlib.redirect_stderr(_NoTerminal(sys.stderr)):  # fmt: skip
                yield name
        except PeerError:
            raise SystemExit(2) from None
        _leave_together()
    finally:
        if created:
            shutdown()
