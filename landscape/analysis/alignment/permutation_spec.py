"""Which hidden units one permutation must move together, read off the model graph.

Permuting the hidden units of a network leaves its function unchanged when every tensor
that indexes those units is permuted the same way: the output channels of a Linear or
Conv layer, the input channels of every layer that reads them, the BatchNorm affine
parameters and running statistics in between, and — on a residual stream — every layer
that adds into the stream (Entezari et al. 2022; Ainsworth et al. 2023, "Git Re-Basin",
§2 and App. A). Git Re-Basin writes these groups by hand for each architecture; here they
are derived from the module graph traced by ``torch.fx``:

- every Linear/Conv output opens a new group (its weight's axis 0 and its bias);
- a layer reading a grouped tensor adds its weight's axis 1 to that group (through a
  flatten, axis 1 indexes ``unit · r + position``: a *block* of ``r`` entries per unit);
- BatchNorm/LayerNorm, element-wise activations, pooling and dropout pass the group on
  and add their per-channel tensors to it;
- ``a + b`` merges the groups of ``a`` and ``b`` (a residual stream is one group);
- the network's input and output are fixed: a group merged with either is not permuted.

Anything else that touches a grouped tensor (concatenation, reshapes that mix channels,
attention, grouped convolutions, parameters used outside their module) is refused with
one line naming the graph node and why (:class:`PermutationSpecError`).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from landscape.errors import LandscapeError

__all__ = [
    "Axis",
    "PermGroup",
    "PermutationSpec",
    "PermutationSpecError",
    "apply_permutation",
    "identity_permutation",
    "invert_permutation",
    "permutation_spec",
    "random_permutation",
]

Permutation = dict[str, Tensor]


class PermutationSpecError(LandscapeError):
    """The model graph has an operation the permutation spec cannot follow."""


@dataclass(frozen=True)
class Axis:
    """One axis of one tensor that a group's permutation acts on.

    Attributes:
        name: the tensor's name in the state dict.
        axis: which axis.
        block: entries per unit along that axis (``> 1`` after a flatten of ``C × L``
            into ``C·L`` features: unit ``i`` owns entries ``i·block … i·block + block − 1``).
    """

    name: str
    axis: int
    block: int = 1


@dataclass(frozen=True)
class PermGroup:
    """Hidden units that one permutation moves together.

    Attributes:
        name: the group's name: the first layer (in graph order) whose output it is, e.g.
            ``blocks.0.conv1``, or ``conv`` for the stream a ResNet's stem opens.
        size: number of units.
        axes: every tensor axis the permutation acts on.
        nodes: ``(graph node, channel axis)`` of the layer outputs whose channels are these
            units (where activation matching observes them).
    """

    name: str
    size: int
    axes: tuple[Axis, ...]
    nodes: tuple[tuple[str, int], ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class PermutationSpec:
    """The permutation groups of one architecture (:func:`permutation_spec`)."""

    groups: tuple[PermGroup, ...]

    def sizes(self) -> dict[str, int]:
        """Units per group."""
        return {g.name: g.size for g in self.groups}

    def by_tensor(self) -> dict[str, list[tuple[str, Axis]]]:
        """For each tensor, the (group, axis) pairs acting on it."""
        out: dict[str, list[tuple[str, Axis]]] = {}
        for g in self.groups:
            for ax in g.axes:
                out.setdefault(ax.name, []).append((g.name, ax))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {g.name: {"size": g.size,
                         "axes": [f"{a.name}:{a.axis}" + (f"x{a.block}" if a.block > 1 else "")
                                  for a in g.axes]}
                for g in self.groups}  # fmt: skip


# Modules that act on each channel alone (or have no channels): the group passes through.
_ELEMENTWISE = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus,
    nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.Softmax, nn.LogSoftmax,
)  # fmt: skip
_ELEMENTWISE_FN = {
    torch.relu, torch.sigmoid, torch.tanh, torch.nn.functional.relu, torch.nn.functional.gelu,
    torch.nn.functional.silu, torch.nn.functional.dropout, torch.nn.functional.max_pool2d,
    torch.nn.functional.avg_pool2d, torch.nn.functional.adaptive_avg_pool2d,
    torch.nn.functional.adaptive_avg_pool1d, torch.nn.functional.max_pool1d,
    torch.nn.functional.avg_pool1d, torch.nn.functional.relu6, torch.nn.functional.hardtanh,
    torch.nn.functional.leaky_relu, torch.nn.functional.elu,
}  # fmt: skip
_ELEMENTWISE_METHODS = {"relu", "relu_", "sigmoid", "tanh", "contiguous", "clone", "float",
                        "double", "to", "detach"}  # fmt: skip
_ADD = {operator.add, operator.iadd, torch.add, operator.sub, torch.sub}
_FLATTEN_FN = {torch.flatten}
_FLATTEN_METHODS = {"flatten", "view", "reshape"}
_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORM = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm)

_FIXED = -1  # the union-find node of "not permuted" (the network's input and output)


class _Tracer(fx.Tracer):
    """torch.nn modules are leaves, and so is any module without parameters or buffers
    (a user's ``Unsqueeze`` whose ``forward`` branches on shapes cannot be traced)."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            return False
        if super().is_leaf_module(m, qualname):
            return True
        return not any(True for _ in m.parameters()) and not any(True for _ in m.buffers())


@dataclass
class _Space:
    """A tensor's channel axis: which union-find node permutes it, with what block size."""

    node: int
    dim: int
    block: int = 1


class _Builder:
    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.parent: dict[int, int] = {_FIXED: _FIXED}
        self.size: dict[int, int] = {}
        self.opened_by: dict[int, str] = {}
        self.axes: dict[int, list[Axis]] = {}
        self.nodes: dict[int, list[tuple[str, int]]] = {}
        self.used: set[str] = set()

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int, where: str) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if _FIXED in (ra, rb):  # merging with the fixed node fixes the whole group
            self.parent[ra] = self.parent[rb] = _FIXED
            return _FIXED
        if self.size[ra] != self.size[rb]:
            raise PermutationSpecError(f"{where}: adds tensors of {self.size[ra]} and "
                                       f"{self.size[rb]} channels")  # fmt: skip
        self.parent[rb] = ra
        return ra

    def new(self, size: int, opened_by: str) -> int:
        i = len(self.parent)
        self.parent[i] = i
        self.size[i], self.opened_by[i] = size, opened_by
        return i

    def add_axis(self, node: int, name: str, axis: int, block: int = 1) -> None:
        self.axes.setdefault(node, []).append(Axis(name, axis, block))

    def spec(self) -> PermutationSpec:
        groups: dict[int, list[Axis]] = {}
        nodes: dict[int, list[tuple[str, int]]] = {}
        order: list[int] = []
        name: dict[int, str] = {}
        for i in sorted(self.axes):
            r = self.find(i)
            if r == _FIXED:
                continue
            if r not in groups:  # named by its first layer in graph order (a stream: its stem)
                order.append(r)
                name[r] = self.opened_by[i]
            groups.setdefault(r, []).extend(self.axes[i])
        for i, names in self.nodes.items():
            r = self.find(i)
            if r in groups:
                nodes.setdefault(r, []).extend(names)
        return PermutationSpec(tuple(
            PermGroup(name[r], self.size[r], tuple(groups[r]), tuple(nodes.get(r, ())))
            for r in order
        ))  # fmt: skip


def _shape(node: fx.Node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def permutation_spec(model: nn.Module, example: Tensor) -> PermutationSpec:
    """The permutation groups of ``model`` (module docstring), from its ``torch.fx`` graph.

    Args:
        model: the network (not modified; its weights are not read).
        example: one input batch (shapes only: a flatten's block size comes from it).

    Returns:
        a :class:`PermutationSpec`; groups merged with the input or the output (e.g. a
        stream that starts at the input) are left out: they cannot be permuted.

    Raises:
        PermutationSpecError: the graph does not trace, or an operation would mix
            permuted channels in a way no permutation spec follows; the message names the
            node (module) and why.
    """
    try:
        graph = _Tracer().trace(model)
    except Exception as exc:
        raise PermutationSpecError(
            f"the model does not trace with torch.fx ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); permutation alignment needs a "
            "traceable graph"
        ) from None
    gm = fx.GraphModule(model, graph)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        ShapeProp(gm).propagate(example)
    model.train(was_training)
    b = _Builder(model)
    modules = dict(model.named_modules())
    spaces: dict[
        fx.Node, _Space | None
    ] = {}  # None: not a tensor with channels (a shape, a scalar)
    for node in gm.graph.nodes:
        spaces[node] = _visit(b, node, spaces, modules)
    _check_coverage(b, model)
    return b.spec()


def _fixed(dim: int = 1) -> _Space:
    return _Space(_FIXED, dim)


def _tensor_args(node: fx.Node, spaces: Mapping[fx.Node, _Space | None]) -> list[_Space]:
    """The spaces of every tensor the node reads, nested in lists (``torch.cat``) included."""
    return [*_flat_spaces(node.args, spaces), *_flat_spaces(node.kwargs, spaces)]


def _where(node: fx.Node) -> str:
    if node.op == "call_module":
        return f"module {node.target!r}"
    return f"graph node {node.name!r} ({node.op} {getattr(node.target, '__name__', node.target)})"


def _visit(
    b: _Builder, node: fx.Node, spaces: Mapping[fx.Node, _Space | None],
    modules: Mapping[str, nn.Module],
) -> _Space | None:  # fmt: skip
    shape = _shape(node)
    if node.op == "placeholder":
        return _fixed()
    if node.op == "output":
        for s in _flat_spaces(node.args, spaces):
            b.union(s.node, _FIXED, "the output")
        return None
    if node.op == "get_attr":
        raise PermutationSpecError(
            f"{_where(node)} reads the tensor {node.target!r} outside its module's forward; "
            "the permutation spec cannot tell which channels it indexes"
        )
    ins = _tensor_args(node, spaces)
    if shape is None:  # a size, a shape, a Python number
        return None
    x = ins[0] if ins else _fixed()
    if node.op == "call_module":
        return _module(b, node, modules[str(node.target)], x, shape)
    target = node.target
    if target in _ADD or (node.op == "call_method" and target in ("add", "add_", "sub")):
        tensors = list(ins)
        if len(tensors) == 1:
            return tensors[0]
        r = tensors[0].node
        for s in tensors[1:]:
            if s.block != tensors[0].block:
                raise PermutationSpecError(f"{_where(node)}: adds tensors flattened differently")
            r = b.union(r, s.node, _where(node))
        return _Space(r, tensors[0].dim, tensors[0].block)
    if target in (operator.mul, torch.mul, operator.truediv) or target in ("mul", "div"):
        if len(ins) == 1:  # a tensor times a number
            return x
        for s in ins[1:]:  # a product of two tensors: their channels must agree
            b.union(x.node, s.node, _where(node))
        return x
    if target in _ELEMENTWISE_FN or (node.op == "call_method" and target in _ELEMENTWISE_METHODS):
        return x
    if target in _FLATTEN_FN or (node.op == "call_method" and target in _FLATTEN_METHODS):
        return _flatten(b, node, x, shape)
    if target in (torch.mean, torch.sum) or target in ("mean", "sum", "amax", "max"):
        dims = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
        if dims is None:
            return _fixed()
        dims = [dims] if isinstance(dims, int) else list(dims)
        in_shape = _shape(node.args[0]) if isinstance(node.args[0], fx.Node) else None
        nd = len(in_shape) if in_shape else 0
        if any(d % nd == x.dim % nd for d in dims):
            return _fixed()  # the channels are reduced away: nothing left to permute
        keep = node.kwargs.get("keepdim", len(node.args) > 2 and node.args[2])
        dim = x.dim if keep else x.dim - sum(1 for d in dims if d % nd < x.dim % nd)
        return _Space(x.node, dim, x.block)
    if b.find(x.node) == _FIXED and all(b.find(s.node) == _FIXED for s in ins):
        return _fixed()  # anything on unpermuted tensors stays unpermuted
    raise PermutationSpecError(
        f"{_where(node)} acts on permuted channels in a way the permutation spec cannot "
        "follow (supported: Linear, Conv, BatchNorm, LayerNorm, element-wise activations, "
        "pooling, flatten, +)"
    )


def _flat_spaces(args: Any, spaces: Mapping[fx.Node, _Space | None]) -> Iterable[_Space]:
    if isinstance(args, fx.Node):
        s = spaces.get(args)
        if s is not None:
            yield s
    elif isinstance(args, (tuple, list)):
        for a in args:
            yield from _flat_spaces(a, spaces)
    elif isinstance(args, dict):
        for a in args.values():
            yield from _flat_spaces(a, spaces)


def _flatten(b: _Builder, node: fx.Node, x: _Space, shape: tuple[int, ...]) -> _Space:
    src = node.args[0]
    in_shape = _shape(src) if isinstance(src, fx.Node) else None
    if b.find(x.node) == _FIXED or in_shape is None:
        return _fixed(len(shape) - 1)
    # Only the flatten that keeps the batch axis and merges the channel axis with the axes
    # after it: channel c, position p becomes feature c·(positions) + p.
    if len(shape) == 2 and shape[0] == in_shape[0] and x.dim == 1:
        positions = 1
        for n in in_shape[2:]:
            positions *= n
        return _Space(x.node, 1, x.block * positions)
    if shape == in_shape:
        return x
    raise PermutationSpecError(
        f"{_where(node)} reshapes permuted channels {in_shape} → {shape}; only a flatten "
        "of (batch, channels, ...) to (batch, features) is supported"
    )


def _module(b: _Builder, node: fx.Node, m: nn.Module, x: _Space, shape: tuple[int, ...]) -> _Space:
    prefix = f"{node.target}."
    where = _where(node)
    if isinstance(m, (nn.Linear, *_CONV)):
        if isinstance(m, _CONV) and m.groups != 1:
            raise PermutationSpecError(f"{where}: grouped convolution (groups={m.groups}) is "
                                       "not supported by the permutation spec")  # fmt: skip
        if isinstance(m, nn.Linear) and len(shape) > 2 and x.dim != len(shape) - 1:
            raise PermutationSpecError(f"{where}: a Linear layer on {len(shape)}-D inputs")
        b.used.update(prefix + n for n, _ in m.named_parameters(recurse=False))
        b.add_axis(x.node, prefix + "weight", 1, x.block)
        out_dim = len(shape) - 1 if isinstance(m, nn.Linear) else 1
        g = b.new(shape[out_dim], str(node.target))
        b.add_axis(g, prefix + "weight", 0)
        if m.bias is not None:
            b.add_axis(g, prefix + "bias", 0)
        b.nodes.setdefault(g, []).append((node.name, out_dim))
        return _Space(g, out_dim)
    if isinstance(m, _NORM):
        # The normalised axis must be the channel axis: BatchNorm's axis 1, LayerNorm's last.
        axis = len(shape) - 1 if isinstance(m, nn.LayerNorm) else 1
        permuted = b.find(x.node) != _FIXED
        if permuted and isinstance(m, nn.LayerNorm) and len(m.normalized_shape) != 1:
            raise PermutationSpecError(
                f"{where}: LayerNorm over several axes of permuted channels is not supported"
            )
        if permuted and (x.block != 1 or x.dim % len(shape) != axis):
            raise PermutationSpecError(
                f"{where}: {type(m).__name__} normalises axis {axis}, but the permuted channels "
                f"are {'flattened' if x.block != 1 else f'on axis {x.dim}'}"
            )
        for n, _ in [*m.named_parameters(recurse=False), *m.named_buffers(recurse=False)]:
            b.used.add(prefix + n)
            if n != "num_batches_tracked":
                b.add_axis(x.node, prefix + n, 0)
        b.nodes.setdefault(x.node, []).append((node.name, x.dim))
        return x
    if isinstance(m, _ELEMENTWISE):
        if isinstance(m, nn.PReLU) and m.num_parameters > 1:
            b.add_axis(x.node, prefix + "weight", 0)
        b.used.update(prefix + n for n, _ in m.named_parameters(recurse=False))
        return x
    if isinstance(m, nn.Flatten):
        return _flatten(b, node, x, shape)
    has_tensors = any(True for _ in m.parameters()) or any(True for _ in m.buffers())
    if not has_tensors and b.find(x.node) == _FIXED:
        return _fixed()  # a parameter-free module on unpermuted tensors (e.g. an input reshape)
    raise PermutationSpecError(
        f"{where} ({type(m).__name__}) is not a layer the permutation spec knows (Linear, "
        "Conv1d/2d/3d, BatchNorm, LayerNorm, element-wise activations, pooling, Flatten)"
    )


def _check_coverage(b: _Builder, model: nn.Module) -> None:
    for name, _ in model.named_parameters():
        if name not in b.used:
            raise PermutationSpecError(
                f"parameter {name!r} is not used by any layer the graph trace saw; the "
                "permutation spec cannot tell which channels it indexes"
            )


def identity_permutation(spec: PermutationSpec) -> Permutation:
    """The identity permutation of every group."""
    return {g.name: torch.arange(g.size) for g in spec.groups}


def random_permutation(spec: PermutationSpec, seed: int = 0) -> Permutation:
    """A uniformly random permutation of every group (seeded, global RNG untouched)."""
    gen = torch.Generator().manual_seed(seed)
    return {g.name: torch.randperm(g.size, generator=gen) for g in spec.groups}


def invert_permutation(perm: Permutation) -> Permutation:
    """``q`` with ``q[p[i]] = i`` for every group."""
    return {k: torch.argsort(p) for k, p in perm.items()}


def _index(p: Tensor, block: int) -> Tensor:
    if block == 1:
        return p
    return (p[:, None] * block + torch.arange(block)).reshape(-1)


def apply_permutation(
    spec: PermutationSpec, perm: Permutation, state: Mapping[str, Tensor]
) -> dict[str, Tensor]:
    """``state`` with its units permuted: new unit ``i`` of group ``g`` is old unit ``perm[g][i]``.

    Works on a network's state dict and on a mask (whose tensors are a subset of the
    weights); tensors no group acts on are returned as they are (not copied).
    """
    out = dict(state)
    for g in spec.groups:
        p = perm[g.name].cpu()
        if p.shape != (g.size,):
            raise ValueError(f"the permutation of group {g.name!r} has shape {tuple(p.shape)}, "
                             f"expected ({g.size},)")  # fmt: skip
        for ax in g.axes:
            if ax.name in out:
                t = out[ax.name]
                out[ax.name] = t.index_select(ax.axis, _index(p, ax.block).to(t.device))
    return out
