"""BatchNorm statistics: reset and re-estimate them on fixed training batches.

Used wherever a weight vector was not produced by SGD on its own statistics: an
averaged SWAMP network ([SWAMP Alg. 1], re-estimated, not averaged) and points on
a connectivity path (policy ``recompute``, docs/science.md).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from landscape.functional import batchnorm_layers

__all__ = ["has_batchnorm", "recompute_bn"]


def has_batchnorm(model: nn.Module) -> bool:
    return bool(batchnorm_layers(model))


@torch.no_grad()
def recompute_bn(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]]) -> int:
    """Reset every BatchNorm's running statistics and set them to the exact mean over ``batches``.

    The running mean/var become the cumulative average of the per-batch statistics
    (momentum ``None``), the model's mode and momenta are restored. Returns the number
    of batches used (0 when the model has no BatchNorm: nothing to do).
    """
    bns = [m for _, m in batchnorm_layers(model)]
    if not bns:
        return 0
    was_training = model.training
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    n = 0
    for x, _ in batches:
        model(x)
        n += 1
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    model.train(was_training)
    if n == 0:
        raise ValueError("recompute_bn got no batches")
    return n
