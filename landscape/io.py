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
import stat
import tempfile
from pathlib import Path
from typing import Any

from landscape import lifetime, paths
from landscape.errors import CheckpointError, LandscapeError, SymlinkError

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "file_digest",
    "level_metrics",
    "load_json",
    "make_folder",
    "open_private",
    "save_json",
    "temporary_beside",
]


# mkstemp creates files readable by the owner only; results are meant to be shared.
FILE_MODE = 0o644


def _link_error(entry: Path, root: Path) -> SymlinkError:
    return SymlinkError(
        f"{entry} is a symbolic link; below {root} the toolkit writes only its own files and "
        "folders, never through a link (a run directory from elsewhere could point outside it): "
        "remove the link, or copy the run without links (cp -rL) and pass the copy"
    )


def make_folder(folder: Path) -> Path:
    """Create ``folder`` (and its missing parents) without following a symbolic link in the
    entries the toolkit names itself (:func:`landscape.paths.own_root`); ``folder``.

    Links in the path the user gave (above ``own_root``) are followed as usual.

    Raises:
        SymlinkError: an entry below ``own_root(folder)`` is a symbolic link.
        OSError: an entry is a file, or the folder cannot be created.
    """
    folder = Path(folder)
    root = paths.own_root(folder)
    root.mkdir(parents=True, exist_ok=True)
    here = root
    for part in folder.relative_to(root).parts:
        here = here / part
        try:
            os.mkdir(here)  # never follows a link: an existing entry raises FileExistsError
        except FileExistsError:
            mode = os.lstat(here).st_mode
            if stat.S_ISLNK(mode):
                raise _link_error(here, root) from None
            if not stat.S_ISDIR(mode):
                raise NotADirectoryError(20, "Not a directory", str(here)) from None
    return folder


def temporary_beside(path: Path) -> tuple[int, str]:
    """A new temporary file in ``path``'s folder (made with :func:`make_folder`): ``(fd, name)``.

    The caller writes it and puts it in place with :func:`os.replace`, which replaces a
    symbolic link at ``path`` itself, never the file it points to.
    """
    path = Path(path)
    lifetime.check_parent()  # a worker whose parent (the lock holder) died writes nothing
    make_folder(path.parent)
    return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")


def open_private(path: Path, flags: int) -> int:
    """Open (creating) a regular file the toolkit owns, never through a link; its descriptor.

    For the files written in place rather than replaced: locks and logs.

    Raises:
        SymlinkError: ``path`` or a folder the toolkit names above it is a symbolic link, or
            ``path`` is a hard link to another file or no regular file.
    """
    path = Path(path)
    make_folder(path.parent)
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    try:
        # O_NONBLOCK: a FIFO planted at ``path`` must not hang the open.
        fd = os.open(path, flags | os.O_CREAT | nofollow | os.O_NONBLOCK | os.O_CLOEXEC, FILE_MODE)
    except OSError as exc:
        if os.path.islink(path):
            raise _link_error(path, paths.own_root(path.parent)) from None
        raise exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
        os.close(fd)
        raise SymlinkError(
            f"{path} is {'a hard link to another file' if stat.S_ISREG(info.st_mode) else 'not a regular file'}; "
            "the toolkit writes only its own files: remove it and run the command again"
        )
    os.set_blocking(fd, True)
    return fd


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace`` (never through a link:
    :func:`temporary_beside`)."""
    path = Path(path)
    fd, tmp = temporary_beside(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        lifetime.check_parent()
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
