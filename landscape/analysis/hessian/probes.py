"""Random probe vectors, drawn on the CPU from a seeded generator (docs/science.md).

Drawing on the CPU makes every estimate the same on every device and leaves the
global RNG alone. On CUDA the vector goes through pinned memory with
``non_blocking=True``, so handing it over does not stall the host on the GPU queue.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

__all__ = ["gaussian", "rademacher", "rademacher_share", "to_device"]


def to_device(t: Tensor, device: torch.device | str, dtype: torch.dtype) -> Tensor:
    """Move a CPU tensor to ``device``/``dtype`` without a host synchronisation on CUDA."""
    device = torch.device(device)
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True).to(dtype)
    return t.to(device=device, dtype=dtype)


def rademacher(
    dim: int, generator: torch.Generator, device: torch.device | str, dtype: torch.dtype
) -> Tensor:
    """A vector of independent ±1 entries."""
    v = torch.randint(0, 2, (dim,), generator=generator, dtype=torch.int8)
    return to_device(2 * v - 1, device, dtype)


def gaussian(
    dim: int, generator: torch.Generator, device: torch.device | str, dtype: torch.dtype
) -> Tensor:
    """A vector of independent standard normal entries (drawn in float64)."""
    return to_device(torch.randn(dim, generator=generator, dtype=torch.float64), device, dtype)


def rademacher_share(
    dim: int,
    generator: torch.Generator,
    keep: Sequence[int],
    device: torch.device | str,
    dtype: torch.dtype,
) -> Iterator[tuple[int, Tensor]]:
    """Probes ``i`` in ``keep`` (ascending) of the stream :func:`rademacher` draws from
    ``generator``, as ``(i, v)``: the probes before each are drawn and dropped on the CPU,
    so probe ``i`` is the same vector on every rank as in one process."""
    drawn = 0
    for i in keep:
        while drawn < i:  # another rank's probe: advance the stream, send nothing
            torch.randint(0, 2, (dim,), generator=generator, dtype=torch.int8)
            drawn += 1
        yield i, rademacher(dim, generator, device, dtype)
        drawn += 1
