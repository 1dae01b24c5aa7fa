"""The exact references the numerical tests compare against."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call


def dense_hessian(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, names: Sequence[str] | None = None
) -> torch.Tensor:
    """The exact Hessian of the mean cross-entropy (eval mode, buffers as they are) with
    respect to the parameters ``names`` (default: all), flattened in that order; the other
    parameters are held fixed. ``torch.autograd.functional.hessian``: use float64 models."""
    params = dict(model.named_parameters())
    names = list(names or params)
    rest = {**{n: p.detach() for n, p in params.items() if n not in names},
            **dict(model.named_buffers())}  # fmt: skip
    shapes = [params[n].shape for n in names]
    flat = torch.cat([params[n].detach().reshape(-1) for n in names])

    def loss(w: torch.Tensor) -> torch.Tensor:
        parts, i = {}, 0
        for n, s in zip(names, shapes):
            k = math.prod(s)
            parts[n] = w[i : i + k].view(s)
            i += k
        return nn.functional.cross_entropy(functional_call(model, {**rest, **parts}, (x,)), y)

    was = model.training
    model.eval()
    try:
        return torch.autograd.functional.hessian(loss, flat)
    finally:
        model.train(was)
