"""Torch-free file I/O: atomic writes, JSON records, and a run's per-level metrics.

Everything here is importable without torch, so the command line's listing verbs
(``landscape show``, ``landscape models``) and the plots can read result records
quickly. Every write goes to a temporary file in the same directory and is renamed
into place, so a killed process leaves either the old file or the new one, never
half of one. Tensor checkpoints live in :mod:`landscape.checkpoint`, which
re-exports these functions.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from landscape import paths
from landscape.errors import CheckpointError, LandscapeError

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "file_digest",
    "level_metrics",
    "load_json",
    "save_json",
]


# mkstemp creates files readable by the owner only; results are meant to be shared.
FILE_MODE = 0o644


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename is None:  # a write error names no file: name the one being written
            exc.filename = str(path)
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # torch tensors, numpy arrays and scalars
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def save_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically (tensors and arrays become lists)."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def load_json(path: Path) -> Any:
    """Read a JSON file.

    Raises:
        CheckpointError: the file is missing, or corrupt or truncated (the message says what
            to do).
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path} does not exist")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(
            f"{path} is not valid JSON ({exc}); it is corrupt or truncated — delete it and "
            "re-run the command that wrote it"
        ) from exc


def level_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """One dict per finished level, from its ``metrics.json`` (without the curve and layer table).

    Finished levels are those with both ``weights.safetensors`` and ``metrics.json``
    (:func:`landscape.paths.levels`).

    Raises:
        LandscapeError: ``run_dir`` has no ``config.json``.
        CheckpointError: a level's ``metrics.json`` is corrupt.
    """
    run_dir = Path(run_dir)
    if not paths.config(run_dir).exists():
        raise LandscapeError(
            f"{run_dir} is not a run directory (no config.json); pass the directory a runner wrote"
        )
    rows = []
    for level in paths.levels(run_dir):
        m = load_json(paths.metrics(run_dir, level))
        rows.append({k: v for k, v in m.items() if k not in ("curve", "layers")})
    return rows


def file_digest(*files: Path) -> str:
    """Sixteen hex digits of SHA-256 over the files' bytes: names a file by its content, so a
    result keyed by it goes stale (and a damaged checkpoint shows) when the bytes change."""
    h = hashlib.sha256()
    for f in files:
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]
