"""Re-equilibration of the kept weights after pruning [PAUL §3.4] (docs/science.md, section 11).

Pruning level ``L`` projects its solution ``w^(L)`` (trained under ``m_L``) onto the next mask,
``m_{L+1} ⊙ w^(L)``, and retraining then produces ``w^(L+1)``. [PAUL §3.4] argues that
retraining *re-equilibrates* the weights: it spreads the kept magnitudes out again, so that the
next pruning step again removes only little weight norm. Per level ``L`` (with a level ``L+1``),
over the prunable tensors and the kept set ``K = m_{L+1}``, :func:`level_stats` measures:

- **histograms** of ``log10 |w_i|``, ``i ∈ K``, at the projection (``w^(L)_i``) and after
  retraining (``w^(L+1)_i``), on given bin edges; kept weights that are exactly 0 are counted
  apart (``zeros_*``), not binned;
- the **level-L threshold** ``t_L = max |w^(L)_i|`` over the coordinates ``m_{L+1}`` removes
  (``m_L ∧ ¬m_{L+1}``) and the **fraction below it**: ``#{i ∈ K : |w_i| < t_L} / |K|`` after
  retraining (``below_retrained``) and, as a control, at the projection (``below_projection``,
  0 for global magnitude pruning up to ties);
- the **relative projection length with retraining**
  ``ρ_L = ‖w − m_{L+1} ⊙ w‖ / ‖w‖`` with ``w = m_L ⊙ w^(L)`` (the step IMP takes from the
  retrained level-L solution), and **without retraining**
  ``ρ̃_L = ‖p − m̃ ⊙ p‖ / ‖p‖`` with ``p = m_L ⊙ w^(L−1)`` (level ``L`` not retrained) and ``m̃``
  the global magnitude mask removing from ``p``, within ``m_L``, as many weights as ``m_{L+1}``
  removes from ``m_L`` (so only the retraining of level ``L`` differs; ``None`` for ``L = 0``);
- the **overlap of successive pruning steps**: with ``k = round(f · |K|)`` (``f`` the run's
  ``--prune-fraction``), ``R`` the ``k`` smallest ``|w^(L+1)_i|`` and ``R̃`` the ``k`` smallest
  ``|w^(L)_i|`` over ``i ∈ K`` (ties by position, as :func:`landscape.pruning.prune`),
  ``removed_overlap = |R ∩ R̃| / k``: of the weights the next magnitude step removes after
  retraining (``R = m_{L+1} ∧ ¬m_{L+2}`` for a global-magnitude run), the share the projection's
  own ranking would have removed. Chance (independent rankings) is ``k / |K| ≈ f``
  (``overlap_chance``); 1 means retraining left the ranking of the small weights as it was.
  (The mask overlap ``|m_{L+1} ∧ m_L| / |m_{L+1}|`` is 1 for nested masks and is not reported.)

Norms and counts run over the prunable tensors only (the mask's). Pure functions: tensors
in, a frozen :class:`LevelStats` out, no files.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["LevelStats", "histogram_edges", "level_stats", "log10_kept"]


def _flat(state: Mapping[str, Tensor], names: list[str], dtype: torch.dtype) -> Tensor:
    return torch.cat([state[n].detach().reshape(-1).cpu().to(dtype) for n in names])


def _smallest(values: Tensor, kept: Tensor, k: int) -> Tensor:
    """Indices (into the flat vector) of the ``k`` kept entries of smallest ``|value|``, ties by
    position (stable sort; as :func:`landscape.pruning.prune`)."""
    idx = kept.nonzero().squeeze(1)
    order = torch.argsort(values[idx].abs(), stable=True)
    return idx[order[:k]]


def log10_kept(weights: Mapping[str, Tensor], mask: Mapping[str, Tensor]) -> np.ndarray:
    """``log10 |w_i|`` of the kept, nonzero prunable weights (mask order)."""
    names = list(mask)
    w = _flat(weights, names, torch.float64)
    k = _flat(mask, names, torch.bool)
    v = w[k].abs()
    return torch.log10(v[v > 0]).numpy()


def histogram_edges(samples: Iterable[np.ndarray], bins: int) -> np.ndarray:
    """``bins + 1`` evenly spaced edges covering every sample, widened outward to 0.1
    decade (shared by every histogram of a comparison)."""
    if bins < 2:
        raise ValueError(f"bins must be ≥ 2, got {bins}")
    lo, hi = math.inf, -math.inf
    for s in samples:
        if len(s):
            lo, hi = min(lo, float(np.min(s))), max(hi, float(np.max(s)))
    if not math.isfinite(lo):
        raise ValueError("no nonzero kept weight to histogram")
    lo, hi = math.floor(lo * 10) / 10, math.ceil(hi * 10) / 10
    if hi <= lo:
        hi = lo + 0.1
    return np.linspace(lo, hi, bins + 1)


@dataclass(frozen=True)
class LevelStats:
    """The re-equilibration measurements of one level ``L`` (module docstring)."""

    level: int
    num_kept: int  # |m_{L+1}|
    num_removed: int  # |m_L| − |m_{L+1}|
    kept_fraction: float  # |m_{L+1}| / prunable weights
    threshold: float | None  # t_L
    below_projection: float | None
    below_retrained: float | None
    projection_length: float  # ρ_L
    projection_length_without_retraining: float | None  # ρ̃_L
    removed_overlap: float | None
    overlap_chance: float | None
    hist_projection: tuple[int, ...]
    hist_retrained: tuple[int, ...]
    zeros_projection: int
    zeros_retrained: int
    median_log10_projection: float | None
    median_log10_retrained: float | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["hist_projection"] = list(self.hist_projection)
        out["hist_retrained"] = list(self.hist_retrained)
        return out


def level_stats(
    level: int,
    weights: Mapping[str, Tensor],
    retrained: Mapping[str, Tensor],
    mask: Mapping[str, Tensor],
    next_mask: Mapping[str, Tensor],
    edges: np.ndarray,
    *,
    previous: Mapping[str, Tensor] | None = None,
    fraction: float = 0.2,
) -> LevelStats:
    """The measurements of level ``L`` (module docstring) [PAUL §3.4].

    Args:
        level: ``L``.
        weights: ``w^(L)``; retrained: ``w^(L+1)``; previous: ``w^(L−1)`` (for ``ρ̃_L``; ``None``
            at level 0 or when missing).
        mask: ``m_L``; next_mask: ``m_{L+1} ≤ m_L`` (the prunable tensors).
        edges: histogram bin edges of ``log10 |w|`` (:func:`histogram_edges`); values outside
            are not counted.
        fraction: the run's ``--prune-fraction`` ``f``, for the overlap's ``k = round(f · |K|)``.

    Raises:
        ValueError: the masks do not nest or keep nothing.
    """
    names = list(mask)
    if set(next_mask) != set(names):
        raise ValueError("m_L and m_{L+1} cover different tensors; use masks of one run")
    m = _flat(mask, names, torch.bool)
    k = _flat(next_mask, names, torch.bool)
    if bool((k & ~m).any()):
        raise ValueError(
            f"the mask of level {level + 1} keeps weights level {level} had pruned; masks only "
            "shrink: the run directory is damaged, re-run its runner"
        )
    kept = int(k.sum())
    if kept == 0:
        raise ValueError(f"the mask of level {level + 1} keeps no weight")
    w = _flat(weights, names, torch.float64) * m
    r = _flat(retrained, names, torch.float64)
    gone = m & ~k
    removed = int(gone.sum())
    threshold = float(w[gone].abs().max()) if removed else None
    below_p = below_r = None
    if threshold is not None:
        below_p = int((w[k].abs() < threshold).sum()) / kept
        below_r = int((r[k].abs() < threshold).sum()) / kept
    norm = float(w.norm())
    rho = float(w[gone].norm()) / norm if norm > 0 else math.nan
    rho_tilde = None
    if previous is not None:
        p = _flat(previous, names, torch.float64) * m
        small = _smallest(p, m, removed)
        pn = float(p.norm())
        rho_tilde = float(p[small].norm()) / pn if pn > 0 else math.nan
    n_next = round(fraction * kept)
    overlap = chance = None
    if 0 < n_next < kept:
        a = set(_smallest(r, k, n_next).tolist())
        b = set(_smallest(w, k, n_next).tolist())
        overlap, chance = len(a & b) / n_next, n_next / kept
    hists, zeros, medians = [], [], []
    for v in (w[k].abs(), r[k].abs()):
        logs = torch.log10(v[v > 0]).numpy()
        hists.append(tuple(int(c) for c in np.histogram(logs, bins=edges)[0]))
        zeros.append(int((v == 0).sum()))
        medians.append(float(np.median(logs)) if len(logs) else None)
    return LevelStats(
        level=level, num_kept=kept, num_removed=removed, kept_fraction=kept / m.numel(),
        threshold=threshold, below_projection=below_p, below_retrained=below_r,
        projection_length=rho, projection_length_without_retraining=rho_tilde,
        removed_overlap=overlap, overlap_chance=chance, hist_projection=hists[0],
        hist_retrained=hists[1], zeros_projection=zeros[0], zeros_retrained=zeros[1],
        median_log10_projection=medians[0], median_log10_retrained=medians[1],
    )  # fmt: skip
