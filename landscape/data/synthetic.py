"""Synthetic data for tests and benchmarks: deterministic, instant, never downloaded.

Labels come from a fixed random teacher so that the task is learnable.
"""

from __future__ import annotations

from pathlib import Path

import torch

from landscape.data.base import ResidentData

__all__ = ["load_synthetic", "load_synthetic_cifar", "make_synthetic"]


def make_synthetic(
    in_shape: tuple[int, ...], n_train: int, n_test: int, num_classes: int = 10, seed: int = 0
) -> ResidentData:
    """Gaussian inputs of ``in_shape`` labelled by a random linear teacher."""
    g = torch.Generator().manual_seed(seed)
    n = n_train + n_test
    x = torch.randn(n, *in_shape, generator=g)
    teacher = torch.randn(x[0].numel(), num_classes, generator=g)
    y = (x.flatten(1) @ teacher).argmax(1)
    return ResidentData(
        name=f"synthetic{tuple(in_shape)}",
        train_x=x[:n_train], train_y=y[:n_train], test_x=x[n_train:], test_y=y[n_train:],
        num_classes=num_classes,
    )  # fmt: skip


def load_synthetic(root: Path | None = None, download: bool = False) -> ResidentData:
    """1024 training and 512 test vectors of length 40 (MNIST-1D's shape), 10 classes."""
    return make_synthetic((40,), 1024, 512)


def load_synthetic_cifar(root: Path | None = None, download: bool = False) -> ResidentData:
    """4096 training and 1024 test images of shape 3x32x32 (CIFAR's shape), 10 classes."""
    return make_synthetic((3, 32, 32), 4096, 1024)
