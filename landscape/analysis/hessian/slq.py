"""Stochastic Lanczos quadrature: spectral density and ``tr f(H)`` (docs/science.md).

For a unit probe ``v``, ``m`` Lanczos steps give a tridiagonal ``T`` with
eigenvalues ``θ_j`` and eigenvectors ``s_j``; the Gauss quadrature rule with nodes
``θ_j`` and weights ``τ_j = s_{1j}²`` satisfies ``vᵀ f(A) v ≈ Σ_j τ_j f(θ_j)``,
exactly for polynomials of degree < 2m (Golub & Meurant 2010). Averaging over
Rademacher probes (scaled to unit norm, ``‖v‖² = n``) gives

- the spectral density ``φ(t) = (1/n_v) Σ_l Σ_j τ_j^l g_σ(t − θ_j^l)`` with a Gaussian
  kernel ``g_σ`` (Ghorbani, Krishnan & Xiao 2019, §2; PyHessian's ``density``);
- ``tr f(A) ≈ (n/n_v) Σ_l Σ_j τ_j^l f(θ_j^l)`` with a standard error over the probes
  (Ubaru, Chen & Saad 2017) — the trace of ``(I + c·H)^{-1}`` that the flatness
  bound needs (docs/science.md) is ``f(λ) = 1/(1 + cλ)``.

``rule="averaged"`` replaces each probe's Gauss rule by Laurie's averaged Gauss–anti-Gauss
rule (Laurie 1996, "Anti-Gaussian quadrature formulas", Math. Comp. 65; Calvetti, Reichel
& Sgallari 1999 for quadratic forms) from the same ``m`` products: the Gauss rule of
``T_{m-1}`` and the anti-Gauss rule of ``T_m`` with its last off-diagonal ``β_{m-1}``
scaled by ``√2``, weighted ½ each. The anti-Gauss rule's error is the Gauss rule's with the
opposite sign up to degree ``2m − 1``, so the mean cancels most of it; no further product
is needed. It matters where ``f`` is not smooth on the spectrum: the flatness bound's
``1/(1 + c·max(λ, 0))`` has a kink at 0 inside a Hessian's bulk, where the Gauss rule's
error swings in sign with ``m`` (``landscape.analysis.bound_trace`` gives measurements).

Under ``torchrun`` rank ``r`` of ``R`` runs probes ``r, r + R, …`` (the same vectors
as one process draws) and every rank gets every probe's rule (:mod:`landscape.distributed`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from landscape import distributed
from landscape.analysis.hessian.hutchinson import Estimate
from landscape.analysis.hessian.lanczos import LanczosRun, lanczos, ritz
from landscape.analysis.hessian.probes import rademacher_share

__all__ = [
    "RULES",
    "Density",
    "Quadrature",
    "averaged_rule",
    "quadrature_of",
    "quadrature_trace",
    "slq",
    "slq_rows",
    "spectral_density",
    "trace_fn",
]

MatVec = Callable[[Tensor], Tensor]

#: Quadrature rules of :func:`slq`: Gauss, or Laurie's averaged Gauss–anti-Gauss (module docstring).
RULES: tuple[str, ...] = ("gauss", "averaged")


@dataclass(frozen=True)
class Quadrature:
    """Gauss quadrature rules from SLQ, one row per probe.

    ``nodes`` and ``weights`` are ``probes × m`` (rows padded with weight 0 where a
    probe's Krylov space was exhausted earlier); each row of ``weights`` sums to 1.
    ``dim`` is the operator's dimension, ``matvecs`` the operator applications used.
    """

    nodes: np.ndarray
    weights: np.ndarray
    dim: int
    matvecs: int


def slq(
    matvec: MatVec,
    dim: int,
    *,
    probes: int = 1,
    steps: int = 100,
    seed: int = 0,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    rule: str = "gauss",
) -> Quadrature:
    """Run ``steps`` Lanczos steps from each of ``probes`` Rademacher probes.

    Args:
        matvec: ``v ↦ Av`` on vectors of length ``dim``.
        dim: the operator's dimension; ``steps`` is capped at it.
        probes: independent probe vectors (PyHessian's ``n_v``; default 1).
        steps: Lanczos steps per probe (PyHessian's ``iter``; default 100).
        seed: seed of the probes.
        device, dtype: of the vectors ``matvec`` takes.
        rule: ``"gauss"`` (``m`` nodes a probe) or ``"averaged"`` (Laurie's averaged
            Gauss–anti-Gauss rule, ``2m − 1`` nodes a probe, same products; module docstring).

    Returns:
        :class:`Quadrature`. On a CPU a probe stops at breakdown (its quadrature is
        then exact); on a GPU the loop never reads back to the host.
    """
    if probes < 1 or steps < 1:
        raise ValueError(f"SLQ needs probes ≥ 1 and steps ≥ 1, got {probes} and {steps}")
    if rule not in RULES:
        raise ValueError(f"unknown quadrature rule {rule!r}: use one of {', '.join(RULES)}")
    rows = slq_rows(matvec, dim, distributed.my_indices(probes), steps=steps, seed=seed,
                    device=device, dtype=dtype, rule=rule)  # fmt: skip
    m = min(steps, dim)
    width = 2 * m - 1 if rule == "averaged" else m
    return quadrature_of(dim, width, distributed.assemble(probes, rows))


Rule = tuple[np.ndarray, np.ndarray, int]


def slq_rows(
    matvec: MatVec,
    dim: int,
    keep: Sequence[int],
    *,
    steps: int = 100,
    seed: int = 0,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    rule: str = "gauss",
) -> list[Rule]:
    """``(nodes, weights, matvecs)`` of the probes ``keep`` (ascending) of :func:`slq`'s
    stream: this process's share of the probes, the same numbers as in one process."""
    device = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    steps = min(steps, dim)
    check = 1 if device.type == "cpu" else 0
    starts = [v for _, v in rademacher_share(dim, gen, keep, device, dtype)]
    group = _lockstep_group(matvec, len(starts), steps, dim, dtype)
    runs = []
    if group > 1:  # several probes per block product (landscape.analysis.hessian.batched)
        from landscape.analysis.hessian.batched import lanczos_lockstep

        for i in range(0, len(starts), group):
            block = torch.stack(starts[i : i + group])
            runs += lanczos_lockstep(matvec.matmat, block, steps, check_every=check)
    else:
        runs = [lanczos(matvec, v, steps, check_every=check, restart=False, keep_basis=False)
                for v in starts]  # fmt: skip
    rows = []
    for run in runs:
        if rule == "averaged":
            rows.append((*averaged_rule(run), run.matvecs))
        else:
            theta, s = ritz(run)
            rows.append((theta, s[0] ** 2, run.matvecs))
    return rows


def averaged_rule(run: LanczosRun) -> tuple[np.ndarray, np.ndarray]:
    """Laurie's averaged Gauss–anti-Gauss rule of a Lanczos run of ``m`` steps: nodes and
    weights (summing to 1) of ½·(Gauss rule of ``T_{m-1}``) + ½·(anti-Gauss rule: ``T_m``
    with ``β_{m-1}`` scaled by ``√2``), exact for polynomials of degree ``≤ 2m − 1``.

    A run whose Krylov space was exhausted (``tail == 0``: ``T`` is exact for the start
    vector) or of one step keeps its Gauss rule, which is then exact (or all there is).
    """
    theta, s = ritz(run)
    if run.steps < 2 or run.tail == 0.0:
        return theta, s[0] ** 2
    gauss = LanczosRun(run.alpha[:-1], run.beta[:-1], float(run.beta[-1]), None, 0)
    theta_g, s_g = ritz(gauss)
    beta = run.beta.copy()
    beta[-1] *= math.sqrt(2.0)
    theta_a, s_a = ritz(LanczosRun(run.alpha, beta, run.tail, None, 0))
    return np.concatenate([theta_g, theta_a]), 0.5 * np.concatenate([s_g[0] ** 2, s_a[0] ** 2])


# The Krylov bases of probes run in lockstep are held together: at most this many bytes.
_LOCKSTEP_BYTES = 2**30


def _lockstep_group(matvec: MatVec, probes: int, steps: int, dim: int, dtype: torch.dtype) -> int:
    """Probes run in lockstep: the operator's block size (1 for a plain function or an
    operator that multiplies one vector at a time), capped by the bases' memory."""
    if probes < 2 or not hasattr(matvec, "matmat"):
        return 1
    from landscape.analysis.hessian.batched import block_size

    per_probe = steps * dim * torch.empty((), dtype=dtype).element_size()
    return max(1, min(probes, block_size(matvec), _LOCKSTEP_BYTES // max(1, per_probe)))


def quadrature_of(dim: int, steps: int, rows: Sequence[Rule]) -> Quadrature:
    """The :class:`Quadrature` of every probe's rule, in probe order."""
    nodes = np.zeros((len(rows), steps))
    weights = np.zeros((len(rows), steps))
    matvecs = 0
    for i, (theta, w, count) in enumerate(rows):
        nodes[i, : len(theta)] = theta
        weights[i, : len(theta)] = w
        matvecs += count
    return Quadrature(nodes, weights, dim, matvecs)


def quadrature_trace(quad: Quadrature, f: Callable[[np.ndarray], np.ndarray]) -> Estimate:
    """``tr f(A) ≈ n · mean_l Σ_j τ_j^l f(θ_j^l)`` with the standard error over probes.

    ``f`` is applied elementwise to a NumPy array of nodes.
    """
    values = np.asarray(f(quad.nodes), dtype=np.float64)
    if values.shape != quad.nodes.shape:
        raise ValueError(
            "f must map an array of eigenvalues elementwise to an array of the same shape"
        )
    per_probe = quad.dim * np.sum(np.where(quad.weights > 0, quad.weights * values, 0.0), axis=1)
    return Estimate.from_samples(per_probe)


def trace_fn(
    hvp: MatVec,
    dim: int,
    f: Callable[[np.ndarray], np.ndarray],
    probes: int = 10,
    steps: int = 50,
    seed: int = 0,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Estimate:
    """``tr f(A)`` for a scalar function ``f`` by stochastic Lanczos quadrature (docs/science.md).

    Args:
        hvp: ``v ↦ Av`` (e.g. a :class:`~landscape.analysis.hessian.hvp.HessianOperator`,
            whose ``device`` and ``dtype`` are used unless given).
        dim: the operator's dimension.
        f: elementwise on a NumPy array, e.g. ``lambda t: 1 / (1 + c * t)``.
        probes: Rademacher probes (the standard error shrinks as 1/√probes).
        steps: Lanczos steps per probe (exact for polynomial ``f`` of degree < 2·steps).
        seed: seed of the probes.

    Returns:
        :class:`~landscape.analysis.hessian.hutchinson.Estimate` (value ± stderr).

    Example:
        >>> A = torch.diag(torch.arange(1.0, 5.0, dtype=torch.float64))
        >>> est = trace_fn(lambda v: A @ v, 4, lambda t: 1 / t, probes=2, steps=4)
        >>> round(est.value, 10)  # 1 + 1/2 + 1/3 + 1/4
        2.0833333333
    """
    device = device if device is not None else getattr(hvp, "device", "cpu")
    dtype = dtype if dtype is not None else getattr(hvp, "dtype", torch.float32)
    quad = slq(hvp, dim, probes=probes, steps=steps, seed=seed, device=device, dtype=dtype)
    return quadrature_trace(quad, f)


@dataclass(frozen=True)
class Density:
    """A smoothed spectral density on a uniform grid; ``sigma`` is the kernel's std."""

    grid: np.ndarray
    values: np.ndarray
    sigma: float


def spectral_density(
    quad: Quadrature,
    *,
    num_bins: int = 1000,
    sigma_squared: float = 1e-5,
    min_bins_per_sigma: float = 1.5,
) -> Density:
    """The Gaussian-smoothed density of eigenvalues from SLQ (Ghorbani et al. 2019, §2).

    Args:
        quad: the quadrature rules of :func:`slq`.
        num_bins: grid points.
        sigma_squared: kernel variance relative to the spectrum's width ``R``:
            ``σ² = sigma_squared · max(1, R)`` (PyHessian's ``density_generate``).
        min_bins_per_sigma: ``σ`` is raised to at least this many grid spacings, so a
            coarse grid does not miss narrow peaks (PyHessian uses 10,000 bins instead).

    Returns:
        :class:`Density` over ``[θ_min − 6σ, θ_max + 6σ]``, so the density integrates
        to 1 without renormalisation (each probe's weights sum to 1).
    """
    if num_bins < 2:
        raise ValueError(f"the density needs at least 2 bins, got {num_bins}")
    live = quad.weights > 0
    lo, hi = float(quad.nodes[live].min()), float(quad.nodes[live].max())
    width = hi - lo
    sigma = math.sqrt(sigma_squared * max(1.0, width))
    # Grid spacing with margin 6σ: Δ = (R + 12σ)/(bins − 1); need σ ≥ k·Δ.
    k = min_bins_per_sigma
    sigma = max(sigma, k * width / (num_bins - 1 - 12 * k)) if num_bins - 1 > 12 * k else sigma
    grid = np.linspace(lo - 6 * sigma, hi + 6 * sigma, num_bins)
    nodes, weights = quad.nodes[live], quad.weights[live]
    values = np.zeros(num_bins)
    norm = 1.0 / (math.sqrt(2 * math.pi) * sigma * len(quad.nodes))
    for start in range(0, len(nodes), 256):  # bounded memory: bins × 256 at a time
        d = grid[:, None] - nodes[None, start : start + 256]
        values += np.exp(-0.5 * (d / sigma) ** 2) @ weights[start : start + 256]
    return Density(grid, values * norm, sigma)
