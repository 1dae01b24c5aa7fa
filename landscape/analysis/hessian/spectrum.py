"""One call for the whole spectrum report: top-k, trace, density (docs/science.md).

:func:`spectrum` builds a :class:`~landscape.analysis.hessian.hvp.HessianOperator`
over the given data and runs the requested estimators on it, each with its own
seeded stream (``seed`` for the Lanczos start vector, ``seed + 1`` for the
Hutchinson probes, ``seed + 2`` for the SLQ probes), and returns a frozen
:class:`Spectrum` that records every setting, the product counts and the seconds.

Under ``torchrun`` the trace and density probes are split over the ranks (each rank
gets the one-process numbers); the Lanczos run for the eigenvalues is one sequence of
products, which every rank repeats. The product counts are those of one process
(the probe stages summed over ranks), the seconds those of this rank.
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
from landscape.analysis.hessian.hutchinson import hutchinson
from landscape.analysis.hessian.hvp import HessianOperator, LossFn
from landscape.analysis.hessian.lanczos import WHICH, top_eigen
from landscape.analysis.hessian.slq import Quadrature, slq, spectral_density

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

    def to_dict(self, arrays: bool = True) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes ``None``); ``arrays=False`` leaves out the density."""

        def num(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else float(x)

        out: dict[str, Any] = {
            "eigenvalues": [float(v) for v in self.eigenvalues],
            "eigen_residuals": [float(v) for v in self.eigen_residuals],
            "eigen_converged": self.eigen_converged,
            "trace": num(self.trace),
            "trace_stderr": num(self.trace_stderr),
            "trace_probes": 0 if self.trace_samples is None else len(self.trace_samples),
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


def _count_all_ranks(counts: dict[str, int], shared: Sequence[str]) -> None:
    """Put the products of the ``shared`` (split) stages of every rank into ``counts``."""
    if distributed.shard_world()[1] == 1:
        return
    stages = [s for s in shared if s in counts]
    per_rank = distributed.all_gather_objects([counts[s] for s in stages])
    for k, stage in enumerate(stages):
        everyone = sum(r[k] for r in per_rank)
        counts["total"] += everyone - counts[stage]
        counts[stage] = everyone


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
    t_start = time.perf_counter()
    op = HessianOperator(
        model, data, loss_fn=loss_fn, params=params, mask=mask, chunk_size=chunk_size,
        method=method, memory_budget=memory_budget, on_product=progress,
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
        "bn_mode": "eval",
    }  # fmt: skip
    seconds: dict[str, float] = {}
    counts: dict[str, int] = {}
    kw = {"device": op.device, "dtype": op.dtype}

    def stage(name: str, fn):
        t0, c0 = time.perf_counter(), op.count
        out = fn()
        seconds[name] = time.perf_counter() - t0
        counts[name] = op.count - c0
        return out

    eig = vecs = None
    if top_k:
        eig = stage(
            "eigenvalues",
            lambda: top_eigen(
                op, op.dim, top_k, tol=tol, max_steps=max_steps, which=which, seed=seed,
                vectors=eigenvectors, **kw,
            ),
        )  # fmt: skip
        if eigenvectors and eig.vectors is not None:
            vecs = [{n: t.clone() for n, t in op.to_state(v).items()} for v in eig.vectors]
    tr = None
    if trace_probes:
        tr = stage("trace", lambda: hutchinson(op, op.dim, trace_probes, seed=seed + 1, **kw))
    quad = dens = None
    if density:
        quad = stage(
            "density",
            lambda: slq(
                op, op.dim, probes=density_probes, steps=density_steps, seed=seed + 2, **kw
            ),
        )
        dens = spectral_density(quad, num_bins=density_bins, sigma_squared=sigma_squared)
    method_used = op.method
    op.release()
    seconds["total"] = time.perf_counter() - t_start
    counts["total"] = op.count
    _count_all_ranks(counts, ("trace", "density"))
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
    )
