"""Where data sets are cached (torch-free, so ``landscape.data`` imports without torch)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir(root: str = "") -> Path:
    """``root`` if given, else ``$LANDSCAPE_DATA`` or ``~/.cache/landscape``."""
    path = Path(root or os.environ.get("LANDSCAPE_DATA", Path.home() / ".cache" / "landscape"))
    return path.expanduser()
