"""Shared test setup: data cache and run roots live in temporary directories only.

Tests use one CPU thread (also in the subprocesses they start): the models are tiny,
so a second thread buys nothing, and on a loaded machine two spinning OpenMP threads
per process made tests up to 50x slower (measured while four jobs shared 2 cores).
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _isolated_dirs(tmp_path_factory):
    """Point the MNIST-1D cache and the default run root at temporary directories."""
    mp = pytest.MonkeyPatch()
    mp.setenv("LANDSCAPE_DATA", str(tmp_path_factory.mktemp("data")))
    mp.setenv("LANDSCAPE_ROOT", str(tmp_path_factory.mktemp("runs")))
    mp.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    mp.undo()


@pytest.fixture(autouse=True)
def _one_thread():
    """Back to one thread before every test: a job under test may set torch's thread count
    (its --threads rule) and the next test would inherit it."""
    torch.set_num_threads(1)
    yield
