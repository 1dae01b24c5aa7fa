"""Rank, world size, barrier and collectives; every function is a no-op on one process.

Launched with ``torchrun --nproc-per-node N`` the environment names the rank, the
world size and the rendezvous (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``); :func:`init_from_env` joins that process group
with gloo on CPU and NCCL on CUDA (docs/architecture.md, "Scaling past one machine").
Without torchrun nothing is initialised and the same code runs as one process:
``all_reduce_sum`` returns its input, ``gather_objects`` a one-element list, and so on.

Collectives wait up to ``$LANDSCAPE_DIST_TIMEOUT`` minutes (default 720): a rank may
idle through a whole level while another trains (a SWAMP+ level has one particle),
far longer than torch's defaults of 10 (NCCL) and 30 (gloo) minutes.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from landscape.errors import LandscapeError

__all__ = [
    "DistributedError",
    "all_reduce_mean",
    "all_reduce_sum",
    "barrier",
    "broadcast_object",
    "broadcast_state",
    "env_rank",
    "env_world_size",
    "gather_objects",
    "init_from_env",
    "is_active",
    "is_primary",
    "local_device",
    "rank",
    "shutdown",
    "world_size",
]


class DistributedError(LandscapeError):
    """A distributed launch is misconfigured (bad environment, wrong mode, wrong device)."""


def env_world_size() -> int:
    """The world size torchrun announced in ``WORLD_SIZE`` (1 when not launched by torchrun)."""
    raw = os.environ.get("WORLD_SIZE", "1")
    try:
        size = int(raw)
    except ValueError as exc:
        raise DistributedError(
            f"WORLD_SIZE={raw!r} is not a number; launch with torchrun --nproc-per-node N, "
            "or unset WORLD_SIZE to run as one process"
        ) from exc
    if size < 1:
        raise DistributedError(f"WORLD_SIZE={size}: it must be at least 1")
    return size


def env_rank() -> int:
    """The rank torchrun announced in ``RANK`` (0 when not launched by torchrun), usable
    before the process group exists (e.g. to keep other ranks quiet)."""
    raw = os.environ.get("RANK", "0")
    return int(raw) if raw.isdigit() else 0


def is_active() -> bool:
    """Whether a process group of more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's global rank (0 on one process)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """Number of processes in the group (1 on one process)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_primary() -> bool:
    """Rank 0, the only process that writes files and prints."""
    return rank() == 0


def local_device(device: torch.device) -> torch.device:
    """The device this rank should use: ``cuda:LOCAL_RANK`` for CUDA under torchrun, else ``device``.

    Also makes it the current CUDA device, which NCCL's object collectives rely on.
    """
    if device.type != "cuda" or env_world_size() == 1:
        return device
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if local >= torch.cuda.device_count():
        raise DistributedError(
            f"LOCAL_RANK {local} has no GPU (this node has {torch.cuda.device_count()}); "
            "use --nproc-per-node at most the number of GPUs, or --device cpu (gloo)"
        )
    torch.cuda.set_device(local)
    return torch.device("cuda", local)


def init_from_env(device: torch.device) -> bool:
    """Join torchrun's process group once: NCCL for CUDA devices, gloo otherwise.

    Returns:
        True if this call initialised the group (the caller then calls
        :func:`shutdown`), False if there is nothing to do (one process) or a group
        already exists.

    Raises:
        DistributedError: ``WORLD_SIZE`` > 1 but torch has no distributed support.
    """
    if env_world_size() == 1 or (dist.is_available() and dist.is_initialized()):
        return False
    if not dist.is_available():
        raise DistributedError(
            "WORLD_SIZE > 1 but this torch build has no torch.distributed; run as one process"
        )
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=_timeout())
    return True


def _timeout() -> datetime.timedelta:
    raw = os.environ.get("LANDSCAPE_DIST_TIMEOUT", "720")
    try:
        minutes = float(raw)
    except ValueError as exc:
        raise DistributedError(
            f"LANDSCAPE_DIST_TIMEOUT={raw!r}: give the collective timeout in minutes, e.g. 720"
        ) from exc
    if minutes <= 0:
        raise DistributedError(
            f"LANDSCAPE_DIST_TIMEOUT={raw!r} must be a positive number of minutes"
        )
    return datetime.timedelta(minutes=minutes)


def shutdown() -> None:
    """Leave the process group (a no-op when none is initialised)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank."""
    if is_active():
        dist.barrier()


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """Sum ``tensor`` over ranks, in place; returns it."""
    if is_active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_mean(tensor: Tensor) -> Tensor:
    """Average ``tensor`` over ranks, in place; returns it."""
    if is_active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor.div_(world_size())
    return tensor


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (picklable, small: flags, lists, metrics)."""
    if not is_active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def broadcast_state(state: Mapping[str, Tensor], src: int = 0) -> dict[str, Tensor]:
    """Overwrite ``state``'s tensors in place with rank ``src``'s, in name order; returns it.

    Every rank passes tensors of the same names, shapes and dtypes (e.g. a fresh
    model's state dict); booleans travel as ``uint8``, which every backend carries.
    """
    out = dict(state)
    if not is_active():
        return out
    for k in sorted(out):
        t = out[k]
        if t.dtype == torch.bool:
            buf = t.to(torch.uint8)
            dist.broadcast(buf, src=src)
            out[k] = buf.bool()
        else:
            dist.broadcast(t, src=src)
    return out


def gather_objects(obj: Any, dst: int = 0) -> list[Any] | None:
    """Every rank's ``obj`` in rank order on rank ``dst`` (``None`` elsewhere).

    Objects are pickled by torch.distributed between the processes of this job; move
    tensors to the CPU first so that any rank can unpickle them.
    """
    if not is_active():
        return [obj]
    out: list[Any] | None = [None] * world_size() if rank() == dst else None
    dist.gather_object(obj, out, dst=dst)
    return out
