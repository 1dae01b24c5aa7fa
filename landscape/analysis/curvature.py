"""The curvature of the pruning direction, magnitude against random masks [PAUL §3.3].

At a level's solution ``w = w^(L)`` (trained under ``m_L``), pruning to a smaller mask
``m' ≤ m_L`` jumps along the direction

    Δ = m' ⊙ w − m_L ⊙ w          (= m' ⊙ w − w for a level's weights, which are 0 off m_L),

which is ``−w_i`` on the coordinates ``m'`` removes and 0 everywhere else. Its curvature
is the Rayleigh quotient of the training-loss Hessian ``H`` (all parameters, BatchNorm in
eval mode, a fixed data set; :class:`~landscape.analysis.hessian.hvp.HessianOperator`):

    κ(m') = Δᵀ H Δ / ‖Δ‖²,

one Hessian-vector product per direction. [PAUL §3.3] expects the magnitude mask to pick
flatter directions (smaller κ) than random masks removing as many weights; :func:`curvature`
measures κ for one mask against ``n`` random masks of the same size inside ``m_L``
(docs/science.md, "The flatness bound on the pruning ratio", related measurements).

Pure functions: tensors in, a frozen :class:`CurvatureResult` out, no files. Under
``torchrun`` the directions are split over the ranks (:mod:`landscape.distributed`), each
rank getting the one-process result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from landscape import distributed
from landscape.analysis.hessian.hvp import HessianOperator, LossFn
from landscape.errors import LandscapeError

__all__ = [
    "CurvatureResult",
    "curvature",
    "direction_curvature",
    "pruning_direction",
    "random_masks",
    "removed_count",
]

Mask = dict[str, Tensor]


def _check_nested(mask: Mapping[str, Tensor], inner: Mapping[str, Tensor], what: str) -> None:
    if set(inner) != set(mask):
        raise ValueError(
            f"{what} covers tensors {sorted(inner)[:4]}... but the level's mask covers "
            f"{sorted(mask)[:4]}...; use masks of the same run (same --prune-scope)"
        )
    for n, m in mask.items():
        if inner[n].shape != m.shape:
            raise ValueError(
                f"{what}: {n} has shape {tuple(inner[n].shape)}, the level's mask "
                f"{tuple(m.shape)}; use masks of the same architecture"
            )
        if bool((inner[n].bool() & ~m.to(inner[n].device).bool()).any()):
            raise ValueError(
                f"{what} keeps weights of {n} that the level's mask has pruned; masks only "
                "shrink: pass the mask of the next level of the same run"
            )


def removed_count(mask: Mapping[str, Tensor], smaller: Mapping[str, Tensor]) -> int:
    """``|m| − |m'|``: how many kept coordinates ``smaller`` (``m' ≤ m``) removes."""
    return sum(int(m.bool().sum()) for m in mask.values()) - sum(
        int(s.bool().sum()) for s in smaller.values()
    )


def pruning_direction(
    weights: Mapping[str, Tensor], mask: Mapping[str, Tensor], smaller: Mapping[str, Tensor]
) -> dict[str, Tensor]:
    """``Δ = m' ⊙ w − m ⊙ w`` on the mask's tensors: ``−w_i`` where ``smaller`` (``m'``)
    removes a coordinate ``mask`` (``m``) keeps, 0 elsewhere [PAUL §3.3].

    For a level's weights (exactly 0 off ``m_L``) this is ``m' ⊙ w − w``.
    """
    out = {}
    for n, m in mask.items():
        w = weights[n].detach()
        gone = m.to(w.device).bool() & ~smaller[n].to(w.device).bool()
        out[n] = torch.where(gone, -w, torch.zeros_like(w))
    return out


def random_masks(mask: Mapping[str, Tensor], removed: int, count: int, seed: int) -> list[Mask]:
    """``count`` masks inside ``mask``, each removing exactly ``removed`` of its kept
    coordinates, drawn uniformly over all kept prunable coordinates (one global draw, as
    ``--prune-strategy random``; docs/science.md, "Pruning rules").

    One ``torch.Generator`` seeded with ``seed`` draws the masks in turn on the CPU, so they
    do not depend on the device.
    """
    names = list(mask)
    flat = torch.cat([mask[n].reshape(-1).bool().cpu() for n in names])
    kept = flat.nonzero().squeeze(1)
    if not 0 < removed < kept.numel():
        raise ValueError(
            f"a random mask must remove between 1 and {kept.numel() - 1} of the {kept.numel()} "
            f"kept weights, got {removed}"
        )
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        new = flat.clone()
        new[kept[torch.randperm(kept.numel(), generator=g)[:removed]]] = False
        parts, i = {}, 0
        for n in names:
            k = mask[n].numel()
            parts[n] = new[i : i + k].view(mask[n].shape).to(mask[n].device)
            i += k
        out.append(parts)
    return out


def direction_curvature(
    op: HessianOperator, direction: Mapping[str, Tensor]
) -> tuple[float, float]:
    """``(ΔᵀHΔ, ‖Δ‖²)`` for a direction on some of the operator's parameters (the others 0);
    one Hessian-vector product. The operator must be unmasked or its mask must keep Δ's support.
    """
    full = {
        n: direction[n].to(op.device, op.dtype) if n in direction
        else torch.zeros(s, device=op.device, dtype=op.dtype)
        for n, s in zip(op.coords.names, op.coords.shapes)
    }  # fmt: skip
    unknown = sorted(set(direction) - set(op.coords.names))
    if unknown:
        raise ValueError(f"the direction names tensors the operator lacks: {unknown[:4]}")
    v = op.from_state(full)
    hv = op(v)
    return float(v.double() @ hv.double()), float(v.double() @ v.double())


@dataclass(frozen=True)
class CurvatureResult:
    """κ of the magnitude direction and of ``n`` random directions of the same size.

    Attributes:
        kappa_magnitude: ``ΔᵀHΔ/‖Δ‖²`` for the given (magnitude) mask.
        kappa_random: the same for each random mask.
        quad_magnitude, quad_random: ``ΔᵀHΔ`` (twice the quadratic model's loss increase).
        norm_magnitude, norm_random: ``‖Δ‖`` (the projection length, prunable weights).
        weight_norm: ``‖m_L ⊙ w‖`` over the prunable tensors.
        num_params: parameters in ``H`` (all of them); num_kept: ``|m_L|``;
        num_removed: weights each mask removes; num_samples: samples in the loss.
        hvp_count, hvp_method, seconds: cost of the measurement.
        masks: the random masks (not recorded in ``to_dict``).
    """

    kappa_magnitude: float
    kappa_random: tuple[float, ...]
    quad_magnitude: float
    quad_random: tuple[float, ...]
    norm_magnitude: float
    norm_random: tuple[float, ...]
    weight_norm: float
    num_params: int
    num_kept: int
    num_removed: int
    num_samples: int
    hvp_count: int
    hvp_method: str
    seconds: float
    masks: tuple[Mask, ...] = field(default=(), repr=False, compare=False)

    @property
    def random_mean(self) -> float:
        return float(np.mean(self.kappa_random))

    @property
    def random_std(self) -> float | None:
        """Sample standard deviation (``ddof=1``) of the random κ; ``None`` with one mask."""
        if len(self.kappa_random) < 2:
            return None
        return float(np.std(self.kappa_random, ddof=1))

    @property
    def ratio(self) -> float | None:
        """``κ_magnitude / mean κ_random`` (``None`` when the mean is 0)."""
        mean = self.random_mean
        return None if mean == 0 else self.kappa_magnitude / mean

    @property
    def random_flatter(self) -> int:
        """How many random masks have a smaller κ than the magnitude mask."""
        return sum(k < self.kappa_magnitude for k in self.kappa_random)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kappa_magnitude": self.kappa_magnitude,
            "kappa_random": list(self.kappa_random),
            "kappa_random_mean": self.random_mean,
            "kappa_random_std": self.random_std,
            "kappa_ratio": self.ratio,
            "random_flatter": self.random_flatter,
            "quad_magnitude": self.quad_magnitude,
            "quad_random": list(self.quad_random),
            "norm_magnitude": self.norm_magnitude,
            "norm_random": list(self.norm_random),
            "weight_norm": self.weight_norm,
            "num_params": self.num_params,
            "num_kept": self.num_kept,
            "num_removed": self.num_removed,
            "num_samples": self.num_samples,
            "hvp_count": self.hvp_count,
            "hvp_method": self.hvp_method,
            "seconds": self.seconds,
        }


def curvature(
    model: nn.Module,
    data: tuple[Tensor, Tensor] | Iterable[tuple[Tensor, Tensor]],
    mask: Mapping[str, Tensor],
    magnitude_mask: Mapping[str, Tensor],
    *,
    random: int = 8,
    seed: int = 0,
    loss_fn: LossFn | None = None,
    chunk_size: int | None = None,
    method: str = "auto",
    memory_budget: int | None = None,
    progress: Callable[[], object] | None = None,
) -> CurvatureResult:
    """κ of the pruning direction of ``magnitude_mask`` against ``random`` random masks
    [PAUL §3.3] (module docstring; docs/science.md).

    Args:
        model: the network at ``w^(L)`` (not modified; its dtype is the products' dtype).
        data: ``(inputs, targets)`` or an iterable of pairs: the fixed data of the loss.
        mask: ``m_L``, the mask the weights were trained under (prunable tensors).
        magnitude_mask: the next mask ``m_{L+1} ≤ m_L`` (the run's, or magnitude pruning).
        random: random masks inside ``m_L`` removing as many weights (:func:`random_masks`).
        seed: their seed.
        loss_fn, chunk_size, method, memory_budget, progress: as
            :class:`~landscape.analysis.hessian.hvp.HessianOperator`.

    Raises:
        ValueError: the masks do not nest, or the next mask removes no weight.
    """
    if random < 1:
        raise ValueError(f"random must be ≥ 1 (random masks to compare with), got {random}")
    _check_nested(mask, magnitude_mask, "the next mask")
    removed = removed_count(mask, magnitude_mask)
    if removed <= 0:
        raise LandscapeError(
            "the next mask removes no weight, so there is no pruning direction; use a larger "
            "pruning fraction or another level"
        )
    started = time.perf_counter()
    state = dict(model.named_parameters())
    missing = [n for n in mask if n not in state]
    if missing:
        raise ValueError(f"the mask names tensors the model lacks: {missing[:4]}")
    weights = {n: state[n].detach() for n in mask}
    op = HessianOperator(model, data, loss_fn=loss_fn, chunk_size=chunk_size, method=method,
                         memory_budget=memory_budget, on_product=progress)  # fmt: skip
    others = random_masks(mask, removed, random, seed)
    masks = (magnitude_mask, *others)
    # Under torchrun rank r measures directions r, r + R, … (one product each).
    mine = [direction_curvature(op, pruning_direction(weights, mask, masks[i]))
            for i in distributed.my_indices(len(masks))]  # fmt: skip
    quads, norms = (list(v) for v in zip(*distributed.assemble(len(masks), mine)))
    hvps = op.count + len(masks) - len(mine)  # one product per direction, on whichever rank
    kappas = [q / n2 if n2 > 0 else math.nan for q, n2 in zip(quads, norms)]
    if norms[0] == 0:
        raise LandscapeError(
            "the weights the next mask removes are all exactly 0, so the pruning direction is 0 "
            "and has no curvature; check that the weights belong to this mask's level"
        )
    w2 = sum(float((w.double() * mask[n].to(w.device)).pow(2).sum()) for n, w in weights.items())
    return CurvatureResult(
        kappa_magnitude=kappas[0], kappa_random=tuple(kappas[1:]), quad_magnitude=quads[0],
        quad_random=tuple(quads[1:]), norm_magnitude=math.sqrt(norms[0]),
        norm_random=tuple(math.sqrt(v) for v in norms[1:]), weight_norm=math.sqrt(w2),
        num_params=op.num_params, num_kept=sum(int(m.bool().sum()) for m in mask.values()),
        num_removed=removed, num_samples=op.num_samples, hvp_count=hvps,
        hvp_method=op.method, seconds=time.perf_counter() - started, masks=tuple(others),
    )  # fmt: skip
