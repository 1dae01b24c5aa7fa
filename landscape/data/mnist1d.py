"""MNIST-1D (Greydanus 2020), generated locally by the ``mnist1d`` package — never downloaded.

4000 training and 1000 test sequences of length 40, 10 classes. The generated
arrays are cached as ``.npz`` (plain arrays, no pickle) so later loads take
milliseconds instead of the ~2 s generation.

**A larger test set** (``--test-samples N``, docs/science.md "Test-set size"). With 1,000
test samples the standard error of a 97% accuracy is 0.54 points, larger than many of
the differences the papers' claims rest on. MNIST-1D is generated, so more test samples
can be drawn from the *same* generator: the package's transformation of its templates,
with the package's arguments and another seed (:data:`TEST_SEED`), normalised with the
*training* set's mean and standard deviation (the package normalises each generated set
by its own statistics, which would shift a separately generated set). The training set
is unchanged, so runs that differ only in ``--test-samples`` train identically.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landscape.data.base import ResidentData
from landscape.io import atomic_write_bytes

__all__ = ["TEST_SEED", "generator_versions", "load_mnist1d"]

_KEYS = ("x", "y", "x_test", "y_test")
#: The generator seed of the larger test sets (the package's default set uses 42).
TEST_SEED = 1042


def _generate() -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    d = make_dataset(get_dataset_args())  # the package's default arguments and seed
    return {k: np.asarray(d[k]) for k in _KEYS}


def _raw(num_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Unnormalised, shuffled samples exactly as ``mnist1d.data.make_dataset`` draws them
    (the package's templates and ``transform`` with its default arguments), before the
    package's own per-set normalisation — so that a second set can be normalised with the
    first set's statistics. ``tests/test_data.py`` checks that seed 42 with 5,000 samples,
    normalised by its own statistics, is the package's default set bit for bit."""
    from mnist1d.data import get_dataset_args, get_templates, transform
    from mnist1d.utils import set_seed

    args = get_dataset_args()
    templates = get_templates()
    set_seed(seed)
    xs, ys = [], []
    per_class = num_samples // len(templates["y"])
    for label in range(len(templates["y"])):
        for _ in range(per_class):
            x, _t = transform(templates["x"][label], templates["t"], args)
            xs.append(x)
            ys.append(templates["y"][label])
    order = np.random.permutation(len(ys))
    return np.stack(xs)[order], np.stack(ys)[order]


def _generate_test(num_samples: int) -> dict[str, np.ndarray]:
    """``num_samples`` test samples (a multiple of 10) from seed :data:`TEST_SEED`,
    normalised with the default set's (training and test together, as the package does)
    mean and standard deviation."""
    from mnist1d.data import get_dataset_args

    default = get_dataset_args()
    x_default, _ = _raw(default.num_samples, default.seed)
    mean, std = x_default.mean(), x_default.std()
    x, y = _raw(num_samples, TEST_SEED)
    return {"x_test": (x - mean) / std, "y_test": y}


def generator_versions() -> dict[str, str]:
    """The versions of the packages that generate the data (recorded with each run:
    MNIST-1D's numbers depend on them, docs/results.md)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("mnist1d", "numpy", "scipy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def _load_cached(
    cache: Path, keys: tuple[str, ...], make: Any, test_len: int = 0
) -> dict[str, np.ndarray]:
    """The arrays of ``cache`` if they pass :func:`_checked` (and hold ``test_len`` test
    samples, where given); generated (and cached, where the folder is writable) otherwise."""
    arrays = None
    if cache.exists():
        try:
            with np.load(cache, allow_pickle=False) as z:
                arrays = _checked({k: z[k] for k in keys}, test_len)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            arrays = None  # a corrupt, truncated or foreign cache is regenerated
    if arrays is None:
        arrays = make()
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        # A read-only cache directory only costs the regeneration time.
        with contextlib.suppress(OSError):
            atomic_write_bytes(cache, buf.getvalue())
    return arrays


#: The generated data's shape: sequences of length 40, 10 classes.
_LENGTH, _CLASSES = 40, 10


def _checked(arrays: dict[str, np.ndarray], test_len: int = 0) -> dict[str, np.ndarray]:
    """The cached arrays if they have MNIST-1D's shape (N × 40 finite inputs, N labels in
    0..9; ``test_len`` test samples where given); ``ValueError`` otherwise, so that a cache
    of another width or size is regenerated."""
    if test_len and len(arrays["y_test"]) != test_len:
        raise ValueError(f"{len(arrays['y_test'])} test samples, not {test_len}")
    for x, y in (("x", "y"), ("x_test", "y_test")):
        if x not in arrays:
            continue
        a, b = arrays[x], arrays[y]
        if not (a.ndim == 2 and a.shape[1] == _LENGTH and b.shape == (len(a),) and len(a) > 0):
            raise ValueError(f"{x} has shape {a.shape}, {y} {b.shape}")
        if not (np.issubdtype(b.dtype, np.integer) and b.min() >= 0 and b.max() < _CLASSES):
            raise ValueError(f"{y} holds labels outside 0..{_CLASSES - 1}")
        if not (np.issubdtype(a.dtype, np.floating) and np.isfinite(a).all()):
            raise ValueError(f"{x} is not finite floating-point data")
    return arrays


def load_mnist1d(root: Path, download: bool = False, test_samples: int = 0) -> ResidentData:
    """The MNIST-1D data set with the package's default settings (seeded, reproducible).

    ``test_samples`` > 0 replaces the 1,000-sample test split by that many samples drawn
    from the same generator (a multiple of 10: the generator balances the classes); the
    training set is the default one either way.
    """
    if test_samples < 0 or test_samples % 10:
        raise ValueError(
            f"--test-samples {test_samples}: give a positive multiple of 10 (the generator "
            "draws the same number of every class), or 0 for the default 1,000"
        )
    arrays = _load_cached(Path(root) / "mnist1d_default.npz", _KEYS, _generate)
    if test_samples:
        extra = _load_cached(
            Path(root) / f"mnist1d_test{test_samples}_seed{TEST_SEED}.npz",
            ("x_test", "y_test"),
            lambda: _generate_test(test_samples),
            test_len=test_samples,
        )
        arrays = {**arrays, **extra}
    sha = hashlib.sha256()
    for key in _KEYS:
        sha.update(np.ascontiguousarray(arrays[key]).tobytes())
    return ResidentData(
        provenance={"digest": sha.hexdigest()[:16], "generator": generator_versions()},
        name="mnist1d",
        train_x=torch.as_tensor(arrays["x"], dtype=torch.float32),
        train_y=torch.as_tensor(arrays["y"], dtype=torch.long),
        test_x=torch.as_tensor(arrays["x_test"], dtype=torch.float32),
        test_y=torch.as_tensor(arrays["y_test"], dtype=torch.long),
        num_classes=10,
    )
