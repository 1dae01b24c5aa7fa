"""Models for MNIST-1D (length-40 sequences): an MLP and a 1-D CNN with BatchNorm.

Listed in ``landscape.models.MODELS`` as ``mlp`` and ``cnn1d``; imported when one is built.
"""

from __future__ import annotations

import math

from torch import nn

__all__ = ["cnn1d", "mlp"]


def mlp(in_shape: tuple[int, ...], num_classes: int, width: int = 100) -> nn.Module:
    """Flatten, then two hidden ReLU layers of ``width`` (the MNIST-1D paper's MLP baseline)."""
    d = math.prod(in_shape)
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(d, width), nn.ReLU(),
        nn.Linear(width, width), nn.ReLU(),
        nn.Linear(width, num_classes),
    )  # fmt: skip


class _Unsqueeze(nn.Module):
    # a reshape: the exact Hessian diagonal (analysis/hessian/diagonal.py) may trust it
    piecewise_linear = True

    def forward(self, x):
        return x.unsqueeze(1) if x.dim() == 2 else x


def cnn1d(in_shape: tuple[int, ...], num_classes: int, width: int = 32) -> nn.Module:
    """Three stride-2 Conv1d+BatchNorm+ReLU blocks (width, 2w, 2w channels) and a linear head."""
    length = in_shape[-1]
    c_in = 1 if len(in_shape) == 1 else in_shape[0]
    layers: list[nn.Module] = [_Unsqueeze()]
    chans = [c_in, width, 2 * width, 2 * width]
    for i in range(3):
        k = 5 if i == 0 else 3
        layers += [
            nn.Conv1d(chans[i], chans[i + 1], k, stride=2, padding=k // 2, bias=False),
            nn.BatchNorm1d(chans[i + 1]), nn.ReLU(),
        ]  # fmt: skip
        length = (length + 2 * (k // 2) - k) // 2 + 1
    layers += [nn.Flatten(), nn.Linear(chans[-1] * length, num_classes)]
    return nn.Sequential(*layers)
