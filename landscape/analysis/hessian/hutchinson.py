"""Hutchinson's trace estimator with Rademacher probes and its standard error (docs/science.md).

``tr(A) = E[vᵀAv]`` for ``v`` with independent ±1 entries (Hutchinson 1989); the
estimate is the mean over probes and its standard error the sample standard
deviation over ``√probes``. Probes are drawn on the CPU from a seeded generator,
so the estimate is the same on every device and does not touch the global RNG
(PyHessian's does, so its traces are not reproducible: measurements on a 2-core CPU). Per-probe
values stay on the device until the loop ends: no host synchronisation inside it.

Under ``torchrun`` rank ``r`` of ``R`` computes probes ``r, r + R, …`` (each rank
draws the whole probe stream and keeps its share, so probe ``i`` is the same vector
as in one process) and every rank gets all the values (:mod:`landscape.distributed`).

:func:`hutchpp` is Hutch++ (Meyer, Musco, Musco & Woodruff 2021, "Hutch++: optimal
stochastic trace estimation", SOSA, Algorithm 1): a third of the products sketch the
range of ``A``, a third take the exact trace on it, and a third run Hutchinson on the
rest. At equal products its variance is smaller wherever the spectrum decays, as a
Hessian's does (a few outliers above a bulk): the outliers' share is taken exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from landscape import distributed
from landscape.analysis.hessian.probes import rademacher, rademacher_share
from landscape.specs import TRACE_METHODS

__all__ = ["TRACE_METHODS", "Estimate", "hutchinson", "hutchpp", "probe_values"]


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate: ``value`` ± ``stderr`` from per-probe ``samples``.

    ``stderr`` is NaN with a single probe (no spread to measure).
    """

    value: float
    stderr: float
    samples: np.ndarray

    @classmethod
    def from_samples(cls, samples: np.ndarray) -> Estimate:
        samples = np.asarray(samples, dtype=np.float64)
        n = len(samples)
        stderr = float(samples.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        return cls(float(samples.mean()), stderr, samples)


def hutchinson(
    matvec: Callable[[Tensor], Tensor],
    dim: int,
    probes: int,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Estimate:
    """Estimate ``tr(A)`` of a symmetric operator with ``probes`` Rademacher vectors.

    Args:
        matvec: ``v ↦ Av`` on vectors of length ``dim``.
        dim: the operator's dimension.
        probes: number of probe vectors (≥ 2 for a standard error).
        seed: seed of the probes.
        device, dtype: of the vectors ``matvec`` takes.

    Returns:
        :class:`Estimate` with the per-probe values ``vᵀAv``.
    """
    if probes < 1:
        raise ValueError(f"the trace needs at least one probe, got {probes}")
    values = probe_values(matvec, dim, distributed.my_indices(probes), seed=seed, device=device,
                          dtype=dtype)  # fmt: skip
    samples = distributed.assemble(probes, values)
    return Estimate.from_samples(np.asarray(samples, dtype=np.float64))


def probe_values(
    matvec: Callable[[Tensor], Tensor],
    dim: int,
    keep: Sequence[int],
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> list[float]:
    """``vᵀAv`` for the probes ``keep`` (ascending) of :func:`hutchinson`'s stream: this
    process's share of the probes, the same numbers as in one process."""
    gen = torch.Generator().manual_seed(seed)
    values = torch.zeros(len(keep), device=device, dtype=torch.float64)
    for k, (_, v) in enumerate(rademacher_share(dim, gen, keep, device, dtype)):
        values[k] = torch.dot(v, matvec(v)).double()
    return list(values.cpu().numpy())


def hutchpp(
    matvec: Callable[[Tensor], Tensor],
    dim: int,
    products: int,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Estimate:
    """Hutch++'s estimate of ``tr(A)`` with ``products`` products (Meyer et al. 2021, Alg. 1).

    With ``k = products // 3``: ``Q`` an orthonormal basis of ``A S`` for ``k`` Rademacher
    columns ``S``; the estimate is ``tr(Qᵀ A Q) + mean_j g_jᵀ P A P g_j`` over the other
    ``products − 2k`` Rademacher vectors ``g_j``, with ``P = I − QQᵀ``. Bases are
    orthonormalised in float64.

    Args:
        matvec, dim, device, dtype: as :func:`hutchinson`.
        products: the products to spend (≥ 4, so that Hutchinson's part has 2 vectors).
        seed: seed of the random vectors (one stream: ``S`` first, then the ``g_j``).

    Returns:
        :class:`Estimate` whose ``samples`` are ``tr(QᵀAQ) + g_jᵀPAPg_j`` per vector
        ``g_j``: their mean is the estimate and their spread over ``√n`` its standard
        error (``tr(QᵀAQ)`` is the same in every sample).
    """
    if products < 4:
        raise ValueError(f"Hutch++ needs at least 4 products, got {products}")
    k = products // 3
    gen = torch.Generator().manual_seed(seed)
    draws = [rademacher(dim, gen, device, dtype) for _ in range(products - k)]
    sketch = torch.stack([matvec(s) for s in draws[:k]], dim=1).double()
    q = torch.linalg.qr(sketch).Q  # dim × k, orthonormal
    aq = torch.stack([matvec(c.to(dtype)) for c in q.T], dim=1).double()
    low_rank = torch.trace(q.T @ aq)
    values = torch.zeros(len(draws) - k, dtype=torch.float64, device=q.device)
    for j, g in enumerate(draws[k:]):
        g = g.double()
        pg = g - q @ (q.T @ g)
        values[j] = torch.dot(pg, matvec(pg.to(dtype)).double())
    return Estimate.from_samples((values + low_rank).cpu().numpy())
