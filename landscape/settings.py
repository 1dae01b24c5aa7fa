"""Typed settings: frozen dataclasses whose fields generate command-line flags and a digest.

An analysis spec (``landscape.specs``) is a frozen dataclass whose fields are made
with :func:`setting`: each carries its help text, whether it changes the numbers
(``hashed``) and its choices. From such a class :func:`add_arguments` builds the
argparse flags (``--field-name``), :func:`from_args` builds the instance back from
the parsed flags, and :func:`digest` names a result by the settings that change it.
A field whose type is itself a spec dataclass (e.g. the evaluation engine's
settings inside a connectivity spec) becomes its own argument group. The fields
named in :data:`ENGINE_FIELDS` (``threads``, ``device``), whichever spec holds them,
become the one engine group of :func:`add_engine_arguments`: every verb that computes
shows the same two flags with the same help.

This module is torch-free so that ``landscape --help`` starts fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import MISSING, field, fields, is_dataclass
from typing import Any

__all__ = [
    "ENGINE_FIELDS",
    "ENGINE_TITLE",
    "INT_LIMIT",
    "SEED_LIMIT",
    "add_arguments",
    "add_engine_arguments",
    "canonical",
    "check_numbers",
    "checked",
    "digest",
    "from_args",
    "setting",
]


def setting(
    default: Any,
    help: str,
    *,
    hashed: bool = True,
    choices: tuple[str, ...] | None = None,
    metavar: str | None = None,
    flag: str | None = None,
    cli: bool = True,
) -> Any:
    """A spec field: its default, help text and how it appears on the command line.

    Args:
        hashed: whether the field changes results (speed-only fields are not hashed).
        choices: the allowed values (argparse checks them).
        metavar: the placeholder in ``--help``.
        flag: the flag's name when it is not ``--field-name``.
        cli: ``False`` for fields a command line sets by hand (positional arguments,
            flags of a special shape).
    """
    meta = {"help": help, "hashed": hashed, "choices": choices, "metavar": metavar,
            "flag": flag, "cli": cli}  # fmt: skip
    if isinstance(default, (list, dict, set)):
        raise TypeError("spec defaults must be immutable (use a tuple)")
    return field(default=default, metadata=meta)


#: Every whole-number setting is a count, an index or a seed: 0 ≤ N < 2**63 (it fits the
#: int64 that torch and numpy store it in).
INT_LIMIT = 2**63
#: Seeds stay below 2**32: every generator (torch, numpy, Python) takes them, and the seeds
#: derived from them (``data_seed + 1000·particle``, ``seed + level``) stay in range.
SEED_LIMIT = 2**32


def _kind(f: dataclasses.Field) -> str:
    """A field's type as written (``"int"``, ``"float | None"``, ...) without ``| None``."""
    return str(f.type).replace(" | None", "").replace("None | ", "").strip()


def check_numbers(obj: Any, flag: Callable[[dataclasses.Field], str] | None = None) -> None:
    """Check every number field of the dataclass instance ``obj`` (one rule for every spec and
    hyperparameter section): a float is finite and not negative; an int (or a tuple of ints)
    is a whole number, not negative and below :data:`INT_LIMIT` (seeds below
    :data:`SEED_LIMIT`). Each class checks its own narrower ranges after this one.

    Raises:
        ValueError: naming the flag, the value and the allowed range.
    """
    flag = flag or _flag
    for f in fields(obj):
        value, kind = getattr(obj, f.name), _kind(f)
        if value is None or _is_spec(f):
            continue
        name = flag(f)
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number ≥ 0, got {value}")
        elif kind == "int" or kind.startswith("tuple[int"):
            limit = SEED_LIMIT if f.name.endswith("seed") or f.name == "seeds" else INT_LIMIT
            for v in value if isinstance(value, tuple) else (value,):
                if isinstance(v, bool) or not isinstance(v, int):
                    raise ValueError(f"{name} must be a whole number, got {v!r}")
                if not 0 <= v < limit:
                    raise ValueError(
                        f"{name} {v}: must be a whole number in [0, 2**{limit.bit_length() - 1})"
                    )


def checked(cls: type) -> type:
    """Class decorator, under ``@dataclass``: :func:`check_numbers` runs on every instance
    after the class's own ``__post_init__`` (whose narrower messages come first; NaN, which
    passes comparisons such as ``tol <= 0``, is caught here). Subclasses inherit both."""
    own = cls.__dict__.get("__post_init__")

    def __post_init__(self: Any) -> None:
        if own is not None:
            own(self)
        else:
            for base in cls.__mro__[1:]:
                if "__post_init__" in base.__dict__:
                    base.__dict__["__post_init__"](self)
                    break
        check_numbers(self)

    cls.__post_init__ = __post_init__  # type: ignore[attr-defined]
    return cls


def canonical(settings: Any) -> str:
    """Canonical JSON of a settings mapping (or a spec dataclass): sorted keys, no spaces."""
    if is_dataclass(settings) and not isinstance(settings, type):
        settings = dataclasses.asdict(settings)
    return json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)


def digest(settings: Mapping[str, Any] | Any) -> str:
    """Ten hex digits of SHA-256 over :func:`canonical` — the name of a result folder."""
    return hashlib.sha256(canonical(settings).encode()).hexdigest()[:10]


def _flag(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _is_spec(f: dataclasses.Field) -> bool:
    return f.default_factory is not MISSING and is_dataclass(f.default_factory)


def add_arguments(
    parser: argparse.ArgumentParser | Any,
    cls: type,
    *,
    title: str | None = None,
    skip: tuple[str, ...] = (),
    _seen: set[str] | None = None,
) -> None:
    """Add one flag per field of the spec class ``cls`` (nested specs get their own group).

    Every flag defaults to ``None`` so that :func:`from_args` can tell "not given"
    (the field's default) from a value; ``--help`` shows the field's default. A field
    of a nested spec whose flag an earlier spec already added (e.g. ``--device`` of
    both the evaluation and the curvature settings) shares that flag.
    """
    seen = set() if _seen is None else _seen
    group = parser.add_argument_group(title) if title else parser
    for f in fields(cls):
        if f.name in skip or not f.metadata.get("cli", True) or _flag(f) in seen:
            continue
        if f.name in ENGINE_FIELDS:  # the one engine group, wherever the spec holds them
            add_engine_arguments(parser)
            continue
        if _is_spec(f):
            doc = (f.default_factory.__doc__ or f.name).split("\n")[0].rstrip(".").lower()
            add_arguments(parser, f.default_factory, title=doc, skip=skip, _seen=seen)
            continue
        seen.add(_flag(f))
        _add_field(group, f)


def _add_field(group: Any, f: dataclasses.Field) -> None:
    """The flag of the spec field ``f`` (default ``None``: "not given")."""
    kw: dict[str, Any] = {"default": None, "dest": f.name}
    shown = "" if f.default is False or f.default in ("", None) else f" (default {f.default})"
    kw["help"] = f.metadata["help"] + shown
    if f.type in ("bool", bool):
        # --flag for a default False; --flag/--no-flag for a default True
        if f.default:
            kw["action"] = argparse.BooleanOptionalAction
        else:
            kw.update(action="store_const", const=True)
    else:
        kw["type"] = {"int": int, "float": float}.get(str(f.type), str)
        kw["metavar"] = f.metadata.get("metavar") or {"int": "N", "float": "X"}.get(
            str(f.type), "S"
        )
    if f.metadata.get("choices"):
        kw["choices"] = f.metadata["choices"]
        kw.pop("metavar", None)
    group.add_argument(_flag(f), **kw)


#: The speed-and-placement settings every computing verb takes, as one flag group. Specs
#: that hold fields of these names (``EngineSpec``, ``HessianSpec``, ``CurvatureSpec``,
#: the runs' ``TrainHparams``, ...) all read them from that group's ``--threads``/``--device``.
ENGINE_FIELDS = ("threads", "device")
ENGINE_TITLE = "engine (speed and placement only; never part of a result's name)"


def add_engine_arguments(parser: argparse.ArgumentParser | Any) -> None:
    """The engine group, ``--threads N`` and ``--device S``, generated from
    :class:`landscape.specs.EngineSpec`; added once (a second call does nothing).

    Every verb that trains or evaluates takes it: a verb whose spec holds
    :data:`ENGINE_FIELDS` gets it from :func:`add_arguments`, any other calls this
    (``landscape.cli._common.add_engine_arguments``). The parsed values land in
    ``args.threads``/``args.device`` (``None`` when not given), where
    :func:`from_args` and ``hparams.config_from_args`` find them.
    """
    if any("--threads" in a.option_strings for a in parser._actions):
        return
    from landscape.specs import EngineSpec  # here: specs imports this module

    group = parser.add_argument_group(ENGINE_TITLE)
    by_name = {f.name: f for f in fields(EngineSpec)}
    for name in ENGINE_FIELDS:
        _add_field(group, by_name[name])


def from_args(cls: type, ns: argparse.Namespace, **given: Any) -> Any:
    """The spec ``cls`` from parsed flags: defaults, then flags given, then ``given``."""
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in given:
            values[f.name] = given[f.name]
        elif _is_spec(f):
            values[f.name] = from_args(f.default_factory, ns)
        else:
            v = getattr(ns, f.name, None)
            if v is not None:
                values[f.name] = v
    return cls(**values)
