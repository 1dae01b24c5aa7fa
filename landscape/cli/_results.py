"""Writing analysis results, shared by every analysis verb (connectivity, barrier,
instability, slice, hessian): a folder per settings hash holding ``result.json``
(written last: its presence marks the result finished), ``result.npz`` and PNGs."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from landscape.checkpoint import atomic_write_bytes, load_json, save_json
from landscape.errors import LandscapeError

__all__ = [
    "existing_result",
    "file_digest",
    "save_figure",
    "settings_digest",
    "stamp",
    "use_agg",
    "write_result",
]


def settings_digest(settings: Mapping[str, Any]) -> str:
    """Ten hex digits of SHA-256 over the canonical JSON of ``settings``."""
    return hashlib.sha256(_canonical(settings).encode()).hexdigest()[:10]


def _canonical(settings: Mapping[str, Any]) -> str:
    return json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)


def file_digest(*files: Path) -> str:
    """Sixteen hex digits of SHA-256 over the files' bytes: names a checkpoint by content in
    hashed settings, so a result goes stale when a file it read is rewritten."""
    h = hashlib.sha256()
    for f in files:
        h.update(Path(f).read_bytes())
    return h.hexdigest()[:16]


def existing_result(
    folder: Path, force: bool, settings: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The finished result in ``folder`` for these ``settings``, unless ``--force``.

    Raises:
        LandscapeError: ``folder`` (e.g. an ``--out`` reused) holds a result of other
            settings; it is never overwritten without ``--force``.
    """
    path = folder / "result.json"
    if force or not path.exists():
        return None
    record = load_json(path)
    stored = record.get("settings")
    if stored is None or _canonical(stored) != _canonical(settings):
        raise LandscapeError(
            f"{folder} holds a result of other settings ({record.get('kind', 'unknown kind')}"
            f"{'' if stored is None else ': ' + _canonical(stored)[:160]}); pass another --out, "
            "or --force to overwrite it"
        )
    print(f"reusing the finished result in {folder} (from {record.get('created', '?')}; "
          "--force recomputes)")  # fmt: skip
    return record


def write_result(folder: Path, result: Mapping[str, Any], arrays: Mapping[str, Any]) -> Path:
    """Write ``result.json`` (everything, arrays as lists) and ``result.npz`` (the arrays)."""
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()})
    atomic_write_bytes(folder / "result.npz", buf.getvalue())
    save_json(folder / "result.json", dict(result))
    return folder / "result.json"


def save_figure(fig: Any, path: Path) -> None:
    """Save a matplotlib figure atomically (PNG, 150 dpi) and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def use_agg() -> None:
    """Headless plotting for the command line."""
    import matplotlib

    matplotlib.use("Agg")


def stamp() -> dict[str, str]:
    return {"created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
