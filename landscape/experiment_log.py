"""Experiment logging: a run's scalars as CSV, TensorBoard event files or a W&B run (``--log``).

The one log callback type, :data:`ScalarLog`, is what the training loops take
(``train(..., on_log=...)``): ``on_log(scalars, step)`` with ``{tag: float}``. An
:class:`ExperimentLog` holds the writers of one run directory and hands out one
callback per *series*: the training steps of a level (``level_03``), a SWAMP
particle (``level_03/particle_1``), the per-level summary (``levels``, whose step is
the level), an analysis' results (``analysis/<kind>``, step = level,
:func:`log_results`). What is written, all inside the run directory::

    logs/scalars.csv               # csv: series,step,tag,value,wall_time (one row per scalar)
    logs/tensorboard/<series>/     # tensorboard: one event folder per series, so the levels
                                   #   overlay on one chart per tag
    logs/wandb/                    # wandb: one run, tags "<series>/<tag>", each series its
                                   #   own x-axis "<series>/step"; offline unless WANDB_MODE says

``csv`` needs nothing beyond the standard library; ``tensorboard`` and ``wandb``
are the package's extras (``pip install 'landscape[tensorboard]'``), imported only
when asked for. A resumed run appends: the CSV gains rows, TensorBoard reads every
event file of a folder, W&B starts a new offline run in the same folder. The logs
are a view for watching training; ``metrics.json`` stays the record the toolkit reads.
"""

from __future__ import annotations

import csv
import difflib
import importlib.util
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from landscape.errors import LandscapeError

__all__ = [
    "LOG_KINDS",
    "ExperimentLog",
    "ScalarLog",
    "check_kinds",
    "log_dir",
    "log_results",
    "open_log",
    "parse_kinds",
]

#: The log callback: ``on_log({tag: value}, step)``.
ScalarLog = Callable[[Mapping[str, float], int], None]

#: The writers ``--log`` can name, and the package each needs (``None``: the standard library).
LOG_KINDS: dict[str, str | None] = {"csv": None, "tensorboard": "tensorboard", "wandb": "wandb"}


def log_dir(run_dir: str | Path) -> Path:
    """Where a run directory keeps its logs: ``<run>/logs``."""
    return Path(run_dir) / "logs"


def parse_kinds(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"csv,tensorboard"`` (or a list of such) → ``("csv", "tensorboard")``, checked.

    Raises:
        LandscapeError: an unknown kind (with the near match), or a kind whose package is
            not installed (with the pip command).
    """
    if not text:
        return ()
    parts = [text] if isinstance(text, str) else list(text)
    kinds: list[str] = []
    for part in parts:
        for k in filter(None, (s.strip() for s in part.split(","))):
            if k not in kinds:
                kinds.append(k)
    return check_kinds(kinds)


def check_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    """``kinds`` if every one is known and its package importable, else one clear error."""
    kinds = tuple(kinds)
    for k in kinds:
        if k not in LOG_KINDS:
            near = difflib.get_close_matches(k, LOG_KINDS, n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise LandscapeError(
                f"--log {k!r} is not a log kind{hint}; choose from {', '.join(LOG_KINDS)}"
            )
        package = LOG_KINDS[k]
        if package and importlib.util.find_spec(package) is None:
            raise LandscapeError(
                f"--log {k} needs the {package} package, which is not installed: "
                f"pip install 'landscape[{k}]' (or pip install {package}), or use --log csv"
            )
    return kinds


class _Csv:
    """``scalars.csv``, long format: one row per scalar, appended and flushed as it comes."""

    HEADER = ("series", "step", "tag", "value", "wall_time")

    def __init__(self, folder: Path) -> None:
        path = folder / "scalars.csv"
        new = not path.exists() or path.stat().st_size == 0
        self._fh = open(path, "a", newline="")  # noqa: SIM115 (closed in close())
        self._out = csv.writer(self._fh)
        if new:
            self._out.writerow(self.HEADER)

    def write(self, series: str, scalars: Mapping[str, float], step: int) -> None:
        now = f"{time.time():.3f}"
        for tag, value in scalars.items():
            self._out.writerow((series, step, tag, repr(float(value)), now))
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


class _TensorBoard:
    """One ``SummaryWriter`` per series under ``tensorboard/`` (torch's writer; needs the
    ``tensorboard`` package)."""

    def __init__(self, folder: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self._make = SummaryWriter
        self._root = folder / "tensorboard"
        self._writers: dict[str, Any] = {}

    def write(self, series: str, scalars: Mapping[str, float], step: int) -> None:
        w = self._writers.get(series)
        if w is None:
            w = self._writers[series] = self._make(log_dir=str(self._root / (series or "run")))
        for tag, value in scalars.items():
            w.add_scalar(tag, float(value), step)

    def close(self) -> None:
        for w in self._writers.values():
            w.close()


class _Wandb:
    """One W&B run in ``logs/wandb`` (offline unless ``WANDB_MODE`` says otherwise, so it
    needs no network; ``wandb sync`` uploads it later). Closing it also shuts down this
    process's W&B service (``wandb.teardown``), which finishes any other W&B run the
    process still has open."""

    def __init__(self, folder: Path, name: str, config: Mapping[str, Any] | None) -> None:
        import wandb

        self._wandb = wandb
        self._run = wandb.init(
            dir=str(folder), name=name, config=dict(config or {}),
            mode=os.environ.get("WANDB_MODE", "offline"),  # type: ignore[arg-type]
            project=os.environ.get("WANDB_PROJECT", "landscape"),
        )  # fmt: skip
        self._series: set[str] = set()

    def write(self, series: str, scalars: Mapping[str, float], step: int) -> None:
        key = series or "run"
        if key not in self._series:
            self._series.add(key)
            self._run.define_metric(f"{key}/step")
            self._run.define_metric(f"{key}/*", step_metric=f"{key}/step")
        self._run.log({f"{key}/step": step, **{f"{key}/{t}": float(v) for t, v in scalars.items()}})

    def close(self) -> None:
        self._run.finish()
        # finish() returns once the service has the exit record, not once it has written the
        # offline run's file (wandb 0.31: the file can still be the bare header); teardown
        # waits for the service to write everything, so `wandb sync` can follow at once.
        self._wandb.teardown()


class ExperimentLog:
    """The writers of one run directory's ``logs/`` folder (:func:`open_log`).

    Example::

        with open_log(run_dir, ["csv"]) as log:
            train(..., on_log=log.series("level_01"))
            log.log({"density": 0.8}, step=1, series="levels")
    """

    def __init__(
        self, folder: Path, kinds: Iterable[str], name: str = "", config: Mapping | None = None
    ) -> None:
        self.folder = Path(folder)
        self.kinds = check_kinds(kinds)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._writers: list[Any] = []
        for k in self.kinds:
            if k == "csv":
                self._writers.append(_Csv(self.folder))
            elif k == "tensorboard":
                self._writers.append(_TensorBoard(self.folder))
            else:
                self._writers.append(_Wandb(self.folder, name or self.folder.parent.name, config))

    def log(self, scalars: Mapping[str, float], step: int, series: str = "") -> None:
        """Write ``scalars`` at ``step`` of ``series`` to every writer (non-numbers skipped)."""
        clean = {t: float(v) for t, v in scalars.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool)}  # fmt: skip
        if clean:
            for w in self._writers:
                w.write(series, clean, int(step))

    def series(self, name: str) -> ScalarLog:
        """The :data:`ScalarLog` callback that writes into series ``name``."""
        return lambda scalars, step: self.log(scalars, step, series=name)

    def close(self) -> None:
        for w in self._writers:
            w.close()
        self._writers = []

    def __enter__(self) -> ExperimentLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_log(
    run_dir: str | Path, kinds: Iterable[str], name: str = "", config: Mapping | None = None
) -> ExperimentLog | None:
    """The :class:`ExperimentLog` of ``run_dir`` (``<run>/logs``), or ``None`` for no kinds."""
    kinds = tuple(kinds)
    return ExperimentLog(log_dir(run_dir), kinds, name, config) if kinds else None


#: Record fields that describe how a result was computed, not what it found.
_NOT_RESULTS = ("level", "settings", "engine", "hvp_choice", "groups", "created")
#: A list of numbers up to this long is logged element by element (``eigenvalues/0`` ...).
_LIST_MAX = 16


def _scalars(record: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The numbers of a result record: its top-level numbers, short lists of numbers
    (``eigenvalues/0``, ...) and numbers one dict deeper (``p_star/magnitude``)."""
    out: dict[str, float] = {}
    for k, v in record.items():
        if isinstance(v, bool) or (not prefix and k in _NOT_RESULTS):
            continue
        if isinstance(v, (int, float)):
            out[f"{prefix}{k}"] = float(v)
        elif isinstance(v, list) and 0 < len(v) <= _LIST_MAX:
            for i, x in enumerate(v):
                if isinstance(x, (int, float)) and not isinstance(x, bool):
                    out[f"{prefix}{k}/{i}"] = float(x)
        elif isinstance(v, Mapping) and not prefix:
            out.update(_scalars(v, prefix=f"{k}/"))
    return out


def log_results(run_dir: str | Path, kinds: Iterable[str]) -> int:
    """Write the numbers of the run's finished analyses that no earlier call logged: series
    ``analysis/<kind>`` (so a kind's results over the levels form one curve), step = the
    level it measured (0 for a result about the whole run), tags = the record's numbers
    (:func:`_scalars`).

    Which results were logged is kept in ``logs/analyses_logged.json`` (a result computed
    again, e.g. with ``--force``, is logged again). Returns the number of results logged.
    """
    from landscape import paths
    from landscape.io import load_json, save_json

    run_dir = Path(run_dir)
    kinds = check_kinds(kinds)
    if not kinds:
        return 0
    index_path = log_dir(run_dir) / "analyses_logged.json"
    done: dict[str, float] = load_json(index_path) if index_path.exists() else {}
    todo = []
    for marker in sorted([*run_dir.glob("analysis/*/result.json"),
                          *run_dir.glob("level_*/analysis/*/result.json")]):  # fmt: skip
        key, stamp = str(marker.parent.relative_to(run_dir)), marker.stat().st_mtime
        if done.get(key) != stamp:
            todo.append((marker, key, stamp))
    if not todo:
        return 0
    with ExperimentLog(log_dir(run_dir), kinds, run_dir.name) as log:
        for marker, key, stamp in todo:
            level = paths.level_of(marker.parent) or 0
            kind = marker.parent.name.rsplit("_", 1)[0]
            log.log(_scalars(load_json(marker)), level, series=f"analysis/{kind}")
            done[key] = stamp
    save_json(index_path, done)
    return len(todo)
