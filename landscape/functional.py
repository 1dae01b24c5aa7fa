"""The functional core: a network's state as ``dict[str, Tensor]`` or one flat vector.

Analyses treat a network as a skeleton (``nn.Module``) plus a state; they call it
with ``torch.func.functional_call`` rather than mutating the module, so one
skeleton can evaluate many weight vectors (ARCHITECTURE.md, ``functional``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn
from torch.func import functional_call

__all__ = [
    "call",
    "flatten",
    "param_names",
    "prunable_names",
    "state_of",
    "unflatten",
]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def prunable_names(model: nn.Module, scope: str = "conv+linear") -> list[str]:
    """Names of the prunable tensors, in module order (SPEC §0).

    ``scope="conv+linear"``: the ``.weight`` of every ``Conv*d`` and ``Linear``
    (first conv and classifier included); ``scope="conv"``: convolutions only.
    Biases and BatchNorm are never prunable.
    """
    if scope not in ("conv+linear", "conv"):
        raise ValueError(f"unknown prune scope {scope!r}: use 'conv+linear' or 'conv'")
    kinds = _CONV + ((nn.Linear,) if scope == "conv+linear" else ())
    return [
        f"{name}.weight" if name else "weight"
        for name, m in model.named_modules()
        if isinstance(m, kinds)
    ]


def param_names(model: nn.Module) -> list[str]:
    return [n for n, _ in model.named_parameters()]


def state_of(model: nn.Module) -> dict[str, Tensor]:
    """A detached copy of the model's parameters and floating/integer buffers (its state dict)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def flatten(state: Mapping[str, Tensor], names: Iterable[str]) -> Tensor:
    """Concatenate ``state[n].flatten()`` for ``n`` in ``names``."""
    return torch.cat([state[n].reshape(-1) for n in names])


def unflatten(vec: Tensor, like: Mapping[str, Tensor], names: Iterable[str]) -> dict[str, Tensor]:
    """Split ``vec`` into tensors shaped like ``like[n]`` for ``n`` in ``names``."""
    out, i = {}, 0
    for n in names:
        k = like[n].numel()
        out[n] = vec[i : i + k].view_as(like[n])
        i += k
    if i != vec.numel():
        raise ValueError(f"vector has {vec.numel()} entries, the named tensors hold {i}")
    return out


def call(model: nn.Module, state: Mapping[str, Tensor], x: Tensor) -> Tensor:
    """``model(x)`` with ``state`` substituted for its parameters and buffers."""
    return functional_call(model, dict(state), (x,))
