"""Progress for long work (training, analyses): a tqdm bar on a terminal, plain lines in a log.

Library code takes a ``progress`` callback or a ``show_progress`` flag and builds its
bar here, so nothing below the command line imports the command line. Off a terminal
(output piped or written to a log file, a sweep job's log) a bar would be control
characters, and nothing at all leaves a long phase silent: there, a line
``desc: n/total after Ts`` is printed every :data:`EVERY` seconds instead.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["EVERY", "progress"]

#: Seconds between two progress lines off a terminal.
EVERY = 20.0


def progress(iterable: Iterable | None = None, **kw: Any) -> Any:
    """A tqdm bar on stderr; off a terminal, a line every :data:`EVERY` seconds
    (``disable=True`` silences both)."""
    kw.setdefault("file", sys.stderr)
    if kw.get("disable") is None and not kw["file"].isatty():
        return _Lines(iterable, kw.get("total"), kw.get("desc") or "", kw.get("unit") or "it",
                      kw["file"])  # fmt: skip
    from tqdm.auto import tqdm  # imported here: the command line starts without it

    kw.setdefault("disable", False)
    kw.setdefault("dynamic_ncols", True)
    kw.setdefault("leave", False)
    return tqdm(iterable, **kw)


class _Lines:
    """The part of tqdm's interface the toolkit uses, printing a line now and then."""

    def __init__(self, iterable: Iterable | None, total: int | None, desc: str, unit: str,
                 file: Any) -> None:  # fmt: skip
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.file = file
        self.n, self.postfix = 0, ""
        self.start = self.last = time.perf_counter()

    def update(self, n: int | float = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if now - self.last >= EVERY:
            self.last = now
            done = f"{self.n:g}/{self.total:g}" if self.total else f"{self.n:g} {self.unit}"
            print(f"{self.desc}: {done} after {now - self.start:.0f}s{self.postfix}",
                  file=self.file, flush=True)  # fmt: skip

    def set_description(self, desc: str, refresh: bool = True) -> None:
        self.desc = desc

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kw: Any) -> None:
        items = {**(ordered_dict or {}), **kw}
        self.postfix = "".join(f", {k} {v}" for k, v in items.items())

    def close(self) -> None:
        pass

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update()

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
