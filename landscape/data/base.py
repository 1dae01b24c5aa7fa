"""The data-set interface and its resident (tensors-on-device) implementation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Protocol

import torch
from torch import Tensor

from landscape.data.cache import cache_dir  # re-exported: it lived here first

__all__ = ["Augment", "DataSet", "ResidentData", "cache_dir", "step_generator"]

Augment = Callable[[Tensor, torch.Generator], Tensor]


def step_generator(seed: int, *salt: int) -> torch.Generator:
    """A CPU generator seeded from ``(seed, *salt)``: the same stream on every device and resume."""
    g = torch.Generator()
    value = seed
    for s in salt:
        value = (value * 1_000_003 + s + 1) % (2**63 - 1)
    g.manual_seed(value)
    return g


class DataSet(Protocol):
    """What runners and analyses need of a data set."""

    name: str
    num_classes: int
    in_shape: tuple[int, ...]

    @property
    def num_train(self) -> int: ...

    @property
    def num_test(self) -> int: ...

    def steps_per_epoch(self, batch_size: int) -> int: ...

    def train_batches(
        self, start: int, stop: int, batch_size: int, seed: int, augment: bool = True
    ) -> Iterator[tuple[Tensor, Tensor]]: ...

    def eval_batches(self, split: str, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]: ...

    def tensors(self, split: str, limit: int = 0) -> tuple[Tensor, Tensor]: ...

    def to(self, device: str | torch.device) -> DataSet: ...

    def subset(self, n: int) -> DataSet: ...


@dataclass(frozen=True)
class ResidentData:
    """A data set held as four tensors on one device.

    ``augment`` (if any) maps a batch and a CPU generator to an augmented batch, on
    the batch's device; ``normalize`` is applied to every batch after augmentation.
    """

    name: str
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    num_classes: int
    augment_fn: Augment | None = None
    normalize: Callable[[Tensor], Tensor] | None = None
    #: Where the arrays are generated locally: a digest of them as generated (before any
    #: ``--train-subset``) and the generator's package versions, recorded with every level
    #: (the same command gives other numbers if the generator's output differs).
    provenance: dict[str, Any] | None = None

    @property
    def in_shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])

    @property
    def num_train(self) -> int:
        return int(self.train_x.shape[0])

    @property
    def num_test(self) -> int:
        return int(self.test_x.shape[0])

    @property
    def device(self) -> torch.device:
        return self.train_x.device

    def to(self, device: str | torch.device) -> ResidentData:
        return replace(
            self,
            train_x=self.train_x.to(device), train_y=self.train_y.to(device),
            test_x=self.test_x.to(device), test_y=self.test_y.to(device),
        )  # fmt: skip

    def subset(self, n: int) -> ResidentData:
        if n > self.num_train:
            raise ValueError(
                f"--train-subset {n} exceeds the {self.num_train} training samples of {self.name}"
            )
        return replace(self, train_x=self.train_x[:n], train_y=self.train_y[:n])

    def steps_per_epoch(self, batch_size: int) -> int:
        """Full batches per epoch (the last partial batch is dropped, as in open_lth's CIFAR recipe)."""
        if batch_size > self.num_train:
            raise ValueError(
                f"batch size {batch_size} exceeds the {self.num_train} training samples"
            )
        return self.num_train // batch_size

    def _prep(self, x: Tensor) -> Tensor:
        return self.normalize(x) if self.normalize is not None else x

    def train_batches(
        self, start: int, stop: int, batch_size: int, seed: int, augment: bool = True
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches for global steps ``start .. stop-1``.

        Epoch ``e`` uses the permutation drawn from ``(seed, e)`` and step ``t`` augments
        with ``(seed, t)``, so the stream is a pure function of the step index.
        """
        spe = self.steps_per_epoch(batch_size)
        perm, perm_epoch = None, -1
        for t in range(start, stop):
            epoch, i = divmod(t, spe)
            if epoch != perm_epoch:
                perm = torch.randperm(self.num_train, generator=step_generator(seed, epoch))
                perm = perm.to(self.device)
                perm_epoch = epoch
            idx = perm[i * batch_size : (i + 1) * batch_size]
            x, y = self.train_x[idx], self.train_y[idx]
            if augment and self.augment_fn is not None:
                x = self.augment_fn(x, step_generator(seed, 1_000_000 + t))
            yield self._prep(x), y

    def eval_batches(self, split: str, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        """Unaugmented batches of ``split`` ("train" or "test") in order."""
        x, y = self._split(split)
        for i in range(0, x.shape[0], batch_size):
            yield self._prep(x[i : i + batch_size]), y[i : i + batch_size]

    def tensors(self, split: str, limit: int = 0) -> tuple[Tensor, Tensor]:
        """The whole ``split`` (or its first ``limit`` samples), normalised, unaugmented."""
        x, y = self._split(split)
        if limit:
            x, y = x[:limit], y[:limit]
        return self._prep(x), y

    def _split(self, split: str) -> tuple[Tensor, Tensor]:
        if split == "train":
            return self.train_x, self.train_y
        if split == "test":
            return self.test_x, self.test_y
        raise ValueError(f"unknown split {split!r}: use 'train' or 'test'")
