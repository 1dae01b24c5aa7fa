"""Exact factoring of a model's input layer across the points of an evaluation.

Every point the engine evaluates is a combination ``w(k) = Σ_j c_kj w_j`` of a few
basis states (SPEC §3–4: two for a path, three for a plane). A first layer that is
linear in its weight and bias for a fixed input ``p`` — ``nn.Linear`` or a
convolution — therefore satisfies

    L(p; Σ_j c_kj W_j, Σ_j c_kj b_j) = Σ_j c_kj L(p; W_j, b_j),

so its output for *any* point is a combination of the ``J`` basis outputs, computed
once per batch. Each point then costs one ``[J] × [J, N·D]`` product instead of the
layer's matrix product: on the MNIST-1D MLP (40 → 100 on 1000 samples, one CPU
thread) ~0.04 ms instead of ~0.12 ms per point (``bench/RESULTS.md``). The results
equal the plain forward to float32 rounding (tested to 1e-5).

Only structure that guarantees the layer's input does not depend on the weights is
factored: an ``nn.Sequential`` (possibly nested) whose leading modules hold no
parameters or buffers (``Flatten``, reshapes), followed by the layer. Anything else,
or a cache over the memory budget, falls back to the plain forward.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call

__all__ = ["FactoredInput", "InputLayer", "Pick", "find_input_layer"]

_LINEAR_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _stateless(module: nn.Module) -> bool:
    return next(module.parameters(), None) is None and next(module.buffers(), None) is None


@dataclass(frozen=True)
class InputLayer:
    """Where the factorable input layer sits in a model.

    Attributes:
        name: qualified name of the layer (``"1"`` in ``Sequential(Flatten, Linear, ...)``).
        prefix: qualified names of the stateless modules applied before it, in order.
    """

    name: str
    prefix: tuple[str, ...]


def find_input_layer(model: nn.Module) -> InputLayer | None:
    """The model's input layer if its output is provably linear in its weights, else ``None``."""
    prefix: list[str] = []
    module, path = model, ""
    while isinstance(module, nn.Sequential):
        for child_name, child in module.named_children():
            qual = f"{path}{child_name}"
            if _stateless(child):
                prefix.append(qual)
                continue
            # The exact classes: a subclass may use more state than weight and bias.
            if type(child) in _LINEAR_LAYERS and next(child.buffers(), None) is None:
                return InputLayer(qual, tuple(prefix))
            module, path = child, f"{qual}."
            break
        else:
            return None  # a Sequential without any stateful module
    return None


def _layer_output(
    model: nn.Module, layer: InputLayer, state: Mapping[str, Tensor], x: Tensor
) -> Tensor:
    """The input layer's output on batch ``x`` with one state's weight and bias."""
    for n in layer.prefix:
        x = model.get_submodule(n)(x)
    module = model.get_submodule(layer.name)
    params = {n: state[f"{layer.name}.{n}"] for n, _ in module.named_parameters(recurse=False)}
    with torch.no_grad():
        return functional_call(module, params, (x,))


class Pick:
    """The point (``row``: coefficients over the cached basis states) and the batch
    (``key``) the stand-in answers for; a plain object, cheap to update per point."""

    __slots__ = ("key", "row")

    def __init__(self) -> None:
        self.key: Hashable = None
        self.row: Tensor | None = None


class _Combined(nn.Module):
    """Stands in for the input layer of a private model copy: returns the picked point's
    combination of the cached basis outputs of the picked batch."""

    def __init__(self, cache: FactoredInput) -> None:
        super().__init__()
        self.cache = cache
        self.pick = Pick()

    def forward(self, x: Tensor) -> Tensor:
        flat, shape = self.cache.outputs.get(self.pick.key, (None, None))
        if flat is None or self.pick.row is None or len(x) != shape[0]:
            raise RuntimeError("input-layer stand-in called without its point and batch picked")
        return (self.pick.row @ flat).view(shape)


class FactoredInput:
    """Input-layer outputs of the used basis states on every batch of an evaluation.

    Build it with :meth:`build`; :meth:`install` puts a stand-in into a private model
    copy, whose ``row`` (:meth:`row`) and ``key`` (the batch's) the caller sets before
    each forward.
    """

    def __init__(
        self,
        model: nn.Module,
        layer: InputLayer,
        basis: Sequence[Mapping[str, Tensor]],
        used: Sequence[int],
        batches: Mapping[Hashable, Tensor],
    ) -> None:
        self.layer = layer
        self.used = torch.as_tensor(list(used), dtype=torch.long)
        # {key: ([J, rows · features] outputs of the used basis states, one output's shape)}
        self.outputs: dict[Hashable, tuple[Tensor, torch.Size]] = {}
        for key, x in batches.items():
            z = torch.stack([_layer_output(model, layer, basis[j], x) for j in used])
            self.outputs[key] = (z.view(len(used), -1), z.shape[1:])
        first = next(iter(self.outputs.values()))[0]
        self.dtype, self.device = first.dtype, first.device

    @classmethod
    def build(
        cls,
        model: nn.Module,
        basis: Sequence[Mapping[str, Tensor]],
        coeffs: Tensor,
        batches: Mapping[Hashable, Tensor],
        budget_bytes: int,
    ) -> FactoredInput | None:
        """The cache for these points and batches, or ``None`` when the model's input layer
        cannot be factored or the cache would exceed ``budget_bytes``.

        Args:
            coeffs: ``[K, J]`` coefficients of all points (only used columns are cached).
            batches: ``{key: inputs}``, every batch the engine will feed, on the device.
        """
        layer = find_input_layer(model)
        if layer is None or not batches:
            return None
        used = [j for j in range(coeffs.shape[1]) if bool(coeffs[:, j].ne(0).any())]
        one = _layer_output(model, layer, basis[used[0]], next(iter(batches.values()))[:1])
        rows = sum(len(x) for x in batches.values())
        if len(used) * rows * one.numel() * one.element_size() > budget_bytes:
            return None
        return cls(model, layer, basis, used, batches)

    def install(self, replica: nn.Module) -> Pick:
        """Swap ``replica``'s prefix for identities and its input layer for a stand-in;
        returns the stand-in's :class:`Pick`, to be set before each forward."""
        for n in self.layer.prefix:
            replica.set_submodule(n, nn.Identity())
        stand_in = _Combined(self)
        replica.set_submodule(self.layer.name, stand_in)
        return stand_in.pick

    def rows(self, coeffs: Tensor) -> Tensor:
        """``[K, J]`` float64 coefficients → ``[K, used]`` rows over the cached states."""
        return coeffs[:, self.used].to(device=self.device, dtype=self.dtype)
