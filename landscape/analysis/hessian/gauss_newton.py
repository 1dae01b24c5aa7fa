"""Products with the generalised Gauss-Newton matrix and the empirical Fisher (docs/science.md).

Both are positive semi-definite stand-ins for the loss Hessian ``H`` that curvature
libraries offer (Martens 2020, "New insights and perspectives on the natural gradient
method", JMLR 21(146), §8–9; Kunstner, Balles & Hennig 2019, "Limitations of the
empirical Fisher approximation for natural gradient descent", NeurIPS, §3). For the mean
loss ``L(w) = (1/N) Σ_i ℓ(f(x_i; w), y_i)`` over a fixed data set:

- **GGN** ``G = (1/N) Σ_i J_iᵀ H_i J_i`` with ``J_i = ∂f(x_i; w)/∂w`` the Jacobian of the
  network's output and ``H_i = ∂²ℓ/∂f²`` the Hessian of the loss in the output. It drops
  the term of ``H`` that carries the output's own curvature (Martens 2020, §8.1). For
  the cross-entropy of a softmax it equals the true (model) Fisher (Martens 2020, §9.2).
- **Empirical Fisher** ``F = (1/N) Σ_i g_i g_iᵀ`` with ``g_i = ∇_w ℓ(f(x_i; w), y_i)``
  the per-sample gradient. It is not the Fisher: it uses the observed labels instead of
  the model's, and Kunstner et al. (2019, §3) show its preconditioning can be arbitrarily
  far from the Fisher's; it is measured here because the pruning literature uses it
  (e.g. Optimal Brain Surgeon's Fisher approximations).

Both products are exact (no sampling), built on ``torch.func``:

- ``G v``: ``J v`` by a forward-mode ``jvp`` of the output, ``H_i (J v)`` by a ``jvp``
  of the loss's gradient in the output, and ``Jᵀ(·)`` by a ``vjp``.
- ``F v = (1/N) Σ_i g_i (g_iᵀ v)``: with ``ℓ(w) ∈ R^n`` the vector of a chunk's
  per-sample losses, ``(g_iᵀ v)_i`` is its ``jvp`` along ``v`` and ``Σ_i c_i g_i`` its
  ``vjp`` with cotangent ``c``. This is the per-sample-gradient product without holding
  the ``n × P`` matrix of per-sample gradients (the per-sample losses come from
  ``torch.vmap`` of the mean loss over single samples, so any mean loss works).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from landscape.specs import CURVATURES

__all__ = ["CURVATURES", "fisher_product", "ggn_product"]

Params = dict[str, Tensor]
Forward = Callable[[Params, Tensor], Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]


def ggn_product(
    forward: Forward, loss_fn: LossFn, params: Params, v: Params, x: Tensor, y: Tensor,
    weight: float,
) -> Params:  # fmt: skip
    """``weight · Σ_{i in chunk} J_iᵀ H_i J_i v`` for one chunk, with ``weight · loss_fn``
    the chunk's share of the mean loss (``loss_fn`` a mean over the chunk).

    Args:
        forward: ``forward(params, x)``, the network's output.
        loss_fn: ``loss_fn(outputs, targets)``, the mean loss over the chunk.
        params, v: the point and the direction, as ``{name: tensor}``.
        x, y: the chunk.
        weight: the chunk's share of the samples (``n / N``).

    Returns:
        ``{name: tensor}``, the chunk's part of ``G v``.
    """

    def out_fn(p: Params) -> Tensor:
        return forward(p, x)

    out, jv = torch.func.jvp(out_fn, (params,), (v,))
    out = out.detach()

    def loss_of_out(o: Tensor) -> Tensor:
        return loss_fn(o, y) * weight

    _, hjv = torch.func.jvp(torch.func.grad(loss_of_out), (out,), (jv,))
    _, pull = torch.func.vjp(out_fn, params)
    return pull(hjv)[0]


def fisher_product(
    forward: Forward, loss_fn: LossFn, params: Params, v: Params, x: Tensor, y: Tensor,
    num_samples: int,
) -> Params:  # fmt: skip
    """``(1/N) Σ_{i in chunk} g_i g_iᵀ v`` for one chunk (``N = num_samples`` in all).

    Returns:
        ``{name: tensor}``, the chunk's part of ``F v``.
    """

    def single(o: Tensor, t: Tensor) -> Tensor:
        return loss_fn(o.unsqueeze(0), t.unsqueeze(0))

    def losses(p: Params) -> Tensor:
        return torch.vmap(single)(forward(p, x), y)

    _, gv = torch.func.jvp(losses, (params,), (v,))
    _, pull = torch.func.vjp(losses, params)
    return pull(gv / num_samples)[0]
