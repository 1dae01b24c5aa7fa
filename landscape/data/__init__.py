"""Data sets behind one registry (docs/architecture.md, ``data/``).

Small data sets (MNIST-1D, CIFAR, synthetic) are held as tensors on the training
device; batches are indexed by the global optimiser step, so a run that resumes
at step ``t`` sees exactly the batches an uninterrupted run would have seen.

Importing this package does not import torch: ``DATASETS`` lists lazy entries, and
``DataSet`` / ``ResidentData`` (from ``landscape.data.base``) are loaded on first use.
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Any

from landscape.data.cache import cache_dir
from landscape.registry import Registry

if TYPE_CHECKING:
    from landscape.data.base import DataSet, ResidentData

__all__ = ["DATASETS", "DataSet", "ResidentData", "cache_dir", "load_data"]

DATASETS: Registry = Registry("data set", flag="--data")
DATASETS.add(
    "mnist1d", "landscape.data.mnist1d:load_mnist1d", "MNIST-1D, generated locally (CPU default)"
)
DATASETS.add(
    "cifar10",
    "landscape.data.cifar:load_cifar10",
    "CIFAR-10 via torchvision (--data-root, --download)",
)
DATASETS.add("cifar100", "landscape.data.cifar:load_cifar100", "CIFAR-100 via torchvision")
DATASETS.add(
    "imagenet",
    "landscape.data.imagenet:load_imagenet",
    "ImageNet from an ImageFolder tree in --data-root",
)
DATASETS.add(
    "synthetic",
    "landscape.data.synthetic:load_synthetic",
    "random 40-dim vectors, 10 classes (tests)",
)
DATASETS.add(
    "synthetic-cifar",
    "landscape.data.synthetic:load_synthetic_cifar",
    "random 3x32x32 images, 10 classes (benchmarks)",
)


def load_data(
    name: str,
    root: str = "",
    download: bool = False,
    train_subset: int = 0,
    device: str = "cpu",
    test_samples: int = 0,
) -> DataSet:
    """Load data set ``name`` (see ``DATASETS.names()``), resident on ``device`` where it fits.

    ``test_samples`` > 0 asks a generated data set for a test set of that size (only
    loaders with a ``test_samples`` parameter, i.e. MNIST-1D, can; others refuse).
    """
    loader = DATASETS.get(name)
    kw: dict[str, Any] = {}
    if test_samples:
        if "test_samples" not in inspect.signature(loader).parameters:
            raise ValueError(
                f"--test-samples applies to generated data (mnist1d), not --data {name}; "
                "leave it at 0"
            )
        kw["test_samples"] = test_samples
    data = loader(root=cache_dir(root), download=download, **kw)
    if train_subset:
        data = data.subset(train_subset)
    return data.to(device)


# Names re-exported from landscape.data.base, which imports torch: loaded on first access.
_LAZY = {"DataSet": "landscape.data.base", "ResidentData": "landscape.data.base"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
