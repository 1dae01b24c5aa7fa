"""``c ↦ tr[(I + c·H_L)^{-1}]`` for the flatness bound (:mod:`landscape.analysis.bound`).

**How the trace is computed** (:func:`inverse_trace`). One spectral computation
serves every ``c = R²/2ε``, so the root find costs no further Hessian-vector products:

- ``D ≤ exact_below``: ``H_L`` is built column by column with ``D`` products
  (``H e_i``), symmetrised, and eigendecomposed in float64 (exact);
- above: stochastic Lanczos quadrature, one set of ``(nodes, weights)`` from
  :func:`~landscape.analysis.hessian.slq` evaluated at every ``c``
  (:func:`~landscape.analysis.hessian.quadrature_trace`): by default 2 probes × 60 steps
  with averaged Gauss–anti-Gauss rules (``"averaged"``), or the estimator before
  2026-12-07, 16 probes × 80 steps with Gauss rules (``"slq"``); below, why.

The cost crossover: a product costs the same whatever ``D`` (it is a pass over the
whole network and data), so the exact path costs ``D`` products plus an ``O(D³)``
eigendecomposition, SLQ ``probes × steps`` products plus ``O(steps² D)``
re-orthogonalisation. Measured on the MNIST-1D MLP (4000 training samples, 1 thread of
a shared 2-core CPU, 2026-12-01; batching the products with ``vmap`` or
``is_grads_batched`` was not faster there, measured again 2026-12-07 with
``bench/bench_bound.py``): a product takes 11–17 ms, ``eigvalsh`` 0.09 s
at ``D = 1000`` and 0.34 s at 2000; exact 7.8 s at ``D = 500``, 17.5 s at 1000 and
21.2 s at 2000, against 14.2–14.8 s for SLQ at 16 × 80. SLQ becomes cheaper near
``D ≈ probes × steps = 1280``; ``exact_below = 2000`` (the default until 2026-12-07) pays up to ~1.5× SLQ's
time for an answer without estimator noise or quadrature bias. (These timings were taken
by hand with the job's own timers, ``trace_seconds`` in each result, on a machine shared
with other work — the exact figures overlap SLQ's noise; no bench script reproduces them
yet, so treat the crossover as approximate.) Against the default ``"averaged"`` estimator's
120 products the exact path costs more wherever ``D > 120``, so the default ``exact_below``
is 120 (:data:`~landscape.specs.BOUND_EXACT_BELOW`); 2000, the former default, keeps the
exact answer up to 2,000 kept weights at up to ~17× the products.

SLQ's two errors: the Rademacher probes' (unbiased; the recorded standard error) and
the Gauss quadrature's. ``f(λ) = 1/(1 + c·max(λ, 0))`` has a kink at ``λ = 0``, inside
the bulk of near-zero eigenvalues of both signs, and for large ``c`` it falls from 1 to
nearly 0 within that bulk, so a Gauss rule of ``m`` nodes misjudges it and its error swings
in sign with ``m``. Measured on the mlp-mnist1d IMP-WR run (seed 0, 4096 samples,
2026-12-07, four probes × 240 Lanczos steps at level 0, ``D = 15,000``, 37% of the
spectral weight at ``λ ≤ 0``; the dense float64 Hessian at level 8, ``D = 2,517``): at the
``c`` of the random mask's ``p*`` the Gauss rule's bias was +12% at 70 steps, +0.6% at 80,
−5% at 90 and still ±4–7% at 100–145 steps (level 0); at level 8 +2% at 80 steps. With the
negative eigenvalues clamped in the *operator* instead (``H₊``, no kink) the same rule was
within 0.01% by 60 steps: the kink, not the pole at ``−1/c``, is what costs steps.

**The averaged rule** (``method="averaged"``, the default): Laurie's averaged
Gauss–anti-Gauss rule from the same products (:func:`~landscape.analysis.hessian.slq`
with ``rule="averaged"``) cancels most of that swing: at level 0 its bias was −0.5% /
−1.7% (magnitude / random ``c``) at 70 steps, −0.07% / −0.2% at 60 and −0.5..+0.04% /
−2.6..+0.2% from 56 to 72 steps, and within ±0.3% / ±1.1% from 90 to 145 steps;
at level 8 within ±0.9% from 54 steps and ±0.4% from 72 (level 0's reference: the
averaged rule at 240 steps; level 8's: the exact eigendecomposition). With the quadrature error that small the probes'
error is what is left, and it shrinks with ``D``: one probe's relative standard deviation
of ``tr f`` at ``p*`` was 0.3% at ``D = 15,000`` and 2–2.4% at ``D = 2,517`` — and it is
**not** reduced by deflating the top eigenvectors (the suggestion of issue #22): ``f`` is
≈ 0 on them already, and about half of the spectrum has ``cλ ≫ 1``, so neither ``f`` nor
``1 − f`` is of low rank (deflating the top 10, 30 or 100 exact eigenvectors left that
standard deviation unchanged at level 8). So the default spends its products on steps,
not probes: 2 probes × 60 steps = 120 products against ``"slq"``'s 16 × 80 = 1,280
(``bench/RESULTS.md``, "The flatness bound per level", has the measured p* errors of both
against the exact spectrum and their times).

Both paths go through the operator's block products
(:mod:`landscape.analysis.hessian.batched`): the columns in blocks of unit vectors, SLQ's
probes in lockstep. On a CPU a block is one vector (the product is compute-bound, and a
batched pass measured no faster), on a GPU many.

Under ``torchrun`` both are split over the ranks with the one-process numbers: the
exact path's columns (rank ``r`` computes ``H e_i`` for ``i = r, r + R, …``) and SLQ's
probes (:func:`~landscape.analysis.hessian.slq`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from landscape import distributed
from landscape.analysis.hessian import HessianOperator, Quadrature, quadrature_trace, slq
from landscape.analysis.hessian.batched import block_size
from landscape.errors import NonFiniteResultError
from landscape.specs import BOUND_EXACT_BELOW, BOUND_TRACE_METHODS, BOUND_TRACE_SHAPES

__all__ = ["BOUND_TRACE_METHODS", "BOUND_TRACE_SHAPES", "InverseTrace", "inverse_trace",
           "kept_hessian"]  # fmt: skip

#: The quadrature rule of each stochastic method (:func:`~landscape.analysis.hessian.slq`).
_RULE = {"slq": "gauss", "averaged": "averaged"}


def _f(lam: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``1/(1 + c·max(λ, 0))``: non-positive eigenvalues count 1 each."""
    return 1.0 / (1.0 + c * np.maximum(lam, 0.0))


@dataclass(frozen=True)
class InverseTrace:
    """``c ↦ tr[(I + c·H)^{-1}]`` (eigenvalues ``≤ 0`` counting 1) from one spectral computation.

    Attributes:
        method: ``"exact"`` (the eigenvalues of the dense ``H``), ``"slq"`` (one Gauss
            quadrature per probe) or ``"averaged"`` (one averaged Gauss–anti-Gauss rule per
            probe; module docstring).
        dim: the operator's dimension ``D``.
        eigenvalues: the exact spectrum (``"exact"``), ascending.
        quadrature: the SLQ rules (``"slq"``, ``"averaged"``).
        hvps: Hessian-vector products spent.
        seconds: wall time of the spectral computation.
    """

    method: str
    dim: int
    eigenvalues: np.ndarray | None = None
    quadrature: Quadrature | None = None
    hvps: int = 0
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.method == "exact" and self.eigenvalues is None:
            raise ValueError("an exact InverseTrace needs the eigenvalues")
        if self.method in _RULE and self.quadrature is None:
            raise ValueError("an SLQ InverseTrace needs the quadrature (landscape.hessian.slq)")
        if self.method not in ("exact", *_RULE):
            raise ValueError(
                f"method must be 'exact' or one of {', '.join(_RULE)}, got {self.method!r}"
            )

    @classmethod
    def exact(cls, eigenvalues: Any, hvps: int = 0, seconds: float = 0.0) -> InverseTrace:
        lam = np.sort(np.asarray(eigenvalues, dtype=np.float64).reshape(-1))
        return cls("exact", len(lam), eigenvalues=lam, hvps=hvps, seconds=seconds)

    @classmethod
    def from_quadrature(
        cls, quad: Quadrature, seconds: float = 0.0, method: str = "slq"
    ) -> InverseTrace:
        """From :func:`~landscape.analysis.hessian.slq`'s rules (``method``: ``"slq"`` for
        Gauss rules, ``"averaged"`` for averaged Gauss–anti-Gauss rules)."""
        return cls(method, quad.dim, quadrature=quad, hvps=quad.matvecs, seconds=seconds)

    def __call__(self, c: float | np.ndarray) -> np.ndarray:
        """``tr f_c(H)`` for each ``c ≥ 0`` (an array of the shape of ``c``)."""
        cs = np.asarray(c, dtype=np.float64)
        flat = cs.reshape(-1)
        if self.method == "exact":
            lam = self.eigenvalues
            out = np.array([float(np.sum(_f(lam, ci))) for ci in flat])
        else:
            out = np.array([quadrature_trace(self.quadrature, lambda t, ci=ci: _f(t, ci)).value
                            for ci in flat])  # fmt: skip
        return out.reshape(cs.shape)

    def stderr(self, c: float) -> float:
        """The standard error of the estimate at ``c`` (0 when exact; NaN with one probe)."""
        if self.method == "exact":
            return 0.0
        return quadrature_trace(self.quadrature, lambda t: _f(t, c)).stderr

    @property
    def top(self) -> float:
        """The largest eigenvalue (SLQ: the largest Ritz value over the probes; the averaged
        rule: its largest node, the anti-Gauss half's, equal to that Ritz value once it has
        converged)."""
        if self.method == "exact":
            return float(self.eigenvalues[-1])
        q = self.quadrature
        return float(q.nodes[q.weights > 0].max())

    @property
    def nonpositive_fraction(self) -> float:
        """The fraction of the spectrum at ``λ ≤ 0`` (SLQ: its quadrature estimate)."""
        if self.method == "exact":
            return float(np.mean(self.eigenvalues <= 0))
        q = self.quadrature
        return float(np.mean(np.sum(np.where(q.nodes <= 0, q.weights, 0.0), axis=1)))


def kept_hessian(op: HessianOperator, progress: Callable[[], object] | None = None) -> Tensor:
    """The dense Hessian over the operator's kept coordinates, column by column (``D`` products).

    Returns:
        a symmetric ``D × D`` float64 tensor on the CPU (``(H + Hᵀ)/2``: the products
        agree with their transposes to roundoff).
    """
    out = _columns(op, range(op.dim), progress)
    return (out + out.T) / 2


def _columns(
    op: HessianOperator, columns: Sequence[int], progress: Callable[[], object] | None = None
) -> Tensor:
    """``H e_i`` for each ``i`` in ``columns``: a ``D × len(columns)`` float64 tensor on the CPU."""
    dim = op.dim
    # Filled on the operator's device and copied to the CPU once: no host sync per column.
    out = torch.empty(dim, len(columns), dtype=torch.float64, device=op.device)
    columns = list(columns)
    # Blocks of unit vectors, each one batched pass (landscape.analysis.hessian.batched).
    if op.method == "auto":
        op.choose()  # the method decides the block size
    block = block_size(op)
    for k in range(0, len(columns), block):
        idx = torch.as_tensor(columns[k : k + block], device=op.device)
        e = torch.zeros(len(idx), dim, device=op.device, dtype=op.dtype)
        e[torch.arange(len(idx), device=op.device), idx] = 1
        out[:, k : k + len(idx)] = op.matmat(e).detach().to(torch.float64).T
        if progress is not None:
            for _ in range(len(idx)):
                progress()
    return out.cpu()


def _finite(matrix: torch.Tensor) -> torch.Tensor:
    """``matrix``, checked to hold no NaN or infinity before it is decomposed."""
    if not bool(matrix.isfinite().all()):
        raise NonFiniteResultError(
            "the kept Hessian holds NaN or infinite entries (the loss or its gradient "
            "overflows at these weights)"
        )
    return matrix


def _kept_eigenvalues(op: HessianOperator) -> np.ndarray:
    """The eigenvalues of :func:`kept_hessian` (ascending). Under ``torchrun`` rank ``r``
    computes columns ``r, r + R, …``, rank 0 assembles and decomposes the matrix (the same
    numbers as one process) and every rank gets the eigenvalues."""
    if distributed.shard_world()[1] == 1:
        return torch.linalg.eigvalsh(_finite(kept_hessian(op))).numpy()
    mine = distributed.my_indices(op.dim)
    parts = distributed.gather_objects((list(mine), _columns(op, mine)))
    lam = None
    if parts is not None:  # rank 0
        out = torch.empty(op.dim, op.dim, dtype=torch.float64)
        for cols, block in parts:
            out[:, list(cols)] = block
        lam = torch.linalg.eigvalsh(_finite((out + out.T) / 2)).numpy()
    return distributed.broadcast_object(lam)


def inverse_trace(
    op: HessianOperator,
    *,
    exact_below: int = BOUND_EXACT_BELOW,
    probes: int = 0,
    steps: int = 0,
    seed: int = 0,
    method: str = "averaged",
) -> InverseTrace:
    """The spectral summary of ``op`` that
    :func:`~landscape.analysis.bound.max_ratio` needs (module docstring).

    Args:
        op: ``H_L`` over the kept prunable coordinates.
        exact_below: up to this dimension, the exact eigendecomposition of the dense matrix.
        probes, steps: Rademacher probes and Lanczos steps per probe (above it); 0: the
            method's default (:data:`BOUND_TRACE_SHAPES`: averaged 2 × 60, slq 16 × 80).
        seed: seed of the probes.
        method: the estimator above ``exact_below``: ``"averaged"`` (averaged
            Gauss–anti-Gauss rules) or ``"slq"`` (Gauss rules, the estimator before
            2026-12-07).
    """
    if method not in _RULE:
        raise ValueError(f"unknown trace method {method!r}: use one of {', '.join(_RULE)}")
    probes = probes or BOUND_TRACE_SHAPES[method][0]
    steps = steps or BOUND_TRACE_SHAPES[method][1]
    t0 = time.perf_counter()
    before = op.count
    if op.dim <= exact_below:
        lam = _kept_eigenvalues(op)
        hvps = op.count - before
        if distributed.shard_world()[1] > 1:
            hvps = sum(distributed.all_gather_objects(hvps))  # every rank's columns
        return InverseTrace.exact(lam, hvps=hvps, seconds=time.perf_counter() - t0)
    quad = slq(op, op.dim, probes=probes, steps=steps, seed=seed, device=op.device,
               dtype=op.dtype, rule=_RULE[method])  # fmt: skip
    return InverseTrace.from_quadrature(quad, seconds=time.perf_counter() - t0, method=method)
