"""The flatness bound on the pruning ratio [PAUL §3.3, after Larsen et al. 2022] (docs/science.md §10).

At a level's solution ``w^(L)`` with kept coordinates ``m_L`` (``D`` of them), model
the training loss by its quadratic approximation with Hessian ``H_L`` over the kept
coordinates, eigenvalues ``λ_i``. Pruning a fraction ``p`` of the kept weights jumps
to ``m_{L+1} ⊙ w^(L)``, a distance ``R(p) = ‖w^(L) − m_{L+1} ⊙ w^(L)‖`` away:

- **random pruning**: ``R(p)² = p ‖w^(L)‖²`` (over the kept weights, in expectation);
- **magnitude pruning** (global, as the runner prunes: one threshold over the prunable
  tensors): ``R(p)²`` = the sum of the ``p·D`` smallest squared kept weights,
  linearly interpolated between whole counts (exact at ``p·D`` whole, where it is
  ``‖w − prune(w, m, p) ⊙ w‖²`` of :func:`landscape.pruning.prune`).

The random ``(1 − p)D``-dimensional axial subspace meets the ε-sublevel set with high
probability iff

    p·D ≤ Σ_i 1 / (1 + max(λ_i, 0) · R(p)²/(2ε)) = tr[(I + (R(p)²/2ε) H_L)^{-1}],

non-positive eigenvalues counting 1 each (``f(λ) = 1/(1 + c·max(λ, 0))``). The largest
``p`` satisfying it is the predicted maximal pruning ratio ``p*(L)``
(:func:`max_ratio`: the inequality on a grid, then bisection of the last crossing —
monotonicity is not assumed).

**Which Hessian.** ``H_L`` is the Hessian of the training loss restricted to the
*kept prunable* coordinates (conv/linear weights inside ``m_L``,
:func:`landscape.functional.prunable_names`): that is the subspace pruning moves in.
Biases and BatchNorm parameters are never pruned; they are held fixed at ``w^(L)``.

**How the trace is computed**: :mod:`landscape.analysis.bound_trace`
(:func:`inverse_trace`). One spectral computation serves every ``c = R²/2ε``: the exact
eigendecomposition of ``H_L`` up to ``exact_below`` kept coordinates, stochastic Lanczos
quadrature above (by default with averaged Gauss–anti-Gauss rules, 2 probes × 60 steps);
that module gives the cost crossover and the estimators' measured errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landscape.analysis.bound_trace import InverseTrace, inverse_trace, kept_hessian
from landscape.analysis.hessian import HessianOperator
from landscape.functional import call
from landscape.specs import BOUND_EXACT_BELOW

__all__ = [
    "EPSILON_FACTORS",
    "EPSILON_RULE",
    "GRID",
    "KINDS",
    "BoundResult",
    "InverseTrace",
    "bound_from_trace",
    "default_epsilon",
    "flatness_bound",
    "inverse_trace",
    "kept_hessian",
    "max_ratio",
    "squared_projection",
]

#: The mask rules the bound compares [PAUL §3.3].
KINDS: tuple[str, ...] = ("magnitude", "random")
#: ε × these factors: how p* moves with ε (recorded with every result).
EPSILON_FACTORS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
#: Points of the ratio grid the inequality is evaluated on before bisection.
GRID = 201
#: The default rule for ε (:func:`default_epsilon`), as recorded in results.
EPSILON_RULE = "dense-train-loss"


def squared_projection(weights: Any, ratios: Any, kind: str) -> np.ndarray:
    """``R(p)²`` for each ratio ``p`` of the kept weights ``weights`` (a flat vector).

    Args:
        weights: the kept weights ``w^(L)`` over the kept prunable coordinates.
        ratios: fractions ``p`` in ``[0, 1]``.
        kind: ``"magnitude"`` — the sum of the ``p·D`` smallest squared weights
            (global magnitude pruning; linear between whole counts); ``"random"`` —
            its expectation over uniformly random masks, ``p‖w‖²``.
    """
    w = np.asarray(weights.detach().cpu().double() if isinstance(weights, Tensor) else weights,
                   dtype=np.float64).reshape(-1)  # fmt: skip
    p = np.asarray(ratios, dtype=np.float64)
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"pruning ratios must lie in [0, 1], got {p.min()}..{p.max()}")
    sq = w**2
    if kind == "random":
        return p * float(sq.sum())
    if kind != "magnitude":
        raise ValueError(f"unknown mask kind {kind!r}: use 'magnitude' or 'random'")
    cum = np.concatenate([[0.0], np.cumsum(np.sort(sq))])
    return np.interp(p * len(w), np.arange(len(w) + 1, dtype=np.float64), cum)


def max_ratio(
    trace: Callable[[np.ndarray], np.ndarray],
    r2: Callable[[np.ndarray], np.ndarray],
    dim: int,
    epsilon: float,
    *,
    grid: int = GRID,
    tol: float = 1e-12,
) -> float:
    """The largest ``p ∈ [0, 1]`` with ``p·D ≤ tr[(I + R(p)²/(2ε) H)^{-1}]`` [PAUL §3.3].

    The margin ``g(p) = tr(...) − p·D`` is evaluated on ``grid`` evenly spaced ratios;
    the last grid point where it is ``≥ 0`` and its right neighbour (where it is
    ``< 0``) are bisected to ``tol``. ``g(0) = D > 0``; where ``g ≥ 0`` on the whole
    grid (a spectrum without positive eigenvalues) ``p* = 1``.

    Args:
        trace: ``c ↦ tr[(I + cH)^{-1}]`` (an :class:`InverseTrace`), elementwise on arrays.
        r2: ``p ↦ R(p)²`` (:func:`squared_projection`), elementwise on arrays.
        dim: ``D``.
        epsilon: the loss increase ε of the sublevel set.

    Returns:
        ``p*``: the lower end of the final bracket, where the inequality holds.
    """
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise ValueError(f"epsilon must be a positive number, got {epsilon}")
    if grid < 2:
        raise ValueError(f"the ratio grid needs at least 2 points, got {grid}")

    def margin(p: np.ndarray) -> np.ndarray:
        return np.asarray(trace(r2(p) / (2 * epsilon))) - p * dim

    ps = np.linspace(0.0, 1.0, grid)
    g = margin(ps)
    holds = np.nonzero(g >= 0)[0]
    i = int(holds[-1]) if len(holds) else 0
    if i == grid - 1:
        return 1.0
    lo, hi = float(ps[i]), float(ps[i + 1])
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if margin(np.array([mid]))[0] >= 0:
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True)
class BoundResult:
    """The flatness bound at one level (:func:`flatness_bound`).

    Attributes:
        dim: kept prunable coordinates ``D``.
        weight_norm_sq: ``‖w^(L)‖²`` over them.
        epsilon: the ε used.
        method: how the trace was computed (``"exact"``, ``"averaged"`` or ``"slq"``).
        ratios: the grid of ``p``.
        r2: ``{kind: R(p)² on the grid}``.
        rhs: ``{kind: tr[(I + R(p)²/(2ε) H)^{-1}] on the grid}`` (the left side is ``p·D``).
        p_star: ``{kind: p*}``.
        rhs_at_star, rhs_stderr_at_star: the right side at ``p*`` and its standard error.
        epsilon_factors: the factors ε was multiplied by for ``p_star_epsilon``.
        p_star_epsilon: ``{kind: [p* at ε·factor for each factor]}``.
        trace: the spectral summary (eigenvalues or quadrature).
    """

    dim: int
    weight_norm_sq: float
    epsilon: float
    method: str
    ratios: np.ndarray
    r2: dict[str, np.ndarray]
    rhs: dict[str, np.ndarray]
    p_star: dict[str, float]
    rhs_at_star: dict[str, float]
    rhs_stderr_at_star: dict[str, float]
    epsilon_factors: tuple[float, ...]
    p_star_epsilon: dict[str, list[float]]
    trace: InverseTrace = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready numbers (the grids as lists; the spectrum itself goes to the arrays)."""
        t = self.trace
        return {
            "num_kept": self.dim, "weight_norm_sq": self.weight_norm_sq,
            "epsilon": self.epsilon, "method": self.method, "ratios": self.ratios.tolist(),
            "r2": {k: v.tolist() for k, v in self.r2.items()},
            "rhs": {k: v.tolist() for k, v in self.rhs.items()},
            "p_star": dict(self.p_star), "rhs_at_star": dict(self.rhs_at_star),
            "rhs_stderr_at_star": dict(self.rhs_stderr_at_star),
            "epsilon_factors": list(self.epsilon_factors),
            "p_star_epsilon": {k: list(v) for k, v in self.p_star_epsilon.items()},
            "top_eigenvalue": t.top, "nonpositive_fraction": t.nonpositive_fraction,
            "hvps": t.hvps, "trace_seconds": t.seconds,
        }  # fmt: skip

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays for ``result.npz``: the grid, and the spectrum or the quadrature."""
        out: dict[str, np.ndarray] = {"ratios": self.ratios}
        for k in self.r2:
            out[f"r2_{k}"] = self.r2[k]
            out[f"rhs_{k}"] = self.rhs[k]
        if self.trace.eigenvalues is not None:
            out["eigenvalues"] = self.trace.eigenvalues
        if self.trace.quadrature is not None:
            out["slq_nodes"] = self.trace.quadrature.nodes
            out["slq_weights"] = self.trace.quadrature.weights
        return out


def bound_from_trace(
    trace: InverseTrace,
    weights: Any,
    epsilon: float,
    *,
    kinds: Sequence[str] = KINDS,
    factors: Sequence[float] = EPSILON_FACTORS,
    grid: int = GRID,
) -> BoundResult:
    """:func:`flatness_bound` from a computed spectral summary and the kept weights (no products)."""
    w = np.asarray(weights.detach().cpu().double() if isinstance(weights, Tensor) else weights,
                   dtype=np.float64).reshape(-1)  # fmt: skip
    if len(w) != trace.dim:
        raise ValueError(f"{len(w)} kept weights for an operator of dimension {trace.dim}")
    ps = np.linspace(0.0, 1.0, grid)
    r2, rhs, star, at, err, sweep = {}, {}, {}, {}, {}, {}
    for kind in kinds:

        def r2_of(p: np.ndarray, kind: str = kind) -> np.ndarray:
            return squared_projection(w, p, kind)

        r2[kind] = r2_of(ps)
        rhs[kind] = trace(r2[kind] / (2 * epsilon))
        star[kind] = max_ratio(trace, r2_of, trace.dim, epsilon, grid=grid)
        c = float(r2_of(np.array([star[kind]]))[0]) / (2 * epsilon)
        at[kind] = float(trace(np.array([c]))[0])
        err[kind] = trace.stderr(c)
        sweep[kind] = [max_ratio(trace, r2_of, trace.dim, epsilon * a, grid=grid) for a in factors]
    return BoundResult(
        dim=trace.dim, weight_norm_sq=float(np.sum(w**2)), epsilon=float(epsilon),
        method=trace.method, ratios=ps, r2=r2, rhs=rhs, p_star=star, rhs_at_star=at,
        rhs_stderr_at_star=err, epsilon_factors=tuple(float(a) for a in factors),
        p_star_epsilon=sweep, trace=trace,
    )  # fmt: skip


def flatness_bound(
    model: nn.Module,
    data: tuple[Tensor, Tensor],
    mask: Mapping[str, Tensor],
    epsilon: float,
    *,
    exact_below: int = BOUND_EXACT_BELOW,
    probes: int = 0,
    steps: int = 0,
    seed: int = 0,
    trace_method: str = "averaged",
    kinds: Sequence[str] = KINDS,
    factors: Sequence[float] = EPSILON_FACTORS,
    grid: int = GRID,
    hvp: str = "auto",
    chunk_size: int | None = None,
    on_product: Callable[[], object] | None = None,
) -> BoundResult:
    """The predicted maximal pruning ratio ``p*`` at ``model``'s weights [PAUL §3.3].

    Args:
        model: the network at ``w^(L)`` (its dtype is the products' precision); not modified.
        data: ``(inputs, targets)`` of the training loss (fixed, unaugmented; BatchNorm
            runs in eval mode).
        mask: ``m_L`` over the prunable tensors (``True`` keeps); ``H_L`` is restricted
            to these tensors' kept coordinates, biases and BatchNorm held fixed.
        epsilon: the loss increase ε (:func:`default_epsilon` gives the default rule).
        exact_below, probes, steps, seed, trace_method: how the trace is computed
            (:func:`inverse_trace`'s ``method``; 0 probes or steps: the method's default).
        kinds: the mask rules (``"magnitude"``, ``"random"``).
        factors: ``p*`` is also found for ε × each factor.
        grid: ratio grid points (:func:`max_ratio`).
        hvp, chunk_size: the products' method and samples per pass
            (:class:`~landscape.analysis.hessian.HessianOperator`).

    Returns:
        a :class:`BoundResult`.
    """
    if not mask:
        raise ValueError("the mask names no prunable tensor: pass the level's mask m_L")
    op = HessianOperator(model, data, params=list(mask), mask=mask, method=hvp,
                         chunk_size=chunk_size, on_product=on_product)  # fmt: skip
    trace = inverse_trace(op, exact_below=exact_below, probes=probes, steps=steps, seed=seed,
                          method=trace_method)  # fmt: skip
    op.release()
    return bound_from_trace(trace, op.parameters_vector(), epsilon, kinds=kinds, factors=factors,
                            grid=grid)  # fmt: skip


@torch.no_grad()
def default_epsilon(
    model: nn.Module, data: tuple[Tensor, Tensor], dense_state: Mapping[str, Tensor]
) -> float:
    """The default ε: the dense network's mean training loss on the bound's data.

    One ε for every level of a run keeps ``p*(L)`` comparable across levels: its trend
    then reflects the curvature and the projection lengths only, not a moving
    threshold. IMP's notion of success ("matching") is measured against the dense
    network, so the dense network's own loss is the natural scale of an acceptable
    loss increase: the sublevel set is "at most twice the dense training loss". It is
    measured exactly as the Hessian is (same samples, dtype, eval-mode BatchNorm), is
    free of units, and needs no tuning per data set (docs/science.md §10; **ours**).

    Args:
        model: the architecture (its dtype and device are used; its weights are not).
        data: the bound's ``(inputs, targets)``.
        dense_state: the dense network ``w^(0)`` (level 0 of the run).
    """
    p = next(model.parameters())
    state = {k: v.to(p.device, p.dtype) if v.is_floating_point() else v.to(p.device)
             for k, v in dense_state.items()}  # fmt: skip
    was = model.training
    model.eval()
    try:
        x, y = data
        x = x.to(p.device, p.dtype) if x.is_floating_point() else x.to(p.device)
        total, n = 0.0, int(x.shape[0])
        for i in range(0, n, 4096):
            out = call(model, state, x[i : i + 4096])
            total += float(F.cross_entropy(out.double(), y[i : i + 4096].to(p.device),
                                           reduction="sum"))  # fmt: skip
    finally:
        model.train(was)
    eps = total / max(n, 1)
    if not eps > 0:
        raise ValueError(
            f"the dense network's training loss is {eps}, so the default ε is not positive; "
            "pass --epsilon E"
        )
    return eps
