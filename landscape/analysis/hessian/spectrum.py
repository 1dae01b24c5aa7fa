"""One call for the whole spectrum report: top-k, trace, density (docs/science.md).

:func:`spectrum` builds a :class:`~landscape.analysis.hessian.hvp.HessianOperator`
over the given data and runs the requested estimators on it, each with its own
seeded stream (``seed`` for the Lanczos start vector, ``seed + 1`` for the
Hutchinson probes, ``seed + 2`` for the SLQ probes), and returns a frozen
:class:`Spectrum` that records every setting, the product counts and the seconds.

Under ``torchrun`` the stages run side by side (:func:`_plan`): rank 0 runs the
Lanczos iteration for the eigenvalues (one sequence of products) while the trace and
density probes go to the least loaded ranks, and every rank gets the one-process
numbers (the eigenvectors stay on rank 0). The product counts are those of one
process, the seconds those of this rank.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor, nn

from landscape import distributed
from landscape.analysis.hessian.diagonal import curvature_diagonal, exact_trace
from landscape.analysis.hessian.gauss_newton import CURVATURES
from landscape.analysis.hessian.hutchinson import TRACE_METHODS, Estimate, hutchpp, probe_values
from landscape.analysis.hessian.hvp import HessianOperator, LossFn
from landscape.analysis.hessian.lanczos import WHICH, TopEigen, top_eigen
from landscape.analysis.hessian.slq import (
    Quadrature,
    quadrature_of,
    slq_rows,
    spectral_density,
)

__all__ = ["Spectrum", "spectrum"]


@dataclass(frozen=True)
class Spectrum:
    """The Hessian spectrum report of one network (docs/science.md).

    Attributes:
        eigenvalues: the ``top_k`` extreme eigenvalues (descending for ``"largest"``).
        eigen_residuals: their error bounds ``|β_m s_{m,i}|`` (same units).
        eigen_converged: all reached the relative tolerance within ``max_steps``.
        eigenvectors: with ``eigenvectors=True``, one ``{name: tensor}`` per
            eigenvalue, full-shaped, zero at pruned coordinates, unit norm.
        trace, trace_stderr: Hutchinson's estimate of ``tr H_m`` and its standard
            error (``None`` when not asked for; stderr ``NaN`` with one probe).
        trace_samples: the per-probe values ``vᵀHv``.
        density_grid, density: the smoothed spectral density (``None`` unless asked).
        density_sigma: the Gaussian kernel's standard deviation.
        quadrature: the SLQ nodes and weights the density came from (reusable for
            ``tr f(H)`` via :func:`~landscape.analysis.hessian.slq.quadrature_trace`).
        num_params: selected parameters; num_kept: of those, the kept coordinates
            (the operator's dimension); num_samples: data samples in the loss.
        hvp_count: Hessian-vector products, per stage and in total.
        seconds: wall-clock seconds, per stage and in total.
        hvp_method: how products were computed; hvp_choice: the ``"auto"`` measurements.
        settings: every argument that shapes the result.
        diagonal: with ``trace_method="exact"``, the curvature diagonal the trace summed
            (``{name: tensor}``, full-shaped; on the rank that computed it, else
            ``None``), for ``spectrum(..., diagonal=...)`` of a block of the same network;
            not in :meth:`to_dict`.
    """

    eigenvalues: np.ndarray
    eigen_residuals: np.ndarray
    eigen_converged: bool
    eigenvectors: list[dict[str, Tensor]] | None
    trace: float | None
    trace_stderr: float | None
    trace_samples: np.ndarray | None
    density_grid: np.ndarray | None
    density: np.ndarray | None
    density_sigma: float | None
    quadrature: Quadrature | None
    num_params: int
    num_kept: int
    num_samples: int
    hvp_count: dict[str, int]
    seconds: dict[str, float]
    hvp_method: str
    hvp_choice: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    diagonal: dict[str, Tensor] | None = None

    def to_dict(self, arrays: bool = True) -> dict[str, Any]:
        """A JSON-ready dict; ``arrays=False`` leaves out the density. The standard error of one
        probe (no spread to measure) becomes ``None``; any other NaN stays, so that the store
        refuses the result (:func:`landscape.jobs.store.check_finite`)."""

        def num(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else float(x)

        out: dict[str, Any] = {
            "eigenvalues": [float(v) for v in self.eigenvalues],
            "eigen_residuals": [float(v) for v in self.eigen_residuals],
            "eigen_converged": self.eigen_converged,
            "trace": None if self.trace is None else float(self.trace),
            "trace_stderr": num(self.trace_stderr),
            # products spent on the trace (Hutch++ keeps fewer samples than it spends)
            "trace_probes": 0
            if self.trace_samples is None or self.settings.get("trace_method") == "exact"
            else int(self.settings.get("trace_probes") or len(self.trace_samples)),
            "density_sigma": num(self.density_sigma),
            "num_params": self.num_params,
            "num_kept": self.num_kept,
            "num_samples": self.num_samples,
            "hvp_count": dict(self.hvp_count),
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
            "hvp_method": self.hvp_method,
            "hvp_choice": self.hvp_choice,
            "settings": dict(self.settings),
        }
        if arrays and self.density is not None:
            out["density_grid"] = self.density_grid.tolist()
            out["density"] = self.density.tolist()
        return out


def _plan(
    world: int, eigen: bool, trace: int, slq_probes: int, slq_steps: int, max_steps: int
) -> tuple[list[int], list[int]]:
    """Which rank runs each trace probe and each SLQ probe under ``torchrun``.

    The eigenvalues' Lanczos run (one sequence of products) goes to rank 0, counted as
    ``max_steps / 2`` products; then each SLQ probe (``slq_steps`` products) and each
    trace probe (one) goes to the least loaded rank (the lowest on a tie). The plan is a
    function of its arguments alone, so every rank makes the same one.
    """
    load = [0.0] * world
    if eigen:
        load[0] += max_steps / 2

    def owners(count: int, cost: float) -> list[int]:
        out = []
        for _ in range(count):
            r = min(range(world), key=lambda k: (load[k], k))
            load[r] += cost
            out.append(r)
        return out

    slq_owner = owners(slq_probes, slq_steps)
    return owners(trace, 1.0), slq_owner


def _stages(
    op: HessianOperator,
    top_k: int,
    trace_probes: int,
    slq_probes: int,
    seed: int,
    tol: float,
    max_steps: int,
    which: str,
    eigenvectors: bool,
    density_steps: int,
    stage: Callable[[str, Callable[[], Any]], Any],
    counts: dict[str, int],
    trace_method: str = "hutchinson",
    diagonal: Mapping[str, Tensor] | None = None,
) -> tuple[TopEigen | None, Estimate | None, Quadrature | None, dict[str, Tensor] | None]:
    """The three stages, split over the ranks under ``torchrun`` (:func:`_plan`), with the
    one-process numbers; on one process rank 0 does all of them, in order.

    Every rank first does its own work (rank 0 the Lanczos run for the eigenvalues, all
    ranks their probes), then one all-gather shares it, so the eigenvalues overlap the
    probes. The eigenvectors stay on rank 0; ``counts`` become the one-process counts
    (every rank's products; ``others``: those not in a stage, e.g. ``auto``'s choice). The
    last item is the exact curvature diagonal this rank summed (``None`` on the other
    ranks, and with an estimator).
    """
    if slq_probes and (slq_probes < 1 or density_steps < 1):
        raise ValueError(
            f"SLQ needs probes ≥ 1 and steps ≥ 1, got {slq_probes} and {density_steps}"
        )
    me, world = distributed.shard_world()
    trace_owner, slq_owner = _plan(world, top_k > 0, trace_probes, slq_probes,
                                   min(density_steps, op.dim), max_steps)  # fmt: skip
    kw = {"device": op.device, "dtype": op.dtype}
    eig = None
    if top_k and me == 0:
        eig = stage("eigenvalues", lambda: top_eigen(
            op, op.dim, top_k, tol=tol, max_steps=max_steps, which=which, seed=seed,
            vectors=eigenvectors, **kw))  # fmt: skip
    values: list[float] = []
    diag = None
    if trace_probes and trace_method == "exact":
        # no products: the exact diagonal (diagonal.py), on the rank the plan gave probe 0
        if trace_owner[0] == me:

            def trace() -> tuple[dict[str, Tensor], float]:
                d = dict(diagonal) if diagonal is not None else curvature_diagonal(op)
                return d, exact_trace(op, d)

            diag, value = stage("trace", trace)
            values = [value]
    elif trace_probes and trace_method == "hutchpp":
        # Hutch++'s products depend on each other (the sketch's basis): one rank runs them
        # all, the one the plan gave the first probe.
        if trace_owner[0] == me:
            values = list(stage("trace", lambda: hutchpp(op, op.dim, trace_probes,
                                                         seed=seed + 1, **kw)).samples)  # fmt: skip
    elif trace_probes:
        mine = [i for i, r in enumerate(trace_owner) if r == me]
        values = stage("trace", lambda: probe_values(op, op.dim, mine, seed=seed + 1, **kw))
    rows: list[Any] = []
    if slq_probes:
        mine_slq = [i for i, r in enumerate(slq_owner) if r == me]
        rows = stage("density", lambda: slq_rows(op, op.dim, mine_slq, steps=density_steps,
                                                 seed=seed + 2, **kw))  # fmt: skip
    summary = None if eig is None else (eig.values, eig.residuals, eig.converged, eig.steps)
    local = dict(counts)
    mine = (summary, values, rows, local)
    # world is 1 on one process and inside ``alone()`` (a rank measuring a level by itself)
    shared = distributed.all_gather_objects(mine) if world > 1 else [mine]
    if top_k and me != 0:
        eig = TopEigen(shared[0][0][0], shared[0][0][1], None, shared[0][0][2], shared[0][0][3])
    # a stage any rank ran (Hutch++'s trace runs on one rank, not necessarily rank 0)
    for k in [k for k in ("eigenvalues", "trace", "density") if any(k in p[3] for p in shared)]:
        counts[k] = sum(part[3].get(k, 0) for part in shared)
    # One process's total: every rank's stage products and this rank's others (e.g. the
    # products of the ``auto`` method's choice, which one process makes once).
    counts["others"] = sum(counts.values()) - sum(local.values())
    tr = quad = None
    if trace_probes and trace_method == "exact":
        value = float(shared[trace_owner[0]][1][0])
        tr = Estimate(value, 0.0, np.asarray([value]))
    elif trace_probes and trace_method == "hutchpp":
        tr = Estimate.from_samples(np.asarray(shared[trace_owner[0]][1]))
    elif trace_probes:
        tr = Estimate.from_samples(np.asarray(_placed(trace_owner, [p[1] for p in shared])))
    if slq_probes:
        quad = quadrature_of(op.dim, min(density_steps, op.dim),
                             _placed(slq_owner, [p[2] for p in shared]))  # fmt: skip
    return eig, tr, quad, diag


def _placed(owner: list[int], parts: list[list[Any]]) -> list[Any]:
    """Item ``i`` from rank ``owner[i]``'s list (each rank's items in ascending order)."""
    taken = [0] * len(parts)
    out = []
    for r in owner:
        out.append(parts[r][taken[r]])
        taken[r] += 1
    return out


def spectrum(
    model: nn.Module,
    data: tuple[Tensor, Tensor] | Iterable[tuple[Tensor, Tensor]],
    top_k: int = 5,
    trace_probes: int = 0,
    density: bool = False,
    mask: Mapping[str, Tensor] | None = None,
    seed: int = 0,
    *,
    loss_fn: LossFn | None = None,
    params: Sequence[str] | None = None,
    eigenvectors: bool = False,
    tol: float = 1e-3,
    max_steps: int = 100,
    which: str = "largest",
    density_steps: int = 100,
    density_probes: int = 1,
    density_bins: int = 1000,
    sigma_squared: float = 1e-5,
    chunk_size: int | None = None,
    method: str = "auto",
    memory_budget: int | None = None,
    progress: Callable[[], object] | None = None,
    curvature: str = "hessian",
    trace_method: str = "hutchinson",
    diagonal: Mapping[str, Tensor] | None = None,
) -> Spectrum:
    """Top-k eigenvalues, trace and spectral density of the training-loss Hessian (docs/science.md).

    The loss is the mean of ``loss_fn`` over every sample of ``data``, with
    BatchNorm in eval mode; with a ``mask``, the Hessian is restricted to the kept
    coordinates (``H_m = m ⊙ H ⊙ m`` on the kept subspace). Everything runs on the
    model's device and dtype.

    Args:
        model: the network at the point of interest (not modified).
        data: ``(inputs, targets)`` or an iterable of such pairs.
        top_k: extreme eigenvalues by Lanczos (0: skip).
        trace_probes: Hutchinson probes for the trace (0: skip).
        density: estimate the spectral density by SLQ.
        mask: ``{name: bool tensor}`` over (some) parameters; ``True`` keeps.
        seed: base seed (Lanczos: ``seed``, trace: ``seed + 1``, density: ``seed + 2``).
        loss_fn: ``loss_fn(outputs, targets)``, a mean over the chunk (default
            cross-entropy).
        params: parameter names to restrict to (default all trainable ones), e.g.
            one layer from :func:`~landscape.analysis.hessian.hvp.param_groups`.
        eigenvectors: also return the Ritz vectors.
        tol: relative residual tolerance of the eigenvalues (a bound on their
            relative error).
        max_steps: the most Lanczos steps for the eigenvalues.
        which: ``"largest"``, ``"smallest"`` or ``"magnitude"``.
        density_steps, density_probes: SLQ steps per probe and probes (PyHessian:
            100 and 1).
        density_bins, sigma_squared: the density grid and the relative kernel
            variance (:func:`~landscape.analysis.hessian.slq.spectral_density`).
        chunk_size, method, memory_budget: how products are computed
            (:class:`~landscape.analysis.hessian.hvp.HessianOperator`); they change
            the speed, not the numbers.
        progress: called after every Hessian-vector product (e.g. ``bar.update``).
        curvature: the matrix whose spectrum is measured: ``"hessian"``, ``"ggn"``
            (generalised Gauss-Newton, Martens 2020 §8) or ``"fisher"`` (empirical
            Fisher, Kunstner et al. 2019); see
            :mod:`~landscape.analysis.hessian.gauss_newton`.
        trace_method: ``"hutchinson"`` or ``"hutchpp"`` (Hutch++, Meyer et al. 2021),
            both spending ``trace_probes`` products, or ``"exact"``: the exact diagonal
            summed, no products (:mod:`~landscape.analysis.hessian.diagonal`; for the
            Hessian the network must be piecewise linear in each parameter; any
            ``trace_probes`` > 0 asks for it).
        diagonal: with ``trace_method="exact"``, the same curvature's diagonal already
            computed on the same model and data over at least ``params`` (e.g.
            :attr:`Spectrum.diagonal` of the whole network, for one layer's block):
            summed instead of computed again.

    Returns:
        :class:`Spectrum`.

    Example:
        >>> import torch
        >>> net = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
        >>> x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
        >>> s = spectrum(net, (x, y), top_k=2, trace_probes=10)
        >>> s.eigenvalues.shape, s.num_kept
        ((2,), 23)
    """
    if top_k < 0 or trace_probes < 0:
        raise ValueError("top_k and trace_probes must be ≥ 0 (0 skips that estimate)")
    if which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}, got {which!r}")
    if tol <= 0:
        raise ValueError(f"tol must be positive, got {tol}")
    if trace_method not in TRACE_METHODS:
        raise ValueError(
            f"unknown trace method {trace_method!r}: use one of {', '.join(TRACE_METHODS)}"
        )
    if curvature not in CURVATURES:
        raise ValueError(f"unknown curvature {curvature!r}: use one of {', '.join(CURVATURES)}")
    t_start = time.perf_counter()
    op = HessianOperator(
        model, data, loss_fn=loss_fn, params=params, mask=mask, chunk_size=chunk_size,
        method=method, memory_budget=memory_budget, on_product=progress, curvature=curvature,
    )  # fmt: skip
    if top_k > op.dim:
        raise ValueError(
            f"top_k={top_k} exceeds the {op.dim} kept coordinates; ask for at most {op.dim}"
        )
    settings = {
        "top_k": top_k, "trace_probes": trace_probes, "density": density,
        "masked": mask is not None, "seed": seed, "tol": tol, "max_steps": max_steps,
        "which": which, "density_steps": density_steps, "density_probes": density_probes,
        "density_bins": density_bins, "sigma_squared": sigma_squared,
        "params": list(op.coords.names) if params is not None else "all",
        "loss": getattr(op.loss_fn, "__name__", type(op.loss_fn).__name__),
        "dtype": str(op.dtype).removeprefix("torch."), "device": str(op.device),
        "chunk_size": chunk_size or int(op.chunks[0][0].shape[0]),
        "bn_mode": "eval", "curvature": curvature, "trace_method": trace_method,
    }  # fmt: skip
    seconds: dict[str, float] = {}
    counts: dict[str, int] = {}

    def stage(name: str, fn):
        t0, c0 = time.perf_counter(), op.count
        out = fn()
        seconds[name] = time.perf_counter() - t0
        counts[name] = op.count - c0
        return out

    eig, tr, quad, diag = _stages(
        op, top_k, trace_probes, density_probes if density else 0, seed, tol, max_steps,
        which, eigenvectors, density_steps, stage, counts, trace_method, diagonal,
    )  # fmt: skip
    return _finish(op, eig, tr, quad, eigenvectors, density_bins, sigma_squared, t_start,
                   seconds, counts, settings, diag)  # fmt: skip


def _finish(
    op: HessianOperator,
    eig: TopEigen | None,
    tr: Estimate | None,
    quad: Quadrature | None,
    eigenvectors: bool,
    density_bins: int,
    sigma_squared: float,
    t_start: float,
    seconds: dict[str, float],
    counts: dict[str, int],
    settings: dict[str, Any],
    diagonal: dict[str, Tensor] | None = None,
) -> Spectrum:
    """The :class:`Spectrum` of the stages' results (the operator is released)."""
    vecs = None
    if eigenvectors and eig is not None and eig.vectors is not None:
        vecs = [{n: t.clone() for n, t in op.to_state(v).items()} for v in eig.vectors]
    dens = None
    if quad is not None:
        dens = spectral_density(quad, num_bins=density_bins, sigma_squared=sigma_squared)
    method_used = op.method
    op.release()
    seconds["total"] = time.perf_counter() - t_start
    counts["total"] = op.count + counts.pop("others", 0)
    for name in counts:  # under torchrun: a stage this rank had no share of
        seconds.setdefault(name, 0.0)
    return Spectrum(
        eigenvalues=eig.values if eig is not None else np.zeros(0),
        eigen_residuals=eig.residuals if eig is not None else np.zeros(0),
        eigen_converged=eig.converged if eig is not None else True,
        eigenvectors=vecs,
        trace=tr.value if tr is not None else None,
        trace_stderr=tr.stderr if tr is not None else None,
        trace_samples=tr.samples if tr is not None else None,
        density_grid=dens.grid if dens is not None else None,
        density=dens.values if dens is not None else None,
        density_sigma=dens.sigma if dens is not None else None,
        quadrature=quad,
        num_params=op.num_params,
        num_kept=op.dim,
        num_samples=op.num_samples,
        hvp_count=counts,
        seconds=seconds,
        hvp_method=method_used,
        hvp_choice=dict(op.choice),
        settings=settings,
        diagonal=diagonal,
    )
