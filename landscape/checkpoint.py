"""Atomic, tensors-only checkpoint I/O (safetensors) with errors that say what to do.

A checkpoint never runs code when opened: safetensors holds raw tensors, and the
only ``torch.load`` here passes ``weights_only=True``. Every write goes to a
temporary file in the same directory and is renamed into place, so a killed run
leaves either the old file or the new one, never half of one. The torch-free
writers and JSON readers (:mod:`landscape.io`) are re-exported here.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from landscape.errors import CheckpointError

# The torch-free writers and JSON readers live in landscape.io; re-exported for old imports.
from landscape.io import FILE_MODE as _FILE_MODE
from landscape.io import (
    atomic_write_bytes,
    atomic_write_text,
    load_json,
    save_json,
    temporary_beside,
)
from landscape.lifetime import check_parent

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "check_state_fits",
    "load_json",
    "load_state",
    "save_json",
    "save_state",
]


def save_state(
    path: Path, state: Mapping[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> None:
    """Save a flat ``{name: tensor}`` mapping atomically as safetensors (tensors copied to CPU)."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    path = Path(path)
    fd, tmp = temporary_beside(path)  # never through a symbolic link (landscape.io)
    os.close(fd)
    try:
        try:
            save_file(tensors, tmp, metadata=metadata)
        except SafetensorError as exc:  # the writer's own error for a full disk, EIO, ...
            raise _os_error(exc, path) from exc
        os.chmod(tmp, _FILE_MODE)
        check_parent()  # a worker whose parent (the lock holder) died writes nothing
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename is None:  # name the file in the one-line message
            exc.filename = str(path)
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _os_error(exc: SafetensorError, path: Path) -> OSError:
    """safetensors' write error as the ``OSError`` it wraps (``(os error 28)``), with
    ``path``; the command line prints it as one line with advice (a full disk: free space)."""
    text = str(exc)
    code = re.search(r"(?:code: |os error )(\d+)", text)  # "Os { code: 28 ..." or "(os error 28)"
    number = int(code.group(1)) if code else errno.EIO
    return OSError(number, os.strerror(number), str(path))


# Files the toolkit writes that are never state dicts: named, instead of unpickled.
_NOT_CHECKPOINTS = frozenset({".json", ".npz", ".png", ".md", ".txt", ".csv"})


def load_state(path: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load a checkpoint: safetensors, or a PyTorch state dict read with ``weights_only=True``.

    Raises:
        CheckpointError: the file is missing, corrupt, truncated, or not a state dict.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    redo = "delete it and re-run the command that wrote it (finished levels are kept)"
    if path.suffix in _NOT_CHECKPOINTS:
        raise CheckpointError(
            f"{path} is not a checkpoint; pass a .safetensors file (or a PyTorch state dict)"
        )
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path), device=str(device))
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise CheckpointError(
                f"checkpoint {path} is corrupt or truncated ({exc}); {redo}"
            ) from exc
    try:
        obj = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        # torch's own text is a page about weights_only defaults: the error's type says enough.
        raise CheckpointError(
            f"cannot read {path} as a tensors-only PyTorch checkpoint ({type(exc).__name__}); "
            "it is corrupt, "
            "or holds pickled objects (only tensor state dicts are loaded, never code)"
        ) from exc
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors")
    return dict(obj)


def check_state_fits(
    state: Mapping[str, torch.Tensor],
    reference: Mapping[str, torch.Tensor],
    path: Path | str,
    *,
    strict_keys: bool = True,
) -> None:
    """Raise :class:`CheckpointError` unless ``state`` has ``reference``'s names and shapes.

    With ``strict_keys=False`` a subset of names is accepted (masks cover prunable tensors only).
    """
    missing = [k for k in reference if k not in state] if strict_keys else []
    unexpected = [k for k in state if k not in reference]
    wrong = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(reference[k].shape)}"
        for k in state if k in reference and state[k].shape != reference[k].shape
    ]  # fmt: skip
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        if wrong:
            parts.append("shape mismatch " + "; ".join(wrong[:5]))
        raise CheckpointError(
            f"{path} does not fit the model: "
            + ", ".join(parts)
            + ". Was it written for another architecture? Pass the matching --model/--data, "
            "or the run directory it came from."
        )
