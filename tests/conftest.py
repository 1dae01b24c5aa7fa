"""Shared test setup: data cache and run roots live in temporary directories only."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_dirs(tmp_path_factory):
    """Point the MNIST-1D cache and the default run root at temporary directories."""
    mp = pytest.MonkeyPatch()
    mp.setenv("LANDSCAPE_DATA", str(tmp_path_factory.mktemp("data")))
    mp.setenv("LANDSCAPE_ROOT", str(tmp_path_factory.mktemp("runs")))
    yield
    mp.undo()
