"""A view of every run under a folder: what ``landscape runs [ROOT]`` prints (torch-free).

Each run directory (a folder with a ``config.json``, docs/architecture.md "The run
directory") becomes one :class:`RunSummary`, read from its ``config.json``, its
levels' ``metrics.json`` and the folders its analyses wrote; nothing is loaded
into torch, so listing a folder of runs takes a fraction of a second.

The state of a run:

- ``finished``: levels 0..L of the ``--levels L`` its ``config.json`` records are all written;
- ``being written by pid N on HOST``: a process holds the run's lock (:mod:`landscape.locks`);
- ``interrupted``: neither (a killed or stopped run: the same command resumes it);
- ``damaged: ...``: ``config.json`` or a level's ``metrics.json`` cannot be read, or a
  file a finished level recorded is missing (with ``check=True``: or its digest differs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from landscape import paths
from landscape.errors import CheckpointError, LandscapeError
from landscape.io import file_digest, load_json
from landscape.locks import held_by

__all__ = ["RunSummary", "differing", "find_runs", "runs_table", "summarize", "world_note"]

#: The columns of their own in the table, never repeated among the differing settings.
_OWN_COLUMNS = ("method", "model", "data", "seed", "levels")


@dataclass
class RunSummary:
    """One run directory as the ``runs`` table shows it."""

    path: Path
    method: str = "?"
    model: str = "?"
    data: str = "?"
    seed: Any = "?"
    #: every setting of the run's method, by field name (``None``: not one of its settings)
    settings: dict[str, Any] = field(default_factory=dict)
    levels_asked: int | None = None
    levels_done: list[int] = field(default_factory=list)
    last: dict[str, Any] | None = None
    state: str = "interrupted"
    #: ``{level: world size}`` of the finished levels (1: one process)
    world_sizes: dict[int, int] = field(default_factory=dict)
    #: finished analyses by kind (``hessian``, ``bound``, ...), counted over the run and its levels
    analyses: dict[str, int] = field(default_factory=dict)
    unfinished_analyses: int = 0

    @property
    def name(self) -> str:
        return self.path.name

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["path"] = str(self.path)
        out["world_sizes"] = {str(k): v for k, v in self.world_sizes.items()}
        return out


def find_runs(root: str | Path) -> list[Path]:
    """The run directories in ``root`` (its sub-folders with a ``config.json``), by name;
    ``[root]`` when ``root`` is itself a run directory.

    Raises:
        LandscapeError: ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise LandscapeError(f"{root} is not a folder; pass the folder your runs are in (--root)")
    if paths.config(root).exists():
        return [root]
    return sorted(d for d in root.iterdir() if d.is_dir() and paths.config(d).exists())


def summarize(run_dir: str | Path, check: bool = False) -> RunSummary:
    """Read one run directory into a :class:`RunSummary` (never raises for a damaged run:
    its ``state`` says what is wrong).

    Args:
        check: also compare each finished level's files with the SHA-256 digests its
            ``metrics.json`` recorded (reads every checkpoint; off by default).
    """
    from landscape.hparams import RunConfig, applies_to

    s = RunSummary(path=Path(run_dir))
    holder = held_by(s.path)
    try:
        meta = load_json(paths.config(s.path))
        cfg = RunConfig.from_dict(meta["hparams"])
    except (CheckpointError, KeyError, TypeError, ValueError) as exc:
        s.state = f"damaged: config.json unreadable ({type(exc).__name__})"
        return s
    s.method, s.model, s.data = cfg.prune.method, cfg.model.model, cfg.data.data
    s.seed, s.levels_asked = cfg.train.seed, cfg.prune.levels
    for name in ("data", "model", "train", "prune"):
        section = getattr(cfg, name)
        for f in dataclasses.fields(section):
            if f.metadata.get("hashed", True) and f.name not in _OWN_COLUMNS:
                s.settings[f.name] = getattr(section, f.name) if applies_to(f, s.method) else None
    problem = None
    for level in paths.levels(s.path):
        try:
            m = load_json(paths.metrics(s.path, level))
        except CheckpointError:
            problem = problem or f"level {level}'s metrics.json unreadable"
            continue
        problem = problem or _files_problem(s.path, level, m, check)
        s.levels_done.append(level)
        s.world_sizes[level] = int(m.get("world_size", 1))
        s.last = {k: m.get(k) for k in ("level", "density", "test_error", "train_error")}
    s.analyses, s.unfinished_analyses = _analyses(s.path)
    if problem:
        s.state = f"damaged: {problem}"
    elif holder is not None:
        s.state = f"being written by {_short(holder)}"
    elif set(range(s.levels_asked + 1)) <= set(s.levels_done):
        s.state = "finished"
    return s


def _files_problem(
    run_dir: Path, level: int, metrics: Mapping[str, Any], check: bool
) -> str | None:
    """What is wrong with a finished level's recorded files, or ``None``."""
    for name, digest in (metrics.get("files") or {}).items():
        path = paths.level_dir(run_dir, level) / name
        if not path.exists():
            return f"level {level}'s {name} missing"
        if check and file_digest(path) != digest:
            return f"level {level}'s {name} changed after it was written"
    return None


def _short(holder: str) -> str:
    """``"pid 12 on host since ...: argv"`` → ``"pid 12 on host"``."""
    return holder.split(" since ")[0]


def _analyses(run_dir: Path) -> tuple[dict[str, int], int]:
    """Finished analysis folders (``result.json`` written, jobs/store.py) by kind, and the
    number of unfinished ones (an analysis interrupted or being computed)."""
    folders = [*run_dir.glob("analysis/*"), *run_dir.glob("level_*/analysis/*")]
    kinds: dict[str, int] = {}
    unfinished = 0
    for d in folders:
        if not d.is_dir() or paths.is_storage(d):
            continue
        if not (d / "result.json").exists():
            unfinished += 1
            continue
        kind = d.name.rsplit("_", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return dict(sorted(kinds.items())), unfinished


def differing(runs: Sequence[RunSummary]) -> list[str]:
    """The settings that take more than one value among the runs of ``runs`` whose method has
    them (``particles`` differs between two SWAMP runs, not between a SWAMP and an IMP run)."""
    keys = sorted({k for r in runs for k in r.settings})
    values = {k: {repr(r.settings[k]) for r in runs if r.settings.get(k) is not None} for k in keys}
    return [k for k in keys if len(values[k]) > 1]


def world_note(world_sizes: Mapping[int, int]) -> str | None:
    """A line naming the levels trained on more than one process, or ``None`` if none was.

    A level trained by ``torchrun`` over R processes has the run's name but not the numbers
    of a one-process run: the same steps up to float rounding, which training amplifies
    (docs/scaling.md, "One process and torchrun").
    """
    by_world: dict[int, list[int]] = {}
    for level, w in sorted(world_sizes.items()):
        by_world.setdefault(w, []).append(level)
    if set(by_world) <= {1}:
        return None
    parts = [f"level{'s' if len(v) > 1 else ''} {_span(v)} on {w} process{'es' if w > 1 else ''}"
             for w, v in sorted(by_world.items())]  # fmt: skip
    return ("trained with " + ", ".join(parts) + ": numbers match a one-process run of the "
            "same name only up to float rounding amplified by training (docs/scaling.md)")  # fmt: skip


def _span(levels: Iterable[int]) -> str:
    """``[0, 1, 2, 5]`` → ``"0-2, 5"``."""
    out: list[str] = []
    levels = sorted(levels)
    start = prev = levels[0]
    for n in [*levels[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(out)


def _value(v: Any) -> str:
    return "—" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def runs_table(runs: Sequence[RunSummary]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """Headers and rows of the ``runs`` table: one row per run (its differing settings as
    ``name=value``, a ``processes`` column when a level was trained on more than one)."""
    diff = differing(runs)
    multi = any(w != 1 for r in runs for w in r.world_sizes.values())
    headers = ("run", "method", "model", "data", "seed", "settings", "levels", "density",
               "test error", *(("processes",) if multi else ()), "state", "analyses")  # fmt: skip
    rows = []
    for r in runs:
        settings = " ".join(f"{k}={_value(r.settings[k])}" for k in diff
                            if r.settings.get(k) is not None) or "—"  # fmt: skip
        asked = "?" if r.levels_asked is None else r.levels_asked + 1
        last = r.last or {}
        density = f"{last['density']:.4f}" if last.get("density") is not None else "—"
        error = f"{last['test_error']:.4f}" if last.get("test_error") is not None else "—"
        worlds = sorted(set(r.world_sizes.values()))
        procs = ",".join(map(str, worlds)) + ("*" if len(worlds) > 1 else "") if worlds else "—"
        held = ", ".join(f"{k}×{n}" for k, n in r.analyses.items()) or "—"
        if r.unfinished_analyses:
            held += f" (+{r.unfinished_analyses} unfinished)"
        rows.append((r.name, r.method, r.model, r.data, r.seed, settings,
                     f"{len(r.levels_done)}/{asked}", density, error,
                     *((procs,) if multi else ()), r.state, held))  # fmt: skip
    return headers, rows
