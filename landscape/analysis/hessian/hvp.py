"""Hessian-vector products of the training loss over a whole, fixed data set (docs/science.md).

(Longer than our ~400-line guide on purpose: the three product methods, the
measured ``auto`` choice between them and the memory accounting of the cached graph
must agree to the last digit, so they live in one class; ``tests/test_hessian.py``.)

:class:`HessianOperator` is the linear map ``v ↦ H_m v`` where ``H`` is the Hessian
of the *mean* loss over every sample of the analysis set (computed in chunks, so
the result is exact, not a mini-batch estimate), restricted to a chosen subset of
the parameters and, with a mask, to the kept coordinates: ``H_m v = m ⊙ H (m ⊙ v)``.
Vectors live in the kept subspace itself (length = number of kept coordinates), so
the spectrum is exactly that of the kept submatrix, without the spurious zero
eigenvalues of the pruned coordinates.

The evaluation is deterministic: BatchNorm runs in eval mode (running statistics),
there is no augmentation, the data are whatever fixed tensors the caller passed.
The module is never modified: parameters are substituted with
``torch.func.functional_call`` (docs/architecture.md, ``functional``).

Three ways to compute the product give the same numbers (to roundoff):

- ``"cached"``: build the gradient graph of the whole loss once
  (``create_graph=True``), then each product is one more backward through it. It
  skips the forward and first backward of every product (measured on a 2-core CPU: 1.3× faster on
  ResNet-20, 3.2–4.8× on the MNIST-1D MLP) but holds every chunk's graph in memory.
- ``"double-backward"``: per chunk, forward, gradient with ``create_graph=True``,
  then the backward of ``gᵀv`` (Pearlmutter's trick, as PyHessian does).
- ``"forward-over-reverse"``: ``torch.func.jvp`` of ``torch.func.grad`` per chunk.

``method="auto"`` measures instead of guessing: it takes ``"cached"`` when the
graph's measured size fits the memory budget, and otherwise times one chunk of
each of the other two and keeps the faster (see :meth:`HessianOperator.choose`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from landscape.analysis.hessian.gauss_newton import CURVATURES, fisher_product, ggn_product
from landscape.devices import available_memory
from landscape.errors import DataError, LandscapeError
from landscape.functional import as_batches, is_tensor_pair
from landscape.specs import HVP_METHODS as METHODS

if TYPE_CHECKING:
    from landscape.analysis.hessian.linop import HessianLinearOperator

__all__ = [
    "METHODS",
    "HessianOperator",
    "LossFn",
    "default_chunk_size",
    "param_groups",
]

LossFn = Callable[[Tensor, Tensor], Tensor]

# Chunk sizes in input elements. On CPU, glibc returns large activations to the OS
# and page-faults them back on every pass; chunks of ~128 CIFAR images (~0.4 M input
# elements) avoided that and were 3.4× faster than 1024 at once (measurements on a 2-core CPU). The
# MLP on 4096 MNIST-1D samples (0.16 M elements) is fastest as one chunk. A GPU wants
# large chunks to fill the device.
_CHUNK_ELEMENTS = {"cpu": 2**19, "cuda": 2**24}


def default_chunk_size(sample_numel: int, device: torch.device) -> int:
    """The chunk size used when none is given: a power of two of samples per pass.

    Args:
        sample_numel: elements of one input sample (e.g. 3·32·32).
        device: where the products run.

    Returns:
        ``2^⌊log2(budget / sample_numel)⌋`` samples, at least 1, with a budget of
        2^19 input elements on CPU and 2^24 on CUDA (measured in ``bench/``).
    """
    budget = _CHUNK_ELEMENTS.get(device.type, _CHUNK_ELEMENTS["cpu"])
    n = max(1, budget // max(1, sample_numel))
    return 1 << (n.bit_length() - 1)


def param_groups(model: nn.Module, by: str = "layer") -> dict[str, list[str]]:
    """Trainable parameter names grouped per layer or per block, in module order.

    Args:
        model: the network.
        by: ``"layer"`` — one group per module that owns parameters directly (a
            ``Linear``, ``Conv2d`` or ``BatchNorm`` with its weight and bias);
            ``"block"`` — one group per top-level child module (e.g. a ResNet
            stage), with parameters owned by the root module in a group ``""``.

    Returns:
        ``{group name: [parameter names]}``.
    """
    if by not in ("layer", "block"):
        raise ValueError(f"cannot group parameters by {by!r}: use 'layer' or 'block'")
    groups: dict[str, list[str]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        owner = name.rpartition(".")[0]
        key = owner if by == "layer" else owner.partition(".")[0]
        groups.setdefault(key, []).append(name)
    return groups


@dataclass
class _Coords:
    """Where the selected parameters sit in the operator's flat vector."""

    names: list[str]
    shapes: list[torch.Size]
    kept: list[Tensor | None]  # flat indices of kept entries, None: all kept
    sizes: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.sizes = [
            int(k.numel()) if k is not None else int(torch.Size(s).numel())
            for k, s in zip(self.kept, self.shapes)
        ]


class _SavedBytes:
    """Counts the bytes autograd saves for backward (each storage once)."""

    def __init__(self) -> None:
        self.bytes = 0
        self._seen: set[int] = set()

    def pack(self, t: Tensor) -> Tensor:
        try:
            storage = t.untyped_storage()
            key = storage.data_ptr()
            if key not in self._seen:
                self._seen.add(key)
                self.bytes += storage.nbytes()
        except (RuntimeError, NotImplementedError):  # e.g. tensor subclasses without storage
            self.bytes += t.numel() * t.element_size()
        return t

    def hooks(self) -> contextlib.AbstractContextManager:
        return torch.autograd.graph.saved_tensors_hooks(self.pack, lambda t: t)


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode for the duration (BatchNorm uses running statistics), flags restored after."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in flags:
            m.training = training


def _sample_numel(x: Tensor) -> int:
    return x[0].numel() if x.shape[0] else 1


def _merge(
    batches: list[tuple[Tensor, Tensor]], cap: int | None, device: torch.device
) -> list[tuple[Tensor, Tensor]]:
    """Consecutive batches concatenated while their trailing shapes, dtypes and devices
    agree and the chunk stays within ``cap`` samples (default: :func:`default_chunk_size`
    for the batch's samples on ``device``, where the products run). A batch larger than
    the cap is kept whole; batches of no samples are dropped (their mean loss would be
    NaN)."""

    def key(x: Tensor, y: Tensor) -> tuple:
        return (x.shape[1:], x.dtype, x.device, y.shape[1:], y.dtype, y.device)

    out: list[tuple[Tensor, Tensor]] = []
    group: list[tuple[Tensor, Tensor]] = []
    size = 0
    limit = 0
    for x, y in batches:
        n = int(x.shape[0])
        if n == 0:
            continue
        if not isinstance(y, Tensor):
            raise DataError(
                f"the data's targets must be tensors, got {type(y).__name__}; yield "
                "(inputs, targets) pairs of tensors"
            )
        if group and (key(x, y) != key(*group[0]) or size + n > limit):
            out.append(_cat(group))
            group, size = [], 0
        if not group:  # one shape per group, so one cap
            limit = cap or default_chunk_size(_sample_numel(x), device)
        group.append((x, y))
        size += n
    if group:
        out.append(_cat(group))
    return out


def _cat(group: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    if len(group) == 1:
        return group[0]
    return torch.cat([x for x, _ in group]), torch.cat([y for _, y in group])


class HessianOperator:
    """``v ↦ H_m v`` for the mean training loss over fixed data (docs/science.md).

    Args:
        model: the network at the point of interest; it is not modified (its
            parameters are substituted functionally, BatchNorm runs in eval mode).
        data: ``(inputs, targets)``, or an iterable of such pairs (kept in memory
            and moved to the model's device). A single pair is split into chunks
            of ``chunk_size``; consecutive given pairs of one shape are merged into
            chunks of up to ``chunk_size`` (:meth:`_chunks`).
        loss_fn: ``loss_fn(outputs, targets)`` returning the **mean** loss over the
            chunk (default cross-entropy). Chunk losses are weighted by their share
            of the samples, so the operator is the Hessian of the mean over all data.
        params: names of the parameters to differentiate (default: every parameter
            with ``requires_grad``); the others are held fixed.
        mask: ``{name: bool tensor}``; ``True`` keeps a coordinate. Names outside
            ``params`` are ignored; the operator acts on the kept coordinates only.
        chunk_size: samples per pass (default :func:`default_chunk_size`); for an
            iterable, the most samples its batches are merged into (a larger batch is
            kept whole).
        method: ``"auto"``, ``"cached"``, ``"double-backward"`` or
            ``"forward-over-reverse"`` (module docstring).
        memory_budget: bytes the cached graph may take (``"auto"``); default 40% of
            the device's free memory.
        on_product: called after every product (e.g. a progress bar's ``update``).
        curvature: ``"hessian"`` (default), ``"ggn"`` (generalised Gauss-Newton) or
            ``"fisher"`` (empirical Fisher): which curvature matrix ``v`` is multiplied
            by (:mod:`~landscape.analysis.hessian.gauss_newton`); the last two ignore
            ``method`` and report ``"jvp-vjp"``.
        block_size: vectors per batched pass of :meth:`matmat` (default: chosen by
            :func:`~landscape.analysis.hessian.batched.block_size`; 1: one at a time).

    The constructor only checks arguments and splits the data; graphs are built
    on the first product. The operator shares the model's parameter storage: after
    changing the weights in place, call :meth:`release` (a cached graph is stale). ``op.count`` counts products, ``op.dim`` is the length
    of the vectors, ``op.to_state(v)`` turns a vector into full-shaped tensors.

    Example:
        >>> model = torch.nn.Linear(3, 2).double()
        >>> x, y = torch.randn(8, 3, dtype=torch.float64), torch.randint(0, 2, (8,))
        >>> op = HessianOperator(model, (x, y))
        >>> op.dim, op(torch.ones(op.dim, dtype=torch.float64)).shape
        (8, torch.Size([8]))
    """

    def __init__(
        self,
        model: nn.Module,
        data: tuple[Tensor, Tensor] | Iterable[tuple[Tensor, Tensor]],
        *,
        loss_fn: LossFn | None = None,
        params: Sequence[str] | None = None,
        mask: Mapping[str, Tensor] | None = None,
        chunk_size: int | None = None,
        method: str = "auto",
        memory_budget: int | None = None,
        on_product: Callable[[], object] | None = None,
        curvature: str = "hessian",
        block_size: int | None = None,
    ) -> None:
        if curvature not in CURVATURES:
            raise ValueError(f"unknown curvature {curvature!r}: use one of {', '.join(CURVATURES)}")
        if method not in METHODS:
            raise ValueError(f"unknown HVP method {method!r}: use one of {', '.join(METHODS)}")
        if chunk_size is not None and chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        self.model = model
        self.loss_fn: LossFn = loss_fn or F.cross_entropy
        named = dict(model.named_parameters())
        if not named:
            raise LandscapeError("the model has no parameters, so it has no Hessian")
        if params is None:
            params = [n for n, p in named.items() if p.requires_grad]
        unknown = [n for n in params if n not in named]
        if unknown:
            raise LandscapeError(
                f"no parameters named {unknown[:5]} in the model; valid names start with "
                f"{list(named)[:5]} (see model.named_parameters())"
            )
        if not params:
            raise LandscapeError("no parameters selected: pass at least one parameter name")
        first = named[params[0]]
        self.device, self.dtype = first.device, first.dtype
        mixed = sorted({f"{named[n].dtype} on {named[n].device}" for n in params})
        if len(mixed) > 1:
            raise LandscapeError(
                f"the selected parameters mix {mixed}; put the model on one device and dtype "
                "first (e.g. model.to(device, torch.float32))"
            )
        self._params = {n: named[n].detach() for n in params}
        self._fixed = {
            **{n: p.detach() for n, p in named.items() if n not in self._params},
            **{n: b for n, b in model.named_buffers()},
        }
        self.coords = self._coords(list(params), mask)
        self.dim = sum(self.coords.sizes)
        if self.dim == 0:
            raise LandscapeError("the mask keeps no coordinate of the selected parameters")
        self.num_params = sum(p.numel() for p in self._params.values())
        self.chunks = self._chunks(data, chunk_size)
        self.num_samples = sum(int(x.shape[0]) for x, _ in self.chunks)
        self.curvature = curvature
        # The GGN and the empirical Fisher have one product path (jvp, then vjp; see
        # gauss_newton.py): the Hessian's methods do not apply to them.
        self.method = method if curvature == "hessian" else "jvp-vjp"
        self.memory_budget = memory_budget
        self.choice: dict[str, object] = {}
        self.count = 0
        self.on_product = on_product
        if block_size is not None and block_size < 1:
            raise ValueError(f"block_size must be positive, got {block_size}")
        self.block = block_size
        self._graph: tuple[list[Tensor], list[Tensor]] | None = None

    # ---------------------------------------------------------------- set-up
    def _coords(self, names: list[str], mask: Mapping[str, Tensor] | None) -> _Coords:
        kept: list[Tensor | None] = []
        for n in names:
            m = None if mask is None else mask.get(n)
            if m is None:
                kept.append(None)
                continue
            if m.shape != self._params[n].shape:
                raise LandscapeError(
                    f"mask {n} has shape {tuple(m.shape)} but the weight has "
                    f"{tuple(self._params[n].shape)}; use the mask saved with these weights"
                )
            kept.append(m.reshape(-1).to(self.device).bool().nonzero().squeeze(1))
        return _Coords(names, [self._params[n].shape for n in names], kept)

    def _chunks(self, data, chunk_size: int | None) -> list[tuple[Tensor, Tensor]]:
        """The data as device chunks of ``chunk_size`` samples (default:
        :func:`default_chunk_size` on the operator's device).

        A tensor pair is split. The batches of an iterable (e.g. a ``DataLoader``) are
        merged, consecutive ones of the same trailing shapes, dtypes and devices, into
        chunks of at most that size (a larger batch is kept whole; ``chunk_size`` also
        bounds the memory of a pass). Merging changes the products only by float rounding,
        given what the operator assumes anyway: a loss that is a per-sample mean (weighted
        by chunk size in :meth:`_loss`) of a network that treats samples independently —
        not, e.g., BatchNorm without running statistics, which normalises by the chunk.
        It changes the cost: a pass has a fixed overhead, and one pass per batch of 125
        MNIST-1D samples made a top-5 take 1.78× as long as merged chunks
        (bench/RESULTS.md, "The same DataLoader for everyone").
        """
        if is_tensor_pair(data):
            size = chunk_size or default_chunk_size(_sample_numel(data[0]), self.device)
            pairs = as_batches(data, size)
        else:
            # as_batches lists an iterable's pairs as given (its size applies to a pair only)
            pairs = _merge(as_batches(data, 1), chunk_size, self.device)
        chunks = []
        for x, y in pairs:
            x = x.to(self.device)
            if x.is_floating_point():
                x = x.to(self.dtype)
            chunks.append((x, y.to(self.device)))
        if sum(int(x.shape[0]) for x, _ in chunks) == 0:
            raise LandscapeError("no data: pass at least one sample (inputs, targets)")
        return chunks

    # ---------------------------------------------------------------- vectors
    def to_state(self, vec: Tensor) -> dict[str, Tensor]:
        """Full-shaped tensors for a flat vector (zeros at pruned coordinates)."""
        if vec.shape != (self.dim,):
            raise ValueError(
                f"expected a vector of length {self.dim}, got shape {tuple(vec.shape)}"
            )
        out, i = {}, 0
        for n, shape, kept, size in zip(
            self.coords.names, self.coords.shapes, self.coords.kept, self.coords.sizes
        ):
            seg = vec[i : i + size]
            i += size
            if kept is None:
                out[n] = seg.view(shape)
            else:
                full = vec.new_zeros(torch.Size(shape).numel())
                full[kept] = seg
                out[n] = full.view(shape)
        return out

    def from_state(self, parts: Sequence[Tensor] | Mapping[str, Tensor]) -> Tensor:
        """The flat vector of the kept coordinates of full-shaped tensors."""
        if isinstance(parts, Mapping):
            parts = [parts[n] for n in self.coords.names]
        segs = []
        for t, kept in zip(parts, self.coords.kept):
            flat = t.reshape(-1)
            segs.append(flat if kept is None else flat[kept])
        return torch.cat(segs)

    def parameters_vector(self) -> Tensor:
        """The current values of the selected, kept coordinates (the point ``w``)."""
        return self.from_state(self._params)

    def to_scipy(self) -> HessianLinearOperator:
        """This operator as a ``scipy.sparse.linalg.LinearOperator`` (for ``eigsh``, ``cg``...).

        Returns:
            A ``LinearOperator`` of shape ``(dim, dim)`` and dtype ``float64`` or
            ``float32`` as this operator's; ``matvec``/``matmat`` convert NumPy to
            tensors on :attr:`device` and back, ``rmatvec`` is ``matvec`` (symmetric).
            See :func:`~landscape.analysis.hessian.linop.as_linear_operator`.

        Example:
            >>> from scipy.sparse.linalg import eigsh
            >>> model = torch.nn.Linear(3, 2).double()
            >>> x, y = torch.randn(8, 3, dtype=torch.float64), torch.randint(0, 2, (8,))
            >>> A = HessianOperator(model, (x, y)).to_scipy()
            >>> A.shape
            (8, 8)
            >>> top = eigsh(A, k=2, which="LA", return_eigenvectors=False)
        """
        from landscape.analysis.hessian.linop import as_linear_operator

        return as_linear_operator(self)

    # ---------------------------------------------------------------- products
    def __call__(self, vec: Tensor) -> Tensor:
        return self.matvec(vec)

    def matvec(self, vec: Tensor) -> Tensor:
        """``H_m v`` for a flat vector ``v`` of length :attr:`dim` (same device and dtype)."""
        if self.method == "auto":
            self.choose()
        parts = list(self.to_state(vec.to(self.device, self.dtype)).values())
        with _eval_mode(self.model):
            if self.curvature != "hessian":
                out = self._sum_chunks(parts, self._gauss_newton)
            elif self.method == "cached":
                out = self._cached(parts)
            elif self.method == "double-backward":
                out = self._sum_chunks(parts, self._double_backward)
            else:
                out = self._sum_chunks(parts, self._forward_over_reverse)
        self.count += 1
        if self.on_product is not None:
            self.on_product()
        return self.from_state(out)

    def matmat(self, vecs: Tensor) -> Tensor:
        """``H_m v`` for every row of ``vecs`` (``[b, dim]``) in batched passes, the same
        numbers as ``b`` calls of :meth:`matvec` to float rounding
        (:func:`~landscape.analysis.hessian.batched.hvp_block`)."""
        from landscape.analysis.hessian.batched import hvp_block

        return hvp_block(self, vecs)

    def _loss(self, p: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        out = functional_call(self.model, {**self._fixed, **p}, (x,))
        return self.loss_fn(out, y) * (x.shape[0] / self.num_samples)

    def _leaves(self) -> dict[str, Tensor]:
        return {n: p.detach().requires_grad_(True) for n, p in self._params.items()}

    def _sum_chunks(self, parts: list[Tensor], fn) -> list[Tensor]:
        total = [torch.zeros_like(v) for v in parts]
        for x, y in self.chunks:
            for t, h in zip(total, fn(parts, x, y)):
                t.add_(h)
        return total

    def _double_backward(self, parts: list[Tensor], x: Tensor, y: Tensor) -> list[Tensor]:
        p = self._leaves()
        leaves = list(p.values())
        with torch.enable_grad():
            g = _grad(self._loss(p, x, y), leaves, create_graph=True)
            return _grad(_dot(g, parts), leaves)

    def _forward_over_reverse(self, parts: list[Tensor], x: Tensor, y: Tensor) -> list[Tensor]:
        names = list(self._params)
        grad_fn = torch.func.grad(lambda p: self._loss(p, x, y))
        _, hv = torch.func.jvp(grad_fn, (dict(self._params),), (dict(zip(names, parts)),))
        return [hv[n] for n in names]

    def _forward(self, p: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(self.model, {**self._fixed, **p}, (x,))

    def _gauss_newton(self, parts: list[Tensor], x: Tensor, y: Tensor) -> list[Tensor]:
        """The chunk's part of ``G v`` or ``F v`` (:mod:`.gauss_newton`)."""
        names = list(self._params)
        v = dict(zip(names, parts))
        if self.curvature == "ggn":
            out = ggn_product(self._forward, self.loss_fn, dict(self._params), v, x, y,
                              x.shape[0] / self.num_samples)  # fmt: skip
        else:
            out = fisher_product(self._forward, self.loss_fn, dict(self._params), v, x, y,
                                 self.num_samples)  # fmt: skip
        return [out[n] for n in names]

    def _build_graph(self, counter: _SavedBytes | None = None, limit: int | None = None):
        """Gradient of the whole loss with its graph kept (``create_graph=True``).

        With ``limit``, returns ``None`` as soon as the graph is predicted to exceed it:
        after each chunk, the bytes saved so far (autograd's saved tensors; on CUDA
        the allocator's growth, whichever is larger) are extrapolated to all samples.
        """
        p = self._leaves()
        leaves = list(p.values())
        total: list[Tensor] | None = None
        hooks = counter.hooks() if counter is not None else contextlib.nullcontext()
        cuda = self.device.type == "cuda"
        before = torch.cuda.memory_allocated(self.device) if cuda else 0
        seen = 0
        with _eval_mode(self.model), torch.enable_grad(), hooks:
            for x, y in self.chunks:
                g = _grad(self._loss(p, x, y), leaves, create_graph=True)
                total = list(g) if total is None else [a + b for a, b in zip(total, g)]
                seen += int(x.shape[0])
                if limit is None or counter is None:
                    continue
                if cuda:
                    grown = torch.cuda.memory_allocated(self.device) - before
                    counter.bytes = max(counter.bytes, grown)
                if counter.bytes * self.num_samples / seen > limit:
                    counter.bytes = int(counter.bytes * self.num_samples / seen)  # the estimate
                    return None
        return leaves, total

    def _cached(self, parts: list[Tensor]) -> list[Tensor]:
        if self._graph is None:
            self._graph = self._build_graph()
        leaves, g = self._graph
        with torch.enable_grad():
            return _grad(_dot(g, parts), leaves, retain_graph=True)

    def release(self) -> None:
        """Drop the cached gradient graph (its memory); the next product rebuilds it."""
        self._graph = None

    # ---------------------------------------------------------------- choice
    def choose(self) -> str:
        """Resolve ``method="auto"`` by measurement; returns the method now in use.

        1. Build the cached gradient graph while counting the bytes autograd saves;
           if it fits ``memory_budget`` (default 40% of free device memory), keep it:
           every product is then one backward pass (fastest where it fits, bench/).
           The size is extrapolated from the chunks built so far, so a graph that
           will not fit is abandoned after its first chunk.
        2. Otherwise time one product on the first chunk with double backward and
           with forward-over-reverse (after a small warm-up each) and keep the faster; a
           method that fails (an operation without forward-mode AD) is skipped.

        The measurements are kept in :attr:`choice`.
        """
        if self.method != "auto":
            return self.method
        budget = self.memory_budget
        if budget is None:
            budget = int(0.4 * available_memory(self.device))
        counter = _SavedBytes()
        graph = self._build_graph(counter, limit=budget)
        self.choice = {"graph_bytes": counter.bytes, "budget_bytes": budget}
        if graph is not None:
            self._graph = graph
            self.method = self.choice["method"] = "cached"
            return self.method
        x, y = self.chunks[0]
        probe = [torch.ones_like(p) for p in self._params.values()]
        timings: dict[str, float] = {}
        with _eval_mode(self.model):
            for name, fn in (
                ("double-backward", self._double_backward),
                ("forward-over-reverse", self._forward_over_reverse),
            ):
                try:
                    fn(probe, x[:8], y[:8])  # warm-up (first-call set-up) on a sliver
                    _sync(self.device)
                    t0 = time.perf_counter()
                    fn(probe, x, y)
                    _sync(self.device)
                    timings[name] = time.perf_counter() - t0
                except (RuntimeError, NotImplementedError) as exc:
                    self.choice[f"{name}_error"] = str(exc).splitlines()[0]
        if not timings:
            raise LandscapeError(
                "neither double backward nor forward-over-reverse works on this model: "
                f"{self.choice}; is the loss twice differentiable?"
            )
        self.choice["seconds_per_chunk"] = timings
        self.method = self.choice["method"] = min(timings, key=timings.__getitem__)
        return self.method


def _grad(
    out: Tensor, leaves: list[Tensor], *, create_graph: bool = False, retain_graph: bool = False
) -> list[Tensor]:
    """``torch.autograd.grad`` with zeros for leaves the output does not depend on."""
    if not out.requires_grad:  # e.g. a loss linear in every selected parameter: H = 0
        return [torch.zeros_like(t) for t in leaves]
    return list(
        torch.autograd.grad(
            out, leaves, create_graph=create_graph, retain_graph=retain_graph or create_graph,
            allow_unused=True, materialize_grads=True,
        )
    )  # fmt: skip


def _dot(g: list[Tensor], v: list[Tensor]) -> Tensor:
    """``gᵀv`` summed over tensors (its gradient is the Hessian-vector product)."""
    return sum(
        ((a * b).sum() for a, b in zip(g, v)), torch.zeros((), device=v[0].device, dtype=v[0].dtype)
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
