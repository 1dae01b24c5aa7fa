"""Robustness of the pruned rewind point [PAUL §3.2] (docs/science.md, section 11): the
perturbation math, without files or training.

For an IMP-WR run and a level ``L``, the next pruning step moves the rewind point by

    d_L = ‖m_L ⊙ w_τ − m_{L+1} ⊙ w_τ‖,

which :func:`step_distance` computes. The analysis perturbs the pruned rewind point
``m_{L+1} ⊙ w_τ`` by ``δ`` with ``‖δ‖ = r · d_L``, ``δ`` a Gaussian direction inside the
kept subspace of ``m_{L+1}`` (:func:`perturbation`). Only the **prunable kept weights** are
perturbed: ``δ`` is zero on every coordinate ``m_{L+1}`` prunes and on every tensor the
mask does not cover (biases, BatchNorm parameters and buffers), because ``d_L`` is measured
on the prunable weights only (the masks cover nothing else) — *ours*.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["kept_direction", "perturb", "perturbation", "spread", "step_distance"]


def step_distance(
    rewind: Mapping[str, Tensor], mask: Mapping[str, Tensor], next_mask: Mapping[str, Tensor]
) -> float:
    """``d_L = ‖m_L ⊙ w_τ − m_{L+1} ⊙ w_τ‖`` [PAUL §3.2], in float64.

    Args:
        rewind: the rewind point ``w_τ`` (a state dict; only the masked tensors are read).
        mask, next_mask: ``m_L`` and ``m_{L+1}`` (``True``/1 keeps), over the same tensors.

    Raises:
        ValueError: the masks cover different tensors, or a shape differs from ``w_τ``'s.
    """
    if set(mask) != set(next_mask):
        raise ValueError(
            "m_L and m_{L+1} must cover the same tensors; got "
            f"{sorted(set(mask) ^ set(next_mask))[:3]} in one only (masks of one run do)"
        )
    total = 0.0
    for name in sorted(mask):
        w = _tensor(rewind, name).detach().double().cpu()
        m, n = mask[name].cpu().double(), next_mask[name].cpu().double()
        if not (w.shape == m.shape == n.shape):
            raise ValueError(
                f"{name}: w_τ {tuple(w.shape)}, m_L {tuple(m.shape)} and m_(L+1) "
                f"{tuple(n.shape)} must have one shape (pass the run's own files)"
            )
        total += float((((m - n) * w) ** 2).sum())
    return math.sqrt(total)


def kept_direction(mask: Mapping[str, Tensor], seed: int) -> dict[str, Tensor]:
    """A unit Gaussian direction inside the kept subspace of ``mask``, in float64 on the CPU.

    Entries are i.i.d. standard normal on the kept coordinates, drawn from a
    ``torch.Generator`` seeded with ``seed`` in the order of the sorted tensor names (so
    the direction depends on the seed and the mask only, not on device or process),
    zero on the pruned ones, and the whole is scaled to norm 1.

    Raises:
        ValueError: the mask keeps nothing (there is no kept subspace to perturb in).
    """
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    out: dict[str, Tensor] = {}
    for name in sorted(mask):
        keep = mask[name].detach().cpu().bool()
        out[name] = torch.randn(keep.shape, generator=gen, dtype=torch.float64) * keep
    norm = math.sqrt(sum(float((v**2).sum()) for v in out.values()))
    if norm == 0.0:
        raise ValueError(
            "the mask keeps no weight, so no perturbation fits inside it; pick a level whose "
            "next mask keeps weights"
        )
    return {k: v / norm for k, v in out.items()}


def perturbation(mask: Mapping[str, Tensor], norm: float, seed: int) -> dict[str, Tensor]:
    """``δ = norm · u``, ``u = kept_direction(mask, seed)`` [PAUL §3.2]: float64, CPU.

    ``‖δ‖ = norm`` (to float64 rounding), ``δ = 0`` wherever ``mask`` is 0, one tensor per
    masked (prunable) tensor; non-prunable tensors get no entry (they are not perturbed).

    Raises:
        ValueError: ``norm`` is negative or not finite, or the mask keeps nothing.
    """
    if not (norm >= 0 and math.isfinite(norm)):
        raise ValueError(f"the perturbation's norm must be finite and ≥ 0, got {norm}")
    return {k: v * float(norm) for k, v in kept_direction(mask, seed).items()}


def perturb(
    state: Mapping[str, Tensor], mask: Mapping[str, Tensor], norm: float, seed: int
) -> dict[str, Tensor]:
    """A copy of ``state`` plus :func:`perturbation` ``(mask, norm, seed)`` on the masked
    tensors (each in its own dtype and device); every other tensor is copied unchanged.
    The sum is formed in float64 and rounded once to the tensor's dtype, so the step taken
    is ``δ`` to that precision (in float32, each coordinate within ``2⁻²⁴·|w + δ|``).
    ``norm = 0`` returns an exact copy."""
    out = {k: v.detach().clone() for k, v in state.items()}
    if norm == 0:
        return out
    for name, d in perturbation(mask, norm, seed).items():
        w = _tensor(out, name)
        out[name] = (w.double() + d.to(w.device)).to(w.dtype)
    return out


def spread(values: np.ndarray | Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample standard deviation over the last axis (seeds); the standard deviation
    is 0 for a single seed (``ddof = 1`` needs two)."""
    v = np.asarray(values, dtype=np.float64)
    return v.mean(-1), v.std(-1, ddof=1 if v.shape[-1] > 1 else 0)


def _tensor(state: Mapping[str, Tensor], name: str) -> Tensor:
    if name not in state:
        raise ValueError(
            f"the mask covers {name!r}, which the state lacks (a mask and weights of one run "
            "cover the same tensors)"
        )
    return state[name]
