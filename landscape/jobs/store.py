"""The result store: one folder per analysis and settings, finished when ``result.json`` exists.

A result folder ``<kind>_<digest>/`` holds ``result.json`` (every number, with the
settings that produced it), ``result.npz`` (the arrays), figures and reports.
``result.json`` is the "finished" marker and is written **last**, after every
other file of the folder (and after any other folder the job writes), so an
interrupted job leaves no marker and the next call completes the whole set. A
folder that holds a result of *other* settings (e.g. a reused ``--out``) is
refused, never silently reused or overwritten.

Under ``torchrun`` (:mod:`landscape.distributed`) every rank runs the job and
computes its share, while rank 0 alone takes the locks, looks for finished results
and writes: :func:`claim` tells every rank what rank 0 found, and a :class:`Writer`
on another rank writes nothing.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from landscape import distributed
from landscape.errors import LandscapeError, NonFiniteResultError
from landscape.io import atomic_write_bytes, atomic_write_text, load_json, save_json
from landscape.locks import hold
from landscape.settings import canonical

__all__ = [
    "Result",
    "Writer",
    "check_finite",
    "claim",
    "find_result",
    "reuse",
    "stamp",
]


@dataclass(frozen=True)
class Result:
    """What a job returns: the record (every number), its folder and whether it was reused.

    ``result["error_barrier"]`` reads the record; :attr:`arrays` loads ``result.npz``.
    """

    record: dict[str, Any]
    folder: Path
    reused: bool = False
    children: tuple[Result, ...] = field(default=())

    @property
    def kind(self) -> str:
        return str(self.record.get("kind", ""))

    def __getitem__(self, key: str) -> Any:
        return self.record[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.record.get(key, default)

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays of ``result.npz`` (empty when the result has none)."""
        path = self.folder / "result.npz"
        if not path.exists():
            return {}
        with np.load(path) as npz:
            return {k: npz[k] for k in npz.files}

    @property
    def figures(self) -> list[Path]:
        return sorted(self.folder.glob("*.png"))


def stamp() -> dict[str, str]:
    """The creation time recorded in every result, and the command line of the verb that
    made it (``command``: set by ``landscape.cli.main``; absent through the Python API)."""
    out = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    command = os.environ.get("LANDSCAPE_COMMAND")
    if command:
        out["command"] = command
    return out


def find_result(
    folder: Path, settings: Mapping[str, Any], *, force: bool = False
) -> dict[str, Any] | None:
    """The finished result in ``folder`` for these ``settings`` (``None``: compute it).

    Raises:
        LandscapeError: ``folder`` holds a result of other settings; it is never
            overwritten without ``force``.
    """
    path = folder / "result.json"
    if force or not path.exists():
        return None
    record = load_json(path)
    stored = record.get("settings")
    if stored is None or canonical(stored) != canonical(dict(settings)):
        raise LandscapeError(
            f"{folder} holds a result of other settings ({record.get('kind', 'unknown kind')}"
            f"{'' if stored is None else ': ' + canonical(stored)[:160]}); pass another --out, "
            "or --force to overwrite it"
        )
    return record


class Writer:
    """Writes one result folder: arrays, figures and text first, ``result.json`` last.

    Inside :func:`claim` the folder's lock is held already. A result that is rewritten on
    every call (a summary across levels) uses ``with Writer(folder) as w:``, which holds
    the lock (waiting for another writer) and drops the old marker before writing.
    Under ``torchrun`` only rank 0 writes (and locks); elsewhere every method but
    :meth:`finish`'s return value is a no-op.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock: contextlib.AbstractContextManager | None = None
        self.writes = distributed.is_primary()
        self._written: list[Path] = []  # removed again if the record is refused

    def __enter__(self) -> Writer:
        if not self.writes:
            return self
        self._lock = hold(self.folder, wait=True, what="result folder")
        self._lock.__enter__()
        (self.folder / "result.json").unlink(missing_ok=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.__exit__(*exc)
            self._lock = None

    def arrays(self, arrays: Mapping[str, Any]) -> None:
        if not self.writes:
            return
        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()})
        atomic_write_bytes(self.folder / "result.npz", buf.getvalue())
        self._written.append(self.folder / "result.npz")

    def figure(self, name: str, draw: Callable[[], tuple[Any, Any]]) -> None:
        """Draw a figure (a plotting function's ``(fig, ax)``) and save it as PNG, 150 dpi."""
        if not self.writes:
            return
        fig, _ = draw()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=150)
        atomic_write_bytes(self.folder / name, buf.getvalue())
        self._written.append(self.folder / name)

    def text(self, name: str, text: str) -> None:
        if not self.writes:
            return
        atomic_write_text(self.folder / name, text)
        self._written.append(self.folder / name)

    def finish(self, record: Mapping[str, Any]) -> Result:
        """Write the marker ``result.json`` (the last file) and return the :class:`Result`.

        Raises:
            NonFiniteResultError: a number of the record is NaN or infinite
                (:func:`check_finite`); nothing is marked finished, and the files this
                writer wrote (arrays, figures of NaN) are removed again.
        """
        try:
            check_finite(record, self.folder)
        except NonFiniteResultError:
            for path in self._written:
                path.unlink(missing_ok=True)
            raise
        if self.writes:
            save_json(self.folder / "result.json", dict(record))
        return Result(dict(record), self.folder)


def _non_finite(value: Any, where: str = "") -> list[str]:
    """The keys (``loss_barrier``, ``eigenvalues[0]``, ...) of ``value`` holding NaN or ±inf."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [where or "the value"]
    if isinstance(value, Mapping):
        return [k for key, v in value.items() for k in _non_finite(v, f"{where}.{key}".lstrip("."))]
    if isinstance(value, (list, tuple)):
        return [k for i, v in enumerate(value) for k in _non_finite(v, f"{where}[{i}]")]
    if hasattr(value, "dtype") and hasattr(value, "tolist"):  # numpy / torch numbers and arrays
        return _non_finite(value.tolist(), where)
    return []


#: The settings that name what a result was computed from (weights, checkpoints, levels).
_INPUT_KEYS = (
    "weights",
    "a",
    "b",
    "center",
    "anchors",
    "target",
    "checkpoint",
    "level",
    "levels",
    "from",
    "run",
)


def check_finite(record: Mapping[str, Any], folder: Path | str) -> None:
    """Refuse a record holding NaN or infinity: such a result is never marked finished
    (a barrier or eigenvalue of NaN is a failed computation, not a measurement). Values
    that are undefined by nature (a standard error from one sample) are recorded as
    ``null``, never as NaN.

    Raises:
        NonFiniteResultError: naming the keys, the result folder and the inputs it was
            computed from (the record's ``run`` and the checkpoints its settings name).
    """
    bad = _non_finite(dict(record))
    if not bad:
        return
    settings = record.get("settings") if isinstance(record.get("settings"), Mapping) else {}
    shown = ", ".join(bad[:4]) + (f" and {len(bad) - 4} more" if len(bad) > 4 else "")
    exc = NonFiniteResultError(
        f"the {settings.get('kind') or record.get('kind', 'result')} computed from "
        f"{_inputs(settings, record.get('run'), folder)} is not finite ({shown}: NaN or "
        f"infinite), so {folder} is not marked finished; {_ADVICE}"
    )
    exc.named = True  # type: ignore[attr-defined]
    raise exc


_ADVICE = ("check those weights (values so large that the loss overflows, a diverged network) "
           "and re-run")  # fmt: skip


def _inputs(settings: Mapping[str, Any], run: Any, folder: Path | str) -> str:
    """The inputs a result is computed from, as named by its settings (and its run)."""
    named = [f"{k} {settings[k]}" for k in _INPUT_KEYS if settings.get(k) not in (None, "")]
    if run and "run" not in settings:
        named.append(f"run {run}")
    return "; ".join(named) or str(folder)


def reuse(
    folder: Path, settings: Mapping[str, Any], force: bool, log: Callable[[str], object]
) -> Result | None:
    """The finished :class:`Result` in ``folder`` for ``settings``, announced through ``log``
    (``None``: compute it). Raises as :func:`find_result` does."""
    record = find_result(folder, settings, force=force)
    if record is None:
        return None
    log(f"reusing the finished result in {folder} (from {record.get('created', '?')}; "
        "--force recomputes)")  # fmt: skip
    return Result(record, folder, reused=True)


@contextlib.contextmanager
def claim(
    folder: Path,
    settings: Mapping[str, Any],
    *,
    force: bool = False,
    wait: bool = False,
    log: Callable[[str], object] = print,
) -> Iterator[Result | None]:
    """Hold ``folder``'s lock and yield its finished result (``None``: compute it, inside
    the ``with`` block, and write it with a :class:`Writer`).

    The lock (:func:`landscape.locks.hold`) makes one process the writer of a result
    folder; it also shows an unwritable location before any work is done. A finished
    result is looked for only after the lock is held, so a result another process
    finished meanwhile is reused, not recomputed. Under ``torchrun`` rank 0 holds the
    lock and every rank gets what it found (:func:`landscape.distributed.primary_context`).

    Raises:
        LockedError: another process is computing this result (and not ``wait``).
        LandscapeError: the folder holds a result of other settings.
    """
    with distributed.primary_context(
        lambda: _claim_here(folder, settings, force=force, wait=wait, log=log)
    ) as done:
        try:
            yield done
        except NonFiniteResultError as exc:
            # the numerical core knows that a number overflowed, the job which input it was
            if getattr(exc, "named", False):
                raise
            named = NonFiniteResultError(
                f"{_inputs(settings, None, folder)}: {exc}; {folder} is not marked finished; "
                f"{_ADVICE}"
            )
            named.named = True  # type: ignore[attr-defined]
            raise named from exc


@contextlib.contextmanager
def _claim_here(
    folder: Path,
    settings: Mapping[str, Any],
    *,
    force: bool,
    wait: bool,
    log: Callable[[str], object],
) -> Iterator[Result | None]:
    """:func:`claim` in this process."""
    done = reuse(folder, settings, force, log)  # finished results are read without the lock
    if done is not None:
        yield done
        return
    with hold(folder, wait=wait, what="result folder"):
        done = reuse(folder, settings, force, log)
        if done is None:
            # Recomputing: the old marker goes first, so that an interrupted recompute
            # never leaves the old record beside new arrays.
            (Path(folder) / "result.json").unlink(missing_ok=True)
        yield done
