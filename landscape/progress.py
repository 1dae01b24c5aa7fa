"""Progress bars for long work (training, analyses): tqdm on stderr, off when stderr is no terminal.

Library code takes a ``progress`` callback or a ``show_progress`` flag and builds its
bar here, so nothing below the command line imports the command line.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

__all__ = ["progress"]


def progress(iterable: Iterable | None = None, **kw: Any) -> Any:
    """A tqdm bar on stderr, hidden when stderr is not a terminal (logs stay clean)."""
    from tqdm.auto import tqdm  # imported here: the command line starts without it

    kw.setdefault("file", sys.stderr)
    kw.setdefault("disable", not sys.stderr.isatty())
    kw.setdefault("dynamic_ncols", True)
    kw.setdefault("leave", False)
    return tqdm(iterable, **kw)
