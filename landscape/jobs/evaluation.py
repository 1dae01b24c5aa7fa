"""The data an evaluation job measures on, and the batches BatchNorm statistics come from."""

from __future__ import annotations

import math

from torch import Tensor

from landscape.functional import Batch
from landscape.runs import Run
from landscape.specs import EngineSpec

__all__ = ["bn_batches", "eval_data", "train_batches"]


def eval_data(run: Run, split: str, limit: int) -> tuple[Tensor, Tensor]:
    """The unaugmented, normalised ``split`` of the run's data set (first ``limit`` samples)."""
    return run.data.tensors(split, limit)


def bn_batches(run: Run, engine: EngineSpec) -> list[Batch] | None:
    """Fixed training batches for BatchNorm re-estimation (``bn_policy="recompute"``).

    The first ``engine.bn_samples`` samples of the run's data order (seeded by its
    data seed), no augmentation, in batches of the run's batch size.
    """
    if engine.bn_policy != "recompute":
        return None
    return train_batches(run, engine.bn_samples)


def train_batches(run: Run, samples: int) -> list[Batch]:
    """The first ``samples`` training samples of the run's data order (seeded by its data
    seed), no augmentation, in batches of the run's batch size: the fixed data of BatchNorm
    re-estimation, activation matching and REPAIR."""
    bs = min(run.config.data.batch_size, run.data.num_train)
    steps = math.ceil(samples / bs)
    batches = list(run.data.train_batches(0, steps, bs, run.config.data.data_seed, augment=False))
    x, y = batches[-1]
    keep = samples - bs * (steps - 1)  # exactly `samples`, as recorded
    batches[-1] = (x[:keep], y[:keep])
    return batches
