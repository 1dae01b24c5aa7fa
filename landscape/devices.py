"""Device choice: ``--device auto`` means CUDA when present, else CPU."""

from __future__ import annotations

import os

import torch

__all__ = ["available_memory", "configure_threads", "resolve_device"]


def available_memory(device: torch.device | str = "cpu") -> int:
    """Free bytes on ``device`` (CUDA: the allocator's view; CPU: ``MemAvailable``)."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` → ``cuda`` if available else ``cpu``; anything else is checked and returned."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(
            f"--device {name!r} is not a device: use cpu, cuda, cuda:N or auto"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: no CUDA device is visible here; use --device cpu")
    return dev


# Below this many parameters a second CPU thread buys nothing (the matrix products are
# tiny), and when another process holds a core two OpenMP threads stall each other:
# the MNIST-1D MLP took ~70 s a level with 2 threads beside one busy process, 1.0 s
# with 1 thread (2-core machine, 2026-11-21; README "Results").
SMALL_MODEL_PARAMS = 100_000


def configure_threads(device: torch.device, num_params: int, threads: int = 0) -> int:
    """Set torch's CPU thread count for a run on ``device``; returns the count in force.

    ``threads > 0`` is used as given; ``0`` means auto: one thread for models under
    :data:`SMALL_MODEL_PARAMS` parameters on the CPU, torch's default otherwise.
    """
    if threads < 0:
        raise ValueError(f"--threads must be 0 (auto) or a positive count, got {threads}")
    if threads > 0:
        torch.set_num_threads(threads)
    elif device.type == "cpu" and num_params < SMALL_MODEL_PARAMS:
        torch.set_num_threads(1)
    return torch.get_num_threads()
