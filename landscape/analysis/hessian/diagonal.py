"""The exact diagonal, and so the exact trace, of the Hessian, the GGN or the empirical Fisher
of networks that are piecewise linear in each parameter (docs/science.md §7).

For the mean loss ``L(w) = (1/N) Σ_n ℓ(f(x_n; w), y_n)`` the Hessian is
``H = (1/N) Σ_n J_nᵀ Λ_n J_n + (1/N) Σ_n Σ_c (∂ℓ_n/∂f_c) ∇²_w f_c(x_n; w)`` with
``J_n = ∂f(x_n)/∂w`` and ``Λ_n = ∂²ℓ_n/∂f²`` (Martens 2020, "New insights and perspectives
on the natural gradient method", JMLR 21(146), §8.1). The first sum is the generalised
Gauss-Newton ``G``. The second sum's **diagonal** is zero whenever the output is piecewise
linear in every single parameter with the others held fixed: then ``∂²f_c/∂w_i² = 0``
almost everywhere, so ``diag(H) = diag(G)`` and ``tr(H) = tr(G)``. This holds for networks
built from linear maps (linear, convolution, BatchNorm in eval mode, average pooling,
additions such as residual connections) and piecewise-linear functions (ReLU, leaky ReLU,
max pooling), with each parameter used once — the ReLU networks of the pruning papers
([PAUL] §2, [ZIMMER] §3, [SWAMP] §4: MLPs, VGG, ResNets). It does not hold for smooth
non-linearities (tanh, GELU), normalisation by the input's own statistics (LayerNorm,
GroupNorm, BatchNorm in training mode), products of activations (attention, gating) or a
parameter used twice: :func:`linearity_obstacle` finds these in the network's ``torch.fx``
graph and names the first one. (Autograd's products agree: they differentiate ReLU and max
pooling as the local linear piece, so ``diag(H)`` here equals the dense Hessian's diagonal
to rounding, as the tests check in float64.)

The diagonal of ``G`` needs no sampling: with ``Λ_n = Σ_k λ_nk u_nk u_nkᵀ`` (its
eigen-decomposition, ``C × C`` for ``C`` outputs),
``diag(G) = (1/N) Σ_n Σ_k λ_nk (J_nᵀ u_nk)²`` — ``C`` per-sample vector-Jacobian products,
each squared, which ``torch.func.vmap`` over samples and over ``k`` computes as one batched
backward pass per block of samples (BackPACK's exact GGN diagonal, Dangel, Kunstner &
Hennig 2020, ICLR, computes the same quantity module by module; here one function covers
any traceable network). The empirical Fisher has ``Λ_n = r_n r_nᵀ`` with ``r_n = ∂ℓ_n/∂f``
(Kunstner et al. 2019), so its diagonal is the mean squared per-sample gradient; it
applies to any network. Every curvature needs samples that do not interact (checked:
outputs computed alone and together must agree) and a loss that is the mean of per-sample
terms (``op.loss_fn`` of one sample is that sample's term; cross-entropy with class
weights is not). Against a Hutchinson estimate from ``m`` Hessian-vector products
(standard error ~ ``‖H‖_F √(2/m)``), this is the exact value for the cost of about ``C``
gradients: bench/RESULTS.md measures both.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, hessian, vjp, vmap

from landscape.errors import LandscapeError

if TYPE_CHECKING:
    from landscape.analysis.hessian.hvp import HessianOperator

__all__ = ["curvature_diagonal", "exact_trace", "linearity_obstacle", "require_linearity"]

# Modules whose output is piecewise linear in their input and linear in each of their own
# parameters. BatchNorm only in eval mode with running statistics (checked below); dropout
# is the identity in eval mode, where every curvature product here runs.
_LINEAR_MODULES = (
    nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Hardtanh,
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.Flatten, nn.Unflatten, nn.Identity,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.BatchNorm1d, nn.BatchNorm2d,
    nn.BatchNorm3d, nn.ZeroPad1d, nn.ZeroPad2d, nn.ConstantPad1d, nn.ConstantPad2d,
)  # fmt: skip
_LINEAR_FUNCTIONS = {
    operator.add, operator.sub, operator.neg, operator.getitem, torch.add, torch.sub,
    torch.cat, torch.stack, torch.flatten, torch.reshape, torch.relu, torch.mean, torch.sum,
    F.relu, F.relu6, F.leaky_relu, F.hardtanh, F.linear, F.conv1d, F.conv2d, F.conv3d,
    F.max_pool1d, F.max_pool2d, F.max_pool3d, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d,
    F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d,
    F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d, F.pad,
}  # fmt: skip
_LINEAR_METHODS = {
    "view", "reshape", "flatten", "size", "relu", "mean", "sum", "permute", "transpose",
    "contiguous", "squeeze", "unsqueeze", "add", "sub", "chunk", "split", "clone", "expand",
    "view_as", "reshape_as", "dim", "neg",
}  # fmt: skip
# Scaling by a constant keeps linearity: one operand a Node, the other a number.
_SCALINGS = {operator.mul, operator.truediv, torch.mul, torch.div}


class _Tracer(torch.fx.Tracer):
    """``torch.fx``'s tracer, with modules that declare ``piecewise_linear`` kept whole."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return bool(getattr(m, "piecewise_linear", False)) or super().is_leaf_module(m, qualname)


def linearity_obstacle(model: nn.Module) -> str | None:
    """``None`` when ``model``'s output is piecewise linear in each parameter on its own
    (module docstring), else one line naming the first operation that is not.

    Conservative: the network must trace with ``torch.fx`` and use only the operations
    listed in this module, every parameter exactly once (a module called twice, a weight
    tied to another module's, a parameter read directly and also through its module, or
    read and then reshaped are all refused), scalings by a constant only, and no reduction
    over the batch dimension; anything else is reported, never assumed linear. A module of
    one's own that is piecewise linear in its input and in each of its parameters (and
    uses each once) may say so with a class attribute ``piecewise_linear = True``; it is
    then taken as one operation, not traced into.
    """
    try:
        graph = _Tracer().trace(model)
    except Exception as exc:  # any tracing failure means "cannot tell"
        return f"it does not trace with torch.fx ({type(exc).__name__}: {exc})"
    modules = dict(model.named_modules())
    uses: dict[int, int] = {}

    def used_again(t: Tensor) -> bool:
        uses[id(t)] = uses.get(id(t), 0) + 1
        return uses[id(t)] > 1

    for node in graph.nodes:
        if node.op == "call_module":
            m = modules[node.target]
            if not isinstance(m, _LINEAR_MODULES) and not getattr(m, "piecewise_linear", False):
                return f"module {node.target} ({type(m).__name__}) is not piecewise linear"
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is None:
                return f"module {node.target} normalises by batch statistics even in eval mode"
            if any(used_again(q) for q in m.parameters()):  # a declared leaf's children too
                return (f"a parameter of module {node.target} is used twice (the module is "
                        "called twice, or its weight is shared with another use)")  # fmt: skip
        elif node.op == "get_attr":
            t = _attribute(model, node.target)
            if isinstance(t, Tensor) and t.requires_grad:
                if used_again(t):
                    return f"parameter {node.target} is used twice"
                users = list(node.users)
                if len(users) != 1 or users[0].target not in _WEIGHT_USERS:
                    return (f"parameter {node.target} is used other than directly as a "
                            "layer's weight or an added bias")  # fmt: skip
        elif node.op == "call_function":
            if node.target in _SCALINGS and not _scaling(node):
                return f"{node.name} is not a tensor scaled by a constant"
            if node.target not in _LINEAR_FUNCTIONS | _SCALINGS:
                name = getattr(node.target, "__name__", str(node.target))
                return f"function {name} ({node.name}) is not piecewise linear"
            if node.target in (torch.mean, torch.sum) and _over_batch(node, 1):
                return f"{node.name} reduces over the batch dimension"
        elif node.op == "call_method":
            if node.target not in _LINEAR_METHODS:
                return f"method .{node.target}() ({node.name}) is not piecewise linear"
            if node.target in ("mean", "sum") and _over_batch(node, 1):
                return f"{node.name} reduces over the batch dimension"
    return None


def require_linearity(model: nn.Module) -> None:
    """Raise the one-line refusal of the exact Hessian diagonal when ``model`` has a
    :func:`linearity_obstacle` (the ``hessian`` verb calls it before claiming a folder)."""
    obstacle = linearity_obstacle(model)
    if obstacle is not None:
        raise LandscapeError(
            f"the exact Hessian diagonal (--trace-method exact) needs a network piecewise "
            f"linear in each weight, but {obstacle}; use --trace-method hutchpp, or "
            f"--curvature ggn"
        )


# A parameter read directly must go straight into one of these (as weight or bias).
_WEIGHT_USERS = {F.linear, F.conv1d, F.conv2d, F.conv3d, operator.add, torch.add}


def _attribute(model: nn.Module, target: str):
    obj = model
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _scaling(node: torch.fx.Node) -> bool:
    """``x * c``, ``c * x`` or ``x / c`` with ``c`` a number."""
    a = list(node.args)
    if len(a) != 2:
        return False
    if node.target in (operator.truediv, torch.div):
        return isinstance(a[0], torch.fx.Node) and isinstance(a[1], (int, float))
    kinds = {isinstance(v, torch.fx.Node) for v in a}, {isinstance(v, (int, float)) for v in a}
    return kinds == ({True, False}, {True, False})


def _over_batch(node: torch.fx.Node, position: int) -> bool:
    """Whether a mean/sum reduces over dimension 0 (or over everything)."""
    dim = node.kwargs.get("dim", node.args[position] if len(node.args) > position else None)
    if dim is None:
        return True
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    return any(d == 0 for d in dims)


def curvature_diagonal(op: HessianOperator, *, block_bytes: int = 1 << 28) -> dict[str, Tensor]:
    """The exact diagonal of ``op``'s curvature matrix, full-shaped per parameter.

    Two paths give the same numbers. A linear layer applied to ``[samples, features]``
    has per-sample gradients ``δ aᵀ`` (``a`` its input, ``δ`` the back-propagated output
    direction), so its diagonal ``Σ_n Σ_k λ_nk (δ_nk)² (a_n²)ᵀ`` is one matrix product of
    squares: the ``δ`` of every output direction come from one batched backward pass
    (``is_grads_batched``) and no per-sample gradient is formed. Every other parameter
    (convolutions, BatchNorm, a linear layer on longer inputs) takes its per-sample
    gradients from ``torch.func.vmap`` over samples and directions, in blocks of
    ``block_bytes``.

    Args:
        op: the operator (its model, data, loss and curvature; masks are applied by the
            caller through ``op.from_state``). The Hessian needs a network without a
            :func:`linearity_obstacle`; the GGN and the empirical Fisher take any network.
        block_bytes: at most this many bytes of per-sample gradients at once (changes
            the speed, not the numbers).

    Returns:
        ``{name: tensor}`` of ``op``'s selected parameters.

    Raises:
        LandscapeError: the Hessian of a network that is not piecewise linear in each
            parameter (the message names the operation).
    """
    curvature = op.curvature
    if curvature == "hessian":
        require_linearity(op.model)
    from landscape.analysis.hessian.hvp import _eval_mode

    diag = {n: torch.zeros_like(p) for n, p in op._params.items()}
    with _eval_mode(op.model):
        _check_per_sample(op)
        for x, y in op.chunks:
            out, factored = _outputs(op, x)
            lam, u = _loss_curvature(op, out.detach(), y, curvature)
            done = _factored_part(out, factored, lam, u, diag)
            rest = [n for n in diag if n not in done]
            if rest:
                _per_sample_part(op, x, lam, u, rest, diag, block_bytes)
    scale = 1.0 / op.num_samples
    return {n: d.mul_(scale) for n, d in diag.items()}


def _outputs(op: HessianOperator, x: Tensor) -> tuple[Tensor, list[tuple[str, Tensor, Tensor]]]:
    """The chunk's output with its graph, and ``(prefix, input, output)`` of every linear
    layer that saw ``[samples, features]`` inputs and owns selected parameters."""
    seen: list[tuple[str, Tensor, Tensor]] = []
    hooks = []
    selected = set(op._params)

    owners: dict[int, int] = {}  # a parameter shared by two modules is not factored
    for m in op.model.modules():
        for q in m.parameters(recurse=False):
            owners[id(q)] = owners.get(id(q), 0) + 1
    calls: dict[str, int] = {}

    def record(prefix: str):
        def hook(module: nn.Module, args: tuple, output: Tensor) -> Tensor:
            calls[prefix] = calls.get(prefix, 0) + 1
            a = args[0] if args else None
            if isinstance(a, Tensor) and a.dim() == 2 and output.dim() == 2:
                seen.append((prefix, a.detach(), output))
            # later in-place operations (ReLU(inplace=True)) must not rewrite the output
            # whose gradient is taken: they get a copy
            return output.clone()

        return hook

    for name, m in op.model.named_modules():
        if (type(m) is nn.Linear
                and any(f"{name}.{k}" in selected for k in ("weight", "bias"))
                and all(owners[id(q)] == 1 for q in m.parameters(recurse=False))):  # fmt: skip
            hooks.append(m.register_forward_hook(record(name)))
    try:
        with torch.enable_grad():
            out = functional_call(op.model, {**op._fixed, **op._leaves()}, (x,))
    finally:
        for h in hooks:
            h.remove()
    if out.dim() != 2:
        raise LandscapeError(
            f"the exact diagonal needs outputs of shape [samples, classes], got "
            f"{tuple(out.shape)}; use --trace-method hutchpp"
        )
    # a layer called twice (on any input) needs every call's products: the general path
    return out, [s for s in seen if calls[s[0]] == 1]


def _check_per_sample(op: HessianOperator, count: int = 4) -> None:
    """Refuse a network whose output for one sample depends on the others in its batch
    (batch statistics, a mean over the batch): the diagonal is a sum over samples."""
    x = op.chunks[0][0][:count]
    if x.shape[0] < 2:
        return
    params = {**op._fixed, **op._params}
    with torch.no_grad():
        together = functional_call(op.model, params, (x,))
        alone = torch.cat(
            [functional_call(op.model, params, (x[i : i + 1],)) for i in range(len(x))]
        )
    scale = float(together.abs().max()) or 1.0
    tol = (1e-4 if together.dtype == torch.float32 else 1e-10) * scale
    if together.shape != alone.shape or float((together - alone).abs().max()) > tol:
        raise LandscapeError(
            "the network's output for one sample depends on the other samples of its batch "
            "(batch statistics?), so its curvature is not a sum over samples and the exact "
            "diagonal does not apply; use --trace-method hutchpp"
        )


def _loss_curvature(op: HessianOperator, out: Tensor, y: Tensor, curvature: str):
    """``λ [n, k]`` and unit directions ``u [n, k, C]`` with ``Λ_n = Σ_k λ_nk u_nk u_nkᵀ``:
    the loss's Hessian in the output (Hessian, GGN), or ``r_n r_nᵀ`` (empirical Fisher)."""

    def loss_one(o: Tensor, t: Tensor) -> Tensor:
        return op.loss_fn(o.unsqueeze(0), t.unsqueeze(0))

    if curvature == "fisher":
        r = vmap(torch.func.grad(loss_one))(out, y)  # [n, C]
        norm = r.norm(dim=1, keepdim=True)
        return norm * norm, (r / torch.where(norm > 0, norm, 1))[:, None, :]
    lam, vecs = torch.linalg.eigh(vmap(hessian(loss_one))(out, y))
    return lam, vecs.transpose(1, 2)  # rows: eigenvectors


def _factored_part(out, factored, lam: Tensor, u: Tensor, diag: dict[str, Tensor]) -> set[str]:
    """Add the linear layers' diagonals (``Σ λ δ² a²``); the names it filled."""
    if not factored:
        return set()
    cot = u.transpose(0, 1)  # [k, n, C]: one backward per output direction, batched
    deltas = torch.autograd.grad(out, [o for _, _, o in factored], cot, is_grads_batched=True)
    done: set[str] = set()
    for (prefix, a, _), d in zip(factored, deltas):
        wd = torch.einsum("nk,kno->no", lam, d.detach() ** 2)  # Σ_k λ_nk δ_nko²
        if f"{prefix}.weight" in diag:
            diag[f"{prefix}.weight"].add_(wd.T @ (a * a))
            done.add(f"{prefix}.weight")
        if f"{prefix}.bias" in diag:
            diag[f"{prefix}.bias"].add_(wd.sum(0))
            done.add(f"{prefix}.bias")
    return done


def _per_sample_part(op, x, lam, u, names: list[str], diag, block_bytes: int) -> None:
    """Add the diagonal of ``names`` from per-sample gradients (``vmap`` over samples and
    output directions)."""
    fixed = {**op._fixed, **{n: p for n, p in op._params.items() if n not in names}}
    params = {n: op._params[n] for n in names}
    per_sample = sum(p.numel() for p in params.values()) * params[names[0]].element_size()

    def one(xi: Tensor, lam_i: Tensor, u_i: Tensor) -> dict[str, Tensor]:
        def out_one(p: dict[str, Tensor]) -> Tensor:
            return functional_call(op.model, {**fixed, **p}, (xi.unsqueeze(0),)).squeeze(0)

        _, pull = vjp(out_one, params)
        g = vmap(pull)(u_i)[0]  # {name: [k, *shape]}
        return {n: torch.tensordot(lam_i, t * t, dims=1) for n, t in g.items()}

    # the gradients, their squares and the weighted sum: about three copies per sample
    step = max(1, block_bytes // max(1, 3 * per_sample * u.shape[1]))
    with torch.no_grad():
        for s in range(0, x.shape[0], step):
            part = vmap(one)(x[s : s + step], lam[s : s + step], u[s : s + step])
            for n in names:
                diag[n].add_(part[n].sum(0))


def exact_trace(op: HessianOperator, diagonal: Mapping[str, Tensor] | None = None) -> float:
    """``tr(M_m)`` of ``op``'s curvature matrix ``M`` on its kept coordinates, exactly
    (:func:`curvature_diagonal` summed over the kept entries).

    ``diagonal``: the same curvature's diagonal, already computed on the same model and
    data over at least ``op``'s parameters (e.g. the whole network's, for one layer's
    block: a principal block's diagonal is those entries of the whole diagonal); summed
    instead of computed again.
    """
    if diagonal is None:
        diagonal = curvature_diagonal(op)
    missing = [n for n in op.coords.names if n not in diagonal]
    if missing:
        raise LandscapeError(
            f"the given diagonal has no entries for {missing[:3]}: pass the diagonal of a "
            "network that includes every parameter of this operator (e.g. Spectrum.diagonal)"
        )
    value = float(op.from_state(diagonal).double().sum())
    if not math.isfinite(value):
        raise LandscapeError("the exact trace is not finite: check the weights for NaN/inf")
    return value
