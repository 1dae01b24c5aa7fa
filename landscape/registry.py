"""A tiny registry with ``register`` / ``names`` / ``get`` and errors that list the valid names.

Modelled on timm's ``_registry.py``: every pluggable family (models, data sets,
pruning methods, schedules) is one ``Registry`` instance.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

from landscape.errors import RegistryError

__all__ = ["Registry"]

T = TypeVar("T")


def _first_line(obj: object) -> str:
    return (getattr(obj, "__doc__", None) or "").strip().split("\n")[0]


class Registry(Generic[T]):
    """Maps names to objects; an entry may also be a lazy ``"module:attribute"`` string.

    A lazy entry is imported by the first :meth:`get`; :meth:`names` and :meth:`help`
    never import anything, so listing a registry stays cheap.
    """

    def __init__(self, kind: str, flag: str | None = None) -> None:
        self.kind = kind
        self.flag = flag
        self._entries: dict[str, T | str] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, help: str = "") -> Callable[[T], T]:
        """Decorator: ``@REG.register("name")``."""

        def deco(obj: T) -> T:
            self.add(name, obj, help)
            return obj

        return deco

    def add(self, name: str, obj: T | str, help: str = "") -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = obj
        # A lazy entry's help is given here (reading the docstring would mean importing it).
        self._help[name] = help or ("" if isinstance(obj, str) else _first_line(obj))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def help(self, name: str) -> str:
        return self._help.get(name, "")

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def get(self, name: str) -> T:
        """The object registered as ``name``, importing a lazy entry on first use.

        Raises:
            RegistryError: ``name`` is unknown (the message lists the valid names), or its
                lazy entry cannot be imported.
        """
        if name not in self._entries:
            close = difflib.get_close_matches(name, self.names(), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            how = f" (pass one with {self.flag})" if self.flag else ""
            raise RegistryError(
                f"unknown {self.kind} {name!r}.{hint} Valid {self.kind}s{how}: "
                + ", ".join(self.names())
            )
        entry = self._entries[name]
        if isinstance(entry, str):
            module, _, attr = entry.partition(":")
            try:
                obj = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as exc:
                raise RegistryError(
                    f"{self.kind} {name!r} is listed but its implementation {entry} "
                    f"could not be loaded ({exc})"
                ) from exc
            self._entries[name] = obj
            return obj
        return entry
