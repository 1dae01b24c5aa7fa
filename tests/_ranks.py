"""Groups of gloo processes on this machine, as ``torchrun`` would start them (for the tests)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

import torch.multiprocessing as mp

__all__ = ["free_port", "spawn", "torchrun_env"]


def free_port() -> int:
    """A TCP port nothing listens on now (for ``MASTER_PORT``)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun_env(rank: int, world: int, port: int | None = None) -> None:
    """Set the environment ``torchrun --standalone`` gives rank ``rank`` of ``world``."""
    os.environ.update(MASTER_ADDR="127.0.0.1", RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))  # fmt: skip
    if port is not None:
        os.environ["MASTER_PORT"] = str(port)


def spawn(worker: Callable[..., None], *args: Any, nprocs: int = 2) -> dict[int, Any]:
    """Run ``worker(rank, *args, results)`` on ``nprocs`` processes; ``results`` as filled.

    ``worker`` (a module-level function) stores what it returns in the shared dict
    ``results[rank]``; an exception in any process fails the call.
    """
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(worker, args=(*args, results), nprocs=nprocs, join=True)
        return dict(results)
