"""Many Hessian-vector products per pass, and Lanczos runs in lockstep (docs/science.md).

Stochastic Lanczos quadrature runs one Lanczos process per probe, and the flatness
bound's exact path needs one product per column of ``H``: both are many independent
products. :func:`hvp_block` computes ``H_m v_i`` for a block of vectors in one batched
pass (``torch.func.vmap`` over the forward-over-reverse product, or one batched backward
through the cached gradient graph, ``is_grads_batched``), so the forward pass and the
first backward, which do not depend on ``v``, are paid once per block instead of once
per vector, and the per-vector work runs as larger matrix products.
:func:`lanczos_lockstep` runs the Lanczos processes of several start vectors side by side
so that each step needs one block product; each process is exactly
:func:`~landscape.analysis.hessian.lanczos.lanczos` with ``restart=False`` (the
quadrature's use), the same numbers to float rounding.

Block size (:func:`block_size`): on a CPU one product per pass, as before batching. There
the product is compute-bound — a batched pass does the same arithmetic per vector, only
the forward pass and first backward are shared — and on the 2-core CPU batching measured
no faster for the MNIST-1D MLP (CPU time per product: 34 ms one at a time against 40–50 ms
in blocks of 16, ``bench/bench_bound.py``, ``bench/RESULTS.md``) and 2× slower for
ResNet-20 (docs/performance.md). On a GPU, where one small product leaves the device
mostly idle, blocks of up to 64 vectors run as long as a quarter of the free memory holds
them (not yet measured: no GPU was lent). ``HessianOperator(..., block_size=B)`` sets it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.func import jvp, vmap

from landscape.analysis.hessian.lanczos import LanczosRun

if TYPE_CHECKING:
    from landscape.analysis.hessian.hvp import HessianOperator

__all__ = ["block_size", "hvp_block", "lanczos_lockstep"]

_MAX_CUDA_BLOCK = 64


def block_size(op: HessianOperator) -> int:
    """Vectors per batched pass for ``op`` (1: one product at a time; module docstring).

    ``op.block`` when set; else 1 on a CPU, and on a GPU as many as fit a quarter of the
    free memory (at most 64), counting one vector's share as the size of the tensors one
    product saves for its backward: the cached graph's measured size when ``op`` chose it,
    else a measurement of one chunk's gradient graph scaled to all chunks.
    """
    if getattr(op, "curvature", "hessian") != "hessian":  # any operator with .block may ask
        return 1  # the GGN and the empirical Fisher multiply one vector at a time (jvp/vjp)
    if op.block is not None:
        return op.block
    if op.device.type != "cuda":
        op.block = 1
        return 1
    from landscape.devices import available_memory

    per_vector = int(op.choice.get("graph_bytes", 0)) or _measure_graph(op)
    free = available_memory(op.device) // 4
    op.block = max(1, min(_MAX_CUDA_BLOCK, free // max(1, per_vector)))
    return op.block


def _measure_graph(op: HessianOperator) -> int:
    """Bytes autograd saves for the gradient of the largest chunk, scaled to all samples."""
    from landscape.analysis.hessian.hvp import _eval_mode, _grad, _SavedBytes

    x, y = max(op.chunks, key=lambda c: int(c[0].shape[0]))
    counter = _SavedBytes()
    p = op._leaves()
    with _eval_mode(op.model), torch.enable_grad(), counter.hooks():
        _grad(op._loss(p, x, y), list(p.values()), create_graph=True)
    return int(counter.bytes * op.num_samples / max(1, int(x.shape[0])))


def _states(op: HessianOperator, vecs: Tensor) -> list[Tensor]:
    """Full-shaped ``[b, *shape]`` tensors of a block of flat vectors ``[b, dim]``."""
    out, i, b = [], 0, vecs.shape[0]
    for shape, kept, size in zip(op.coords.shapes, op.coords.kept, op.coords.sizes):
        seg = vecs[:, i : i + size]
        i += size
        if kept is None:
            out.append(seg.reshape(b, *shape))
        else:
            full = vecs.new_zeros(b, torch.Size(shape).numel())
            full[:, kept] = seg
            out.append(full.view(b, *shape))
    return out


def _flat(op: HessianOperator, parts: list[Tensor]) -> Tensor:
    """The kept coordinates of ``[b, *shape]`` tensors as ``[b, dim]``."""
    segs = []
    for t, kept in zip(parts, op.coords.kept):
        flat = t.reshape(t.shape[0], -1)
        segs.append(flat if kept is None else flat[:, kept])
    return torch.cat(segs, 1)


def _batched_grad(outs: list[Tensor], leaves: list[Tensor], cotangents: list[Tensor], retain: bool):
    """``Σ_i outs_i · cotangent_i`` differentiated for each row of the cotangents."""
    if not all(o.requires_grad for o in outs):  # a loss linear in the parameters: H = 0
        return [torch.zeros((c.shape[0], *leaf.shape), dtype=c.dtype, device=c.device)
                for c, leaf in zip(cotangents, leaves)]  # fmt: skip
    return list(torch.autograd.grad(outs, leaves, grad_outputs=cotangents, retain_graph=retain,
                                    is_grads_batched=True, allow_unused=True,
                                    materialize_grads=True))  # fmt: skip


def _cached(op: HessianOperator, parts: list[Tensor]) -> list[Tensor]:
    if op._graph is None:
        op._graph = op._build_graph()
    leaves, g = op._graph
    with torch.enable_grad():
        return _batched_grad(g, leaves, parts, retain=True)


def _double_backward(op: HessianOperator, parts: list[Tensor], x: Tensor, y: Tensor):
    from landscape.analysis.hessian.hvp import _grad

    p = op._leaves()
    leaves = list(p.values())
    with torch.enable_grad():
        g = _grad(op._loss(p, x, y), leaves, create_graph=True)
        return _batched_grad(g, leaves, parts, retain=False)


def _forward_over_reverse(op: HessianOperator, parts: list[Tensor], x: Tensor, y: Tensor):
    names = list(op._params)
    grad_fn = torch.func.grad(lambda p: op._loss(p, x, y))

    def one(*tangent: Tensor) -> list[Tensor]:
        _, hv = jvp(grad_fn, (dict(op._params),), (dict(zip(names, tangent)),))
        return [hv[n] for n in names]

    return list(vmap(one)(*parts))


def hvp_block(op: HessianOperator, vecs: Tensor) -> Tensor:
    """``H_m v`` for every row of ``vecs`` (``[b, op.dim]``), ``[b, op.dim]``, in batched
    passes of :func:`block_size` vectors with ``op``'s product method; the same numbers as
    ``b`` calls of ``op`` to float rounding. Counts ``b`` products."""
    from landscape.analysis.hessian.hvp import _eval_mode

    if vecs.dim() != 2 or vecs.shape[1] != op.dim:
        raise ValueError(f"expected vectors as rows [b, {op.dim}], got {tuple(vecs.shape)}")
    if op.method == "auto":
        op.choose()
    vecs = vecs.to(op.device, op.dtype)
    block = block_size(op)
    if block == 1:
        return torch.stack([op.matvec(v) for v in vecs]) if len(vecs) else vecs.clone()
    rows = []
    for start in range(0, vecs.shape[0], block):
        parts = _states(op, vecs[start : start + block])
        with _eval_mode(op.model):
            if op.method == "cached":
                out = _cached(op, parts)
            else:
                fn = _double_backward if op.method == "double-backward" else _forward_over_reverse
                out = [torch.zeros_like(v) for v in parts]
                for x, y in op.chunks:
                    for t, h in zip(out, fn(op, parts, x, y)):
                        t.add_(h)
        rows.append(_flat(op, out))
        n = parts[0].shape[0]
        op.count += n
        if op.on_product is not None:
            for _ in range(n):
                op.on_product()
    return torch.cat(rows)


def lanczos_lockstep(
    matmat: Callable[[Tensor], Tensor], starts: Tensor, steps: int, *, check_every: int = 1
) -> list[LanczosRun]:
    """:func:`~landscape.analysis.hessian.lanczos.lanczos` from each row of ``starts``
    (``restart=False``, ``keep_basis=False``: the quadrature's use), all runs advancing
    together so that each step is one block product ``matmat`` (``[b, n] → [b, n]``).

    With ``check_every`` (CPU) a run that breaks down stops there, as a lone run does, and
    leaves the block; without (GPU), every run takes every step and roundoff-sized ``β``
    become 0 at the end, so nothing is read back inside the loop.
    """
    k, n = starts.shape
    steps = min(steps, n)
    if steps < 1:
        raise ValueError(f"Lanczos needs at least one step, got {steps}")
    dev, dt = starts.device, starts.dtype
    eps = (1000 if dt == torch.float64 else 100) * torch.finfo(dt).eps  # as lanczos()
    basis = torch.zeros(k, steps, n, device=dev, dtype=dt)
    alpha = torch.zeros(k, steps, device=dev, dtype=dt)
    beta = torch.zeros(k, steps, device=dev, dtype=dt)
    q = starts / starts.norm(dim=1, keepdim=True)
    scale = torch.zeros(k, device=dev, dtype=dt)
    length = [steps] * k
    active = torch.arange(k, device=dev)
    for j in range(steps):
        basis[active, j] = q
        w = matmat(q)
        a = (q * w).sum(1)
        alpha[active, j] = a
        qj = basis[active, : j + 1]  # [b, j+1, n]
        w = w - torch.bmm(qj.transpose(1, 2), torch.bmm(qj, w[:, :, None]))[:, :, 0]
        w = w - torch.bmm(qj.transpose(1, 2), torch.bmm(qj, w[:, :, None]))[:, :, 0]
        b = w.norm(dim=1)
        beta[active, j] = b
        s = torch.maximum(scale[active], torch.maximum(a.abs(), b))
        scale[active] = s
        ok = b > eps * s
        q = w * torch.where(ok, 1 / torch.where(ok, b, 1), 0)[:, None]
        if check_every and j + 1 < steps:
            broken = (~ok).cpu()
            if bool(broken.any()):  # those runs stop here, their last β recorded as 0
                for i in active[broken.to(dev)].tolist():
                    length[i] = j + 1
                    beta[i, j] = 0
                keep = ~broken.to(dev)
                active, q = active[keep], q[keep]
                if active.numel() == 0:
                    break
    if check_every:
        last = beta[:, steps - 1]
        beta[:, steps - 1] = torch.where(last <= eps * scale, 0, last)
    else:
        beta[beta <= eps * scale[:, None]] = 0
    runs = []
    for i in range(k):
        m = length[i]
        a = alpha[i, :m].double().cpu().numpy()
        b = beta[i, :m].double().cpu().numpy()
        runs.append(LanczosRun(a, b[: m - 1], float(b[m - 1]), None, m, 0))
    return runs
