"""What a report shows, read from run directories alone: settings, levels and results.

Every finished analysis is a folder ``<kind>_<digest>/`` holding ``result.json`` (written
last, docs/architecture.md); :func:`collect` finds them under each run's levels and the
run's own ``analysis/`` folder, whatever their kind, and lists folders without a
``result.json`` as unfinished. Nothing here imports torch or recomputes anything.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from landscape import paths
from landscape.errors import CheckpointError, LandscapeError
from landscape.io import level_metrics, load_json

__all__ = [
    "ANALYSES",
    "AnalysisResult",
    "RunRecord",
    "collect",
    "find_runs",
    "flatten_config",
    "reproduce",
    "scalars",
]

#: The analysis verbs a study is checked for, and the result kinds each one writes.
#: A kind missing here is still shown (its analysis named after the kind); only the
#: "missing analyses" list is limited to these.
ANALYSES: dict[str, tuple[str, ...]] = {
    "connectivity": ("connectivity",),
    "slice": ("anchors", "random"),
    "hessian": ("hessian", "hessian-levels"),
    "bound": ("bound", "bound-levels", "bound-empirical"),
    "curvature": ("curvature", "curvature-levels"),
    "sharpness": ("sharpness", "sharpness-levels"),
    "robustness": ("robustness",),
    "reequilibration": ("reequilibration",),
    "instability": ("instability", "instability-scan"),
}
_VERB_OF = {k: verb for verb, kinds in ANALYSES.items() for k in kinds}
#: Settings keys that describe a result rather than name a flag.
_NOT_FLAGS = {"kind", "weights", "loss", "bn_mode", "results", "levels", "masked", "other",
              "a", "b", "next_mask", "endpoints"}  # fmt: skip
#: Recorded settings whose flags are spelled otherwise (hessian's ``trace_probes``).
_SPELLED: dict[str, Callable[[Any], list[str]]] = {
    "trace_probes": lambda v: ["--trace", "--probes", str(v)] if v else [],
}
_DEPTH = 4  # how deep a study folder is searched for run directories


@dataclass(frozen=True)
class AnalysisResult:
    """One analysis folder: its record (``None`` when unfinished), figures and place."""

    folder: Path
    kind: str
    record: Mapping[str, Any] | None
    figures: tuple[Path, ...] = ()

    @property
    def finished(self) -> bool:
        return self.record is not None

    @property
    def analysis(self) -> str:
        """The verb that writes this kind (the kind's first word when unknown)."""
        return _VERB_OF.get(self.kind, self.kind.split("-")[0])

    @property
    def level(self) -> int | None:
        return paths.level_of(self.folder)


@dataclass(frozen=True)
class RunRecord:
    """A run directory as the report sees it."""

    path: Path
    config: Mapping[str, Any]
    levels: list[dict[str, Any]]
    results: list[AnalysisResult] = field(default_factory=list)

    @property
    def method(self) -> str:
        return str(self.config.get("method", "?"))

    @property
    def settings(self) -> dict[str, Any]:
        """``config.json`` flattened: the run settings by their flag names (``lr``, ``seed``,
        ``model``: the ``hparams`` sections merged), everything else as dotted keys
        (``versions.torch``, ``seeds.init``)."""
        return flatten_config(self.config)

    def missing(self) -> list[str]:
        """The analyses of :data:`ANALYSES` with no finished result in this run."""
        have = {r.analysis for r in self.results if r.finished}
        return [verb for verb in ANALYSES if verb not in have]


def flatten_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A run's ``config.json`` as one level of keys (:attr:`RunRecord.settings`)."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            out[prefix] = value

    for key, value in config.items():
        if key == "hparams" and isinstance(value, Mapping):
            for section in value.values():  # data, model, train, prune: flag names are unique
                if isinstance(section, Mapping):
                    out.update({k: v for k, v in section.items() if not isinstance(v, Mapping)})
        elif key != "non_default":  # the same settings again
            walk(key, value)
    return out


def find_runs(targets: Iterable[str | Path]) -> list[Path]:
    """The run directories named by ``targets``: each a run directory (holding
    ``config.json``) or a folder searched for them (a study's root, the demo's folder).

    Raises:
        LandscapeError: a target does not exist or holds no run directory.
    """
    found: list[Path] = []
    for t in targets:
        p = Path(t)
        if not p.exists():
            raise LandscapeError(
                f"{p} does not exist; pass run directories or folders holding them"
            )
        if paths.config(p).exists():
            runs = [p]
        elif p.is_dir():
            runs = sorted(_search(p, _DEPTH))
        else:
            runs = []
        if not runs:
            raise LandscapeError(
                f"{p} is no run directory (no config.json) and holds none within {_DEPTH} "
                "folders; pass the directory a runner wrote (landscape prune) or its parent"
            )
        found += [r for r in runs if r.resolve() not in {f.resolve() for f in found}]
    return found


def _search(folder: Path, depth: int) -> Iterable[Path]:
    if depth < 0:
        return
    for child in sorted(folder.iterdir()):
        if not child.is_dir() or child.is_symlink() or child.name in ("analysis", "particles"):
            continue
        if paths.config(child).exists():
            yield child
        elif paths.level_number(child.name) is None:
            yield from _search(child, depth - 1)


def collect(run_dir: Path) -> RunRecord:
    """A run's settings, levels and every analysis folder under it (module docstring)."""
    try:
        config = load_json(paths.config(run_dir))
    except CheckpointError:
        config = {}
    levels = level_metrics(run_dir) if paths.config(run_dir).exists() else []
    folders = sorted(Path(run_dir).glob("analysis/*/"))
    for d in sorted(Path(run_dir).glob("level_*/")):
        folders += sorted(d.glob("analysis/*/"))
    results = []
    for f in folders:
        if not f.is_dir() or f.is_symlink() or paths.is_storage(f):
            continue
        kind = f.name.rsplit("_", 1)[0]
        record = None
        if (f / "result.json").exists():
            try:
                record = load_json(f / "result.json")
            except CheckpointError:
                record = None  # a damaged marker: shown as unfinished
            if isinstance(record, Mapping):
                kind = str(record.get("kind", kind))
            else:
                record = None
        results.append(AnalysisResult(f, kind, record, tuple(sorted(f.glob("*.png")))))
    return RunRecord(Path(run_dir), config if isinstance(config, Mapping) else {}, levels,
                     results)  # fmt: skip


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _text(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:.6g}" if math.isfinite(v) else str(v)
    if isinstance(v, (list, tuple)):
        return ", ".join(_text(x) for x in v)
    return str(v)


def scalars(record: Mapping[str, Any], limit: int = 12) -> list[tuple[str, str]]:
    """The record's numbers as ``(name, text)``: top-level scalars, short lists of scalars
    (at most ``limit`` entries), and the scalars of nested dicts as ``outer.inner``; the
    settings, title and kind are shown elsewhere."""
    out = []
    for k, v in record.items():
        if k in ("settings", "title", "kind", "level_settings"):
            continue
        if isinstance(v, Mapping):
            out += [(f"{k}.{ik}", _text(iv)) for ik, iv in v.items()
                    if _number(iv) or isinstance(iv, (str, bool))]  # fmt: skip
        elif isinstance(v, (list, tuple)):
            if 0 < len(v) <= limit and all(_number(x) or isinstance(x, str) for x in v):
                out.append((k, _text(v)))
        elif _number(v) or isinstance(v, (str, bool)) or v is None:
            out.append((k, _text(v)))
    return out


def reproduce(result: AnalysisResult, run_dir: Path) -> tuple[str, bool]:
    """The command that reproduces ``result`` and whether it is the recorded one.

    A result made by ``landscape VERB ...`` records its command line (``command``); for
    others (made through the Python API) the command is rebuilt from the recorded settings:
    the verb of the kind, the run and level, and ``--key value`` for each setting (lists
    comma-joined, ``True`` as a bare flag). The rebuilt command is marked as such: a
    setting whose flag is spelled differently is not translated.
    """
    rec = result.record or {}
    if isinstance(rec.get("command"), str) and rec["command"]:
        return rec["command"], True
    parts = ["landscape", result.analysis, str(run_dir)]
    if result.kind.endswith("-levels"):
        parts.append("--all-levels")
    elif result.level is not None:
        parts += ["--level", str(result.level)]
    settings = rec.get("settings", {})
    for k, v in settings.items() if isinstance(settings, Mapping) else ():
        if k in _NOT_FLAGS or v is None or isinstance(v, Mapping):
            continue
        if k in _SPELLED:
            parts += _SPELLED[k](v)
            continue
        flag = "--" + k.replace("_", "-")
        if v is True:
            parts.append(flag)
        elif v is False:
            continue
        elif isinstance(v, Sequence) and not isinstance(v, str):
            parts += [flag, ",".join(_text(x) for x in v)] if v else []
        else:
            parts += [flag, _text(v)]
    return shlex.join(parts), False
