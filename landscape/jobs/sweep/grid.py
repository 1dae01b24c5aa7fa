"""The grid of a sweep: :class:`Grid` (methods × settings × seeds), its :class:`Point` s
(one run each), and reading it from flags, a mapping or a TOML file (:func:`load_grid`).

A setting that applies to some of the methods only (``particles``: SWAMP's) is used
for those methods and left out of the others' runs, as ``landscape prune`` would
refuse it. A value of the wrong type or an unknown setting is an error before
anything runs; a value the settings refuse (``lr = -1``) makes its job fail, and
the others go on.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from landscape.errors import LandscapeError
from landscape.hparams import PRESETS, SECTIONS, RunConfig, applies_to
from landscape.runners import METHODS
from landscape.settings import digest

__all__ = ["Grid", "Point", "as_grid", "grid_of", "load_grid"]

_FIELDS = {f.name: f for klass in SECTIONS.values() for f in fields(klass)}
#: Settings a grid sets through its own keys, not through ``set``.
_RESERVED = {"method": "method (--method)", "seed": "seeds (--seeds)",
             "data_seed": "seeds (--seeds, which set both seed and data_seed)",
             "threads": "the sweep's threads (--threads)",
             "device": "the sweep's device (--device)"}  # fmt: skip
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_GRID_KEYS = ("preset", "method", "seeds", "set")


def _kind(key: str) -> str:
    """The type of setting ``key``, as written in its dataclass (``"float"``, ...)."""
    return str(_FIELDS[key].type)


def _value(key: str, value: Any) -> Any:
    """``value`` (text from a flag, or a TOML value) as setting ``key``'s type."""
    kind = _kind(key)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    text = value.strip() if isinstance(value, str) else None
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if text is not None and text.lower() in _BOOLS:
                return _BOOLS[text.lower()]
        elif kind == "int":
            if number and float(value).is_integer():
                return int(value)
            if text is not None:
                return int(text)
        elif kind == "float":
            if number:
                return float(value)
            if text is not None:
                return float(text)
        elif kind == "str":
            if text is not None:
                return text
            if number:
                return str(value)
        else:  # a type this module does not know: `landscape prune` checks the value
            return value
    except ValueError:
        pass
    word = {"bool": "true or false", "int": "a whole number", "float": "a number"}.get(kind, "text")
    raise ValueError(f"setting {key}: {value!r} is not {word}")


def _split_values(text: str) -> list[str]:
    """``"a,b"`` → ``[a, b]``; with a ``;`` anywhere the values are split on ``;`` instead,
    for values that hold commas themselves (``"20ep,30ep;10ep,15ep"``, or ``"20ep,30ep;"``)."""
    parts = text.split(";") if ";" in text else text.split(",")
    return [p.strip() for p in parts if p.strip()]


def _parse_seeds(seeds: Any) -> tuple[int, ...]:
    """Seeds from an int, ``"0,1,2"``, ``"0-4"`` or a list, in order, without repeats."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        return (seeds,)
    items: list[Any] = []
    if isinstance(seeds, str):
        for part in _split_values(seeds):
            lo, dash, hi = part.partition("-")
            if dash and lo.strip().isdigit() and hi.strip().isdigit():
                items += range(int(lo), int(hi) + 1)
            else:
                items.append(part)
    elif isinstance(seeds, Sequence):
        items = list(seeds)
    out = []
    for s in items:
        v = None
        if isinstance(s, int) and not isinstance(s, bool):
            v = s
        elif isinstance(s, str) and s.strip().lstrip("-").isdigit():
            v = int(s)
        if v is None:
            raise ValueError(f"seeds: {s!r} is not a whole number; write e.g. 0,1,2 or 0-4")
        out.append(v)
    if not out:
        raise ValueError("seeds: give at least one seed, e.g. --seeds 0,1,2")
    return tuple(dict.fromkeys(out))


def _parse_methods(method: Any) -> tuple[str, ...]:
    """Method names from ``"a,b"`` or a list; each a known `landscape prune` method."""
    if not isinstance(method, (str, list, tuple)):  # e.g. `method = 5` or `true` in a grid file
        raise ValueError(f'method: {method!r} is no method name; write method = ["imp-wr", ...]')
    names = _split_values(method) if isinstance(method, str) else list(method)
    if not names or not all(isinstance(m, str) for m in names):
        raise ValueError("method: name at least one pruning method, e.g. --method imp-wr,imp-lrr")
    names = [m.strip() for m in names]
    for m in names:
        if m == "dense":
            raise ValueError("method dense: a sweep runs `landscape prune` methods; the IMP "
                             "methods train (and share) their dense network themselves")  # fmt: skip
        if m not in METHODS:
            valid = ", ".join(n for n in METHODS.names() if n != "dense")
            raise ValueError(f"unknown method {m!r}; valid: {valid}")
    return tuple(dict.fromkeys(names))


def _applies(key: str, method: str) -> bool:
    """Whether setting ``key`` is one of ``method``'s."""
    return applies_to(_FIELDS[key], method)


def _parse_settings(settings: Any, methods: Sequence[str]) -> tuple[tuple[str, tuple], ...]:
    """``((key, values), ...)`` from a mapping or pairs, each value of its setting's type."""
    pairs = settings.items() if isinstance(settings, Mapping) else list(settings or ())
    out: dict[str, tuple] = {}
    for key, values in pairs:
        key = str(key).strip().replace("-", "_")
        if key in _RESERVED:
            raise ValueError(f"setting {key} is set by the grid's {_RESERVED[key]}, not by set")
        if key not in _FIELDS:
            raise ValueError(f"no setting named {key!r}; the settings are those of "
                             "`landscape prune --help`, e.g. lr, levels, batch_size")  # fmt: skip
        if key in out:
            raise ValueError(f"setting {key} is given twice; list its values once: {key}=V1,V2")
        if not any(_applies(key, m) for m in methods):
            raise ValueError(f"setting {key} is one of --method "
                             f"{', '.join(_FIELDS[key].metadata['methods'])} only, and the grid "
                             f"has {', '.join(methods)}")  # fmt: skip
        listed = list(values) if isinstance(values, (list, tuple)) else [values]
        if not listed:
            raise ValueError(f"setting {key}: give at least one value")
        out[key] = tuple(dict.fromkeys(_value(key, v) for v in listed))
    return tuple(out.items())


@dataclass(frozen=True)
class Point:
    """One run of a grid: a method, a seed, and its value of each setting that applies to it."""

    method: str
    seed: int
    settings: tuple[tuple[str, Any], ...] = ()
    preset: str | None = None

    def values(self) -> dict[str, Any]:
        """The run's flat settings: the preset's, then the grid's, then method and seeds."""
        return {**PRESETS.get(self.preset or "", {}), **dict(self.settings),
                "method": self.method, "seed": self.seed, "data_seed": self.seed}  # fmt: skip

    def config(self) -> RunConfig:
        """The run's settings (``ValueError`` when they refuse a value, e.g. ``lr = -1``)."""
        return RunConfig().replace(**self.values())

    def levels(self) -> int:
        """The run's last level."""
        return int(self.values().get("levels", _FIELDS["levels"].default))

    def flags(self) -> list[str]:
        """The ``landscape prune`` flags of this run (a preset stays a ``--preset``)."""
        out = ["--method", self.method]
        if self.preset:
            out += ["--preset", self.preset]
        for key, value in self.settings:
            flag = "--" + key.replace("_", "-")
            if isinstance(value, bool):
                out.append(flag if value else "--no-" + flag[2:])
            else:
                out.append(f"{flag}={value}")
        return [*out, f"--seed={self.seed}", f"--data-seed={self.seed}"]


@dataclass(frozen=True)
class Grid:
    """Methods × settings × seeds. Fields are normalised: ``method`` may be ``"a,b"``,
    ``seeds`` an int, ``"0,1"`` or ``"0-4"``, ``settings`` a mapping of a name to a value
    or a list of values (one grid axis each), in any of the forms a flag or TOML gives.

    Raises:
        ValueError: an unknown method, preset or setting, or a value of the wrong type.
    """

    method: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)
    preset: str | None = None
    settings: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def __post_init__(self) -> None:
        methods = _parse_methods(self.method)
        object.__setattr__(self, "method", methods)
        object.__setattr__(self, "seeds", _parse_seeds(self.seeds))
        if self.preset is not None and (
            not isinstance(self.preset, str) or self.preset not in PRESETS
        ):
            raise ValueError(f"unknown preset {self.preset!r}; valid: {', '.join(sorted(PRESETS))}")
        object.__setattr__(self, "settings", _parse_settings(self.settings, methods))

    @classmethod
    def from_flags(
        cls,
        method: str | Sequence[str] | None,
        seeds: str | Sequence[int] | None = None,
        preset: str | None = None,
        sets: Sequence[str] = (),
    ) -> Grid:
        """The grid of ``--method LIST --seeds LIST --preset P --set KEY=V1,V2 ...``."""
        settings: list[tuple[str, list[str]]] = []
        for item in sets:
            key, eq, text = item.partition("=")
            if not eq or not key.strip() or not _split_values(text):
                raise ValueError(f"--set {item!r}: write KEY=V1,V2 (e.g. --set lr=0.05,0.1)")
            settings.append((key, _split_values(text)))
        return cls(method=method or (), seeds=seeds if seeds is not None else (0,),
                   preset=preset, settings=tuple(settings))  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Grid:
        """The grid of a mapping with the keys of a grid file: preset, method, seeds, set."""
        unknown = sorted(set(d) - set(_GRID_KEYS))
        if unknown:
            raise ValueError(f"unknown grid keys {unknown}; a grid has {', '.join(_GRID_KEYS)}")
        if "method" not in d:
            raise ValueError('the grid names no method: method = ["imp-wr", ...]')
        sets = d.get("set", {})
        if not isinstance(sets, Mapping):
            raise ValueError("set must be a table of settings: [set] then lr = [0.05, 0.1]")
        return cls(method=d["method"], seeds=d.get("seeds", (0,)), preset=d.get("preset"),
                   settings=tuple(sets.items()))  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """The normalised grid, in the form of a grid file."""
        return {"preset": self.preset, "method": list(self.method), "seeds": list(self.seeds),
                "set": {k: list(v) for k, v in self.settings}}  # fmt: skip

    def digest(self) -> str:
        """Ten hex digits naming the grid (the sweep directory ``sweep_<digest>``)."""
        return digest(self.to_dict())

    def varied(self) -> list[str]:
        """The settings with more than one value (the columns of the summary)."""
        return [k for k, v in self.settings if len(v) > 1]

    def points(self) -> list[Point]:
        """Every run: for each method, each combination of its settings, each seed."""
        out = []
        for method in self.method:
            axes = [(k, v) for k, v in self.settings if _applies(k, method)]
            for combo in itertools.product(*(v for _, v in axes)):
                chosen = tuple(zip((k for k, _ in axes), combo))
                out += [Point(method, seed, chosen, self.preset) for seed in self.seeds]
        return out

    def describe(self) -> str:
        """One line: the methods, seeds, preset and settings."""
        sets = "; ".join(f"{k} = {', '.join(map(str, v))}" for k, v in self.settings)
        preset = f"preset {self.preset}; " if self.preset else ""
        return (f"methods {', '.join(self.method)}; seeds {', '.join(map(str, self.seeds))}; "
                f"{preset}{sets or 'no settings set'}")  # fmt: skip


def load_grid(path: str | Path) -> Grid:
    """The grid of a TOML file (keys ``preset``, ``method``, ``seeds``, table ``[set]``).

    Raises:
        LandscapeError: no TOML reader (Python 3.10 without ``tomli``), or no such file.
        ValueError: the file is not TOML, or not a grid.
    """
    try:
        import tomllib
    except ModuleNotFoundError:
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise LandscapeError(
                "reading a grid file needs Python 3.11 (tomllib) or the tomli package (pip "
                "install tomli); or give the grid as flags: --method LIST --seeds LIST "
                "--set KEY=V1,V2"
            ) from None
    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"{path}: no such grid file")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from None
    try:
        return Grid.from_dict(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def as_grid(grid: Grid | Mapping[str, Any] | str | Path) -> Grid:
    """A :class:`Grid`, from a grid, a grid file's mapping, or a TOML file's path."""
    if isinstance(grid, Grid):
        return grid
    if isinstance(grid, Mapping):
        return Grid.from_dict(grid)
    return load_grid(grid)


def grid_of(
    file: str | Path | None = None,
    *,
    method: str | Sequence[str] | None = None,
    seeds: str | Sequence[int] | None = None,
    preset: str | None = None,
    sets: Sequence[str] = (),
) -> Grid:
    """The grid of a TOML file, or of the grid flags (``--method``, ``--seeds``, ``--preset``,
    ``--set``): one of the two, not both.

    Raises:
        ValueError: both or neither given, or a bad grid.
        LandscapeError: the file cannot be read (:func:`load_grid`).
    """
    if file and (method or seeds or preset or sets):
        raise ValueError("give the grid either as a file or as flags (--method, --seeds, "
                         "--preset, --set), not both")  # fmt: skip
    if not file and not method:
        raise ValueError("no grid: name a GRID.toml file, or the methods (--method imp-wr,...)")
    return load_grid(file) if file else Grid.from_flags(method, seeds, preset, sets)
