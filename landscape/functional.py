"""The functional core: a network's state as ``dict[str, Tensor]`` or one flat vector.

Analyses treat a network as a skeleton (``nn.Module``) plus a state; they call it
with ``torch.func.functional_call`` rather than mutating the module, so one
skeleton can evaluate many weight vectors (docs/architecture.md, ``functional``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from landscape.errors import DataError

__all__ = [
    "as_batches",
    "batchnorm_layers",
    "call",
    "flatten",
    "is_tensor_pair",
    "param_names",
    "prunable_names",
    "state_of",
    "unflatten",
]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def prunable_names(model: nn.Module, scope: str = "conv+linear") -> list[str]:
    """Names of the prunable tensors, in module order (docs/science.md).

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


def batchnorm_layers(
    model: nn.Module, tracking: bool = False
) -> list[tuple[str, nn.modules.batchnorm._BatchNorm]]:
    """``(name, module)`` of every BatchNorm layer (the one BatchNorm finder); with
    ``tracking``, only those that keep running statistics."""
    return [
        (n, m) for n, m in model.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.track_running_stats or not tracking)
    ]  # fmt: skip


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


Batch = tuple[Tensor, Tensor]
DataLike = tuple[Tensor, Tensor] | Iterable[tuple[Tensor, Tensor]]


def is_tensor_pair(data: Any) -> bool:
    """Whether ``data`` is one ``(inputs, targets)`` pair of tensors (not an iterable of pairs)."""
    return (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(t, Tensor) for t in data)
    )


def as_batches(data: DataLike, batch_size: int) -> list[Batch]:
    """``data`` as a list of ``(inputs, targets)`` batches.

    Args:
        data: a tensor pair ``(inputs, targets)``, split into batches of
            ``batch_size``, or an iterable of such pairs, used as given.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if is_tensor_pair(data):
        x, y = data
        if x.shape[0] != y.shape[0]:
            raise DataError(
                f"inputs and targets differ in length ({x.shape[0]} vs {y.shape[0]}); "
                "pass (inputs, targets) of one data set"
            )
        if x.shape[0] == 0:
            raise DataError("no data: the inputs hold 0 samples; pass at least one sample")
        return list(zip(x.split(batch_size), y.split(batch_size)))
    batches = []
    for item in data:
        if not (isinstance(item, (tuple, list)) and len(item) >= 2 and isinstance(item[0], Tensor)):
            raise DataError(
                "data must be a tensor pair (inputs, targets) or an iterable of such pairs, "
                f"got an item of type {type(item).__name__}"
            )
        batches.append((item[0], item[1]))
    if not batches:
        raise DataError(
            "no data: the data holds no batches; pass at least one (inputs, targets) pair"
        )
    return batches
