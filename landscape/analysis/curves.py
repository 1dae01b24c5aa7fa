"""Low-loss curves between two networks: Bezier curves and polygonal chains whose bend
points are trained (Garipov et al. 2018, "Loss Surfaces, Mode Connectivity, and Fast
Ensembling of DNNs", §3; Draxler et al. 2018, "Essentially No Barriers in Neural Network
Energy Landscape").

A curve ``φ_θ(t)``, ``t ∈ [0, 1]``, joins the fixed ends ``w_a = φ(0)`` and ``w_b = φ(1)``
through ``n`` trainable bend points ``θ_1 … θ_n``. Every point of it is a linear
combination of the ``n + 2`` *basis* states ``(w_a, θ_1, …, θ_n, w_b)`` with coefficients
that depend on ``t`` alone (:func:`curve_coefficients`):

- ``bezier`` (Garipov §3.2): the Bernstein polynomials of degree ``n + 1``,
  ``c_j(t) = C(n+1, j) t^j (1 − t)^{n+1−j}``;
- ``polychain`` (Garipov §3.2): a polygonal chain through ``w_a, θ_1, …, θ_n, w_b`` at
  ``t = 0, 1/(n+1), …, 1``, i.e. piecewise-linear "hat" coefficients.

So the evaluation engine (:class:`~landscape.analysis.engine.Points`) evaluates a curve
exactly like a straight path, and the training step is a function of ``t`` and the bends
(:func:`curve_point`, :func:`curve_step`) with ``torch.func.functional_call``. Training
minimises ``E_{t∼U[0,1]} ℓ(φ_θ(t))`` (Garipov eq. 3) by SGD with one ``t`` drawn uniformly
per mini-batch.

Sparse ends: a bend lives in a coordinate subspace (:func:`bend_mask`): ``union`` of the
ends' masks (the smallest subspace holding both ends, so every point of the curve is in it)
or their ``intersection`` (the bends move only weights both ends keep).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from landscape.specs import CURVE_KINDS, MASK_POLICIES

__all__ = [
    "CURVE_KINDS",
    "MASK_POLICIES",
    "bend_mask",
    "curve_coefficients",
    "curve_lr",
    "curve_point",
    "curve_step",
    "initial_bends",
    "line_coefficients",
]

State = Mapping[str, Tensor]


def _check(kind: str, bends: int) -> None:
    if kind not in CURVE_KINDS:
        raise ValueError(f"unknown curve kind {kind!r}: use one of {', '.join(CURVE_KINDS)}")
    if bends < 1:
        raise ValueError(f"a curve needs at least one bend point, got {bends}")


def curve_coefficients(kind: str, bends: int, ts: Sequence[float] | np.ndarray) -> np.ndarray:
    """The ``[P, bends + 2]`` coefficients of ``(w_a, θ_1, …, θ_n, w_b)`` at each ``t``.

    Rows sum to 1; at ``t = 0`` the row is exactly ``(1, 0, …, 0)`` and at ``t = 1``
    exactly ``(0, …, 0, 1)``, so the curve's ends are the networks themselves, bit for bit
    (the engine combines in float64 and a row selecting one state reproduces it).
    """
    _check(kind, bends)
    t = np.asarray(ts, dtype=np.float64).reshape(-1)
    if np.any((t < 0) | (t > 1)):
        raise ValueError("curve parameters t must lie in [0, 1]")
    degree = bends + 1
    if kind == "bezier":
        j = np.arange(degree + 1)
        binom = np.array([math.comb(degree, int(k)) for k in j], dtype=np.float64)
        return binom * t[:, None] ** j * (1.0 - t[:, None]) ** (degree - j)
    # polychain: node j sits at t = j / degree; hat functions, exact at the nodes
    pos = t * degree
    seg = np.minimum(np.floor(pos).astype(np.int64), degree - 1)
    frac = pos - seg
    out = np.zeros((t.size, degree + 1))
    rows = np.arange(t.size)
    out[rows, seg] = 1.0 - frac
    out[rows, seg + 1] += frac
    return out


def line_coefficients(bends: int, ts: Sequence[float] | np.ndarray) -> np.ndarray:
    """The straight line ``(1 − t) w_a + t w_b`` in the same ``[P, bends + 2]`` basis."""
    t = np.asarray(ts, dtype=np.float64).reshape(-1)
    out = np.zeros((t.size, bends + 2))
    out[:, 0], out[:, -1] = 1.0 - t, t
    return out


def bend_mask(
    mask_a: State | None, mask_b: State | None, policy: str = "union"
) -> dict[str, Tensor] | None:
    """The coordinates a bend may move (``True``) for ends with masks (``None``: dense).

    ``union`` [ours, default]: kept by either end, the smallest coordinate subspace that
    holds both ends, so the whole curve stays in it. ``intersection``: kept by both, so the
    bends add nothing to weights either end has pruned. A missing mask counts as all kept.
    """
    if policy not in MASK_POLICIES:
        raise ValueError(f"unknown mask policy {policy!r}: use one of {', '.join(MASK_POLICIES)}")
    if mask_a is None and mask_b is None:
        return None
    if mask_b is None or mask_a is None:
        # union with "all kept" is all kept; intersection is the one mask itself
        if policy == "union":
            return None
        return {k: v.bool() for k, v in (mask_a if mask_b is None else mask_b).items()}
    if set(mask_a) != set(mask_b):
        raise ValueError("the two masks cover different tensors; they belong to other models")
    op = torch.logical_or if policy == "union" else torch.logical_and
    return {k: op(mask_a[k].bool(), mask_b[k].bool()) for k in mask_a}


def initial_bends(
    kind: str,
    state_a: State,
    state_b: State,
    bends: int,
    mask: State | None = None,
) -> list[dict[str, Tensor]]:
    """Bend points on the straight line at ``t = j / (n + 1)``, ``j = 1 … n`` [ours].

    For one bend that is the midpoint ``(w_a + w_b) / 2``. Control points evenly spaced on
    the line make both a polygonal chain and a Bezier curve (linear precision of the
    Bernstein basis) equal to the line itself, so training starts from the line. Every
    floating tensor is set (buffers too, so a bend is a complete state dict); masked
    coordinates are zero.
    """
    _check(kind, bends)
    out = []
    for j in range(1, bends + 1):
        s = j / (bends + 1)
        bend = {}
        for name, a in state_a.items():
            if a.is_floating_point():
                v = (a.double() * (1 - s) + state_b[name].double() * s).to(a.dtype)
                if mask is not None and name in mask:
                    v = v * mask[name].to(v.dtype)
                bend[name] = v
            else:
                bend[name] = a.clone()
        out.append(bend)
    return out


def curve_point(
    coeffs: Sequence[float],
    state_a: State,
    bends: Sequence[State],
    state_b: State,
    names: Sequence[str],
) -> dict[str, Tensor]:
    """``φ(t) = c_0 w_a + Σ_j c_j θ_j + c_{n+1} w_b`` for the tensors ``names``.

    Differentiable in the bends (the ends enter as constants). One ``torch._foreach``
    call per basis state keeps the cost of building a point small next to a forward pass.
    """
    a = [state_a[n] for n in names]
    out = list(torch._foreach_mul(a, float(coeffs[0])))
    torch._foreach_add_(out, [state_b[n] for n in names], alpha=float(coeffs[-1]))
    for c, bend in zip(coeffs[1:-1], bends):
        out = torch._foreach_add(out, [bend[n] for n in names], alpha=float(c))
    return dict(zip(names, out))


def curve_lr(base: float, fraction: float) -> float:
    """Garipov et al.'s learning-rate schedule at ``fraction`` of the training done:
    ``base`` for the first half, then linear down to ``0.01 · base`` at 90%, then constant
    (Garipov §4, their code's ``learning_rate_schedule``)."""
    if fraction <= 0.5:
        return base
    if fraction <= 0.9:
        return base * (1.0 - 0.99 * (fraction - 0.5) / 0.4)
    return base * 0.01


def curve_step(
    forward: Callable[[Mapping[str, Tensor], Tensor], Tensor],
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    coeffs: Sequence[float],
    state_a: State,
    bends: Sequence[State],
    state_b: State,
    names: Sequence[str],
    batch: tuple[Tensor, Tensor],
) -> Tensor:
    """The loss at ``φ_θ(t)`` on one batch, its gradient accumulated into the bends' ``.grad``.

    ``forward(point, x)`` evaluates the network at a point (e.g. ``functional_call`` of the
    model with the point and fixed buffers); ``loss_fn(output, y)`` is the loss. Returns
    the detached loss. The caller's optimiser then steps the bends (Garipov eq. 3 with one
    ``t`` per batch).
    """
    point = curve_point(coeffs, state_a, bends, state_b, names)
    x, y = batch
    loss = loss_fn(forward(point, x), y)
    loss.backward()
    return loss.detach()
