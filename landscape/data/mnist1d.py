"""MNIST-1D (Greydanus 2020), generated locally by the ``mnist1d`` package — never downloaded.

4000 training and 1000 test sequences of length 40, 10 classes. The generated
arrays are cached as ``.npz`` (plain arrays, no pickle) so later loads take
milliseconds instead of the ~2 s generation.
"""

from __future__ import annotations

import contextlib
import io
import zipfile
from pathlib import Path

import numpy as np
import torch

from landscape.data.base import ResidentData
from landscape.io import atomic_write_bytes

__all__ = ["load_mnist1d"]

_KEYS = ("x", "y", "x_test", "y_test")


def _generate() -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    d = make_dataset(get_dataset_args())  # the package's default arguments and seed
    return {k: np.asarray(d[k]) for k in _KEYS}


#: The generated data's shape: sequences of length 40, 10 classes.
_LENGTH, _CLASSES = 40, 10


def _checked(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The cached arrays if they have MNIST-1D's shape (N × 40 finite inputs, N labels in
    0..9); ``ValueError`` otherwise, so that a cache of another width is regenerated."""
    for x, y in (("x", "y"), ("x_test", "y_test")):
        a, b = arrays[x], arrays[y]
        if not (a.ndim == 2 and a.shape[1] == _LENGTH and b.shape == (len(a),) and len(a) > 0):
            raise ValueError(f"{x} has shape {a.shape}, {y} {b.shape}")
        if not (np.issubdtype(b.dtype, np.integer) and b.min() >= 0 and b.max() < _CLASSES):
            raise ValueError(f"{y} holds labels outside 0..{_CLASSES - 1}")
        if not (np.issubdtype(a.dtype, np.floating) and np.isfinite(a).all()):
            raise ValueError(f"{x} is not finite floating-point data")
    return arrays


def load_mnist1d(root: Path, download: bool = False) -> ResidentData:
    """The MNIST-1D data set with the package's default settings (seeded, reproducible)."""
    cache = Path(root) / "mnist1d_default.npz"
    arrays = None
    if cache.exists():
        try:
            with np.load(cache, allow_pickle=False) as z:
                arrays = _checked({k: z[k] for k in _KEYS})
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            arrays = None  # a corrupt, truncated or foreign cache is regenerated
    if arrays is None:
        arrays = _generate()
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        # A read-only cache directory only costs the regeneration time.
        with contextlib.suppress(OSError):
            atomic_write_bytes(cache, buf.getvalue())
    return ResidentData(
        name="mnist1d",
        train_x=torch.as_tensor(arrays["x"], dtype=torch.float32),
        train_y=torch.as_tensor(arrays["y"], dtype=torch.long),
        test_x=torch.as_tensor(arrays["x_test"], dtype=torch.float32),
        test_y=torch.as_tensor(arrays["y_test"], dtype=torch.long),
        num_classes=10,
    )
