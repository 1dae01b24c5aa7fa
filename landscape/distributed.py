"""Rank, world size, barrier and collectives; every function is a no-op on one process.

Launched with ``torchrun --nproc-per-node N`` the environment names the rank, the
world size and the rendezvous (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``); :func:`init_from_env` joins that process group
with gloo on CPU and NCCL on CUDA (docs/architecture.md, "Scaling past one machine").
Without torchrun nothing is initialised and the same code runs as one process:
``all_reduce_sum`` returns its input, ``gather_objects`` a one-element list, and so on.

The analyses split independent work (path and grid points, Hessian probes) over the
ranks with :func:`shard_world`/:func:`my_indices` and put the pieces back together
with :func:`assemble`, so every rank ends with the one-process result; rank 0 alone
takes locks and writes (:func:`primary_context`, :func:`on_primary`);
:func:`landscape.launch.session` joins a command to torchrun's group with the other
ranks quiet.

Collectives wait up to ``$LANDSCAPE_DIST_TIMEOUT`` minutes (default 720): a rank may
idle through a whole level while another trains (a SWAMP+ level has one particle),
far longer than torch's defaults of 10 (NCCL) and 30 (gloo) minutes.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

from landscape.errors import LandscapeError

__all__ = [
    "DistributedError",
    "PeerError",
    "all_gather_objects",
    "all_reduce_mean",
    "all_reduce_sum",
    "alone",
    "assemble",
    "barrier",
    "broadcast_object",
    "broadcast_state",
    "collective",
    "end_rank",
    "env_rank",
    "env_world_size",
    "gather_objects",
    "init_from_env",
    "is_active",
    "is_primary",
    "local_device",
    "my_indices",
    "on_primary",
    "primary_context",
    "rank",
    "shard_world",
    "shutdown",
    "world_size",
]

T = TypeVar("T")


class DistributedError(LandscapeError):
    """A distributed launch is misconfigured (bad environment, wrong mode, wrong device)."""


class PeerError(DistributedError):
    """Rank 0 failed in work it did for every rank (it reports the error itself)."""


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
        DistributedError: ``WORLD_SIZE`` > 1 but torch has no distributed support, or
            this process already joined and left the group of this rendezvous (a second
            join would wait forever in torchrun's store).
    """
    if env_world_size() == 1 or (dist.is_available() and dist.is_initialized()):
        return False
    if not dist.is_available():
        raise DistributedError(
            "WORLD_SIZE > 1 but this torch build has no torch.distributed; run as one process"
        )
    where = (os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT"))
    if where in _LEFT:
        raise DistributedError(
            "this process already joined torchrun's group and left it; joining it again would "
            "hang. In a script, call the jobs inside one `with landscape.launch.session():`"
        )
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=_timeout())
    _JOINED.add(where)
    return True


_JOINED: set[tuple[str | None, str | None]] = set()  # rendezvous this process joined
_LEFT: set[tuple[str | None, str | None]] = set()  # ... and left


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
    """Leave the process group (a no-op when none is initialised).

    A finished command calls :func:`barrier` first (no rank leaves while a peer's
    collective is in flight; not on an error, where a peer may wait in another
    collective). The garbage that still holds the group is collected after it is
    destroyed. A group that has served ``DistributedDataParallel`` is not freed even
    then (torch keeps references to it), so its gloo threads live on until the process
    ends: a torchrun rank ends through :func:`end_rank`.
    """
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
        gc.collect()
        _LEFT.update(_JOINED)


def end_rank(status: int) -> None:
    """End a torchrun rank that joined the process group here: flush, then ``os._exit``.

    The interpreter's own teardown runs the C++ destructors while the gloo threads of a
    group that DDP kept alive (:func:`shutdown`) still run and the peers close their
    sockets; in about one finished run in twenty a rank then aborted ("terminate called
    without an active exception") and torchrun reported the finished run as failed.
    Everything is written (atomically, under locks that end with the process) before
    this point, so nothing is lost by skipping that teardown. A no-op in any process
    that joined no group (one process, the tests).
    """
    if not _JOINED or "TORCHELASTIC_RUN_ID" not in os.environ:
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)


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


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` in rank order, on every rank (``[obj]`` on one process).

    Pickled by torch.distributed: move tensors to the CPU first.
    """
    if not is_active():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


# Depth of ``alone()`` blocks: inside one, this process works by itself (no sharding,
# no collectives), e.g. rank 0 inside :func:`on_primary`.
_alone = 0


@contextlib.contextmanager
def alone() -> Iterator[None]:
    """Within the block this process works on its own: :func:`shard_world` is ``(0, 1)``
    and the job helpers (``landscape.jobs.store``) take no collective step, so code
    that runs on one rank only (or different work on each rank) never waits for the others."""
    global _alone
    _alone += 1
    try:
        yield
    finally:
        _alone -= 1


def collective() -> bool:
    """Whether the ranks work together here: a group of several processes, outside :func:`alone`."""
    return _alone == 0 and is_active()


def shard_world() -> tuple[int, int]:
    """``(rank, world size)`` over which independent work is split; ``(0, 1)`` on one
    process or inside :func:`alone`."""
    return (rank(), world_size()) if collective() else (0, 1)


def my_indices(n: int) -> range:
    """The items ``0 .. n-1`` this rank computes: ``r, r + R, r + 2R, …`` (all of them on one process)."""
    r, size = shard_world()
    return range(r, n, size)


def assemble(n: int, mine: Sequence[T]) -> list[T]:
    """All ``n`` items in order, on every rank, from each rank's :func:`my_indices` share.

    Args:
        n: the number of items (the same on every rank).
        mine: this rank's values, in the order of ``my_indices(n)`` (CPU objects).
    """
    r, size = shard_world()
    if len(mine) != len(range(r, n, size)):
        raise DistributedError(
            f"rank {r} holds {len(mine)} of {n} items, expected {len(range(r, n, size))}; "
            "every rank must compute exactly my_indices(n)"
        )
    if size == 1:
        return list(mine)
    out: list[Any] = [None] * n
    for k, part in enumerate(all_gather_objects(list(mine))):
        for i, value in zip(range(k, n, size), part):
            out[i] = value
    return out


def on_primary(fn: Callable[[], T]) -> T:
    """``fn()`` computed on rank 0 alone (inside :func:`alone`), its value on every rank.

    For work that must happen once (training a network that is then saved, reading
    files rank 0 writes). The value is broadcast: keep it small, tensors on the CPU.
    An exception on rank 0 is raised there and as :class:`PeerError` on the others.
    """
    if not collective():
        return fn()
    if is_primary():
        try:
            with alone():
                value = fn()
        except BaseException as exc:
            broadcast_object(("error", f"{type(exc).__name__}: {exc}"))
            raise
        broadcast_object(("ok", value))
        return value
    status, value = broadcast_object(None)
    if status == "error":
        raise PeerError(f"rank 0 stopped: {value}")
    return value


@contextlib.contextmanager
def primary_context(enter: Callable[[], contextlib.AbstractContextManager[T]]) -> Iterator[T]:
    """Enter the context manager ``enter()`` on rank 0 only; every rank gets what it yields.

    For a lock and a "finished result?" check around work all ranks share (rank 0
    holds the lock while every rank computes). An exception while entering is raised
    on rank 0 and as :class:`PeerError` on the others.
    """
    if not collective():
        with enter() as value:
            yield value
        return
    with contextlib.ExitStack() as stack:
        value = on_primary(lambda: stack.enter_context(enter()))
        yield value
