"""The cubic sparsity schedule of gradual magnitude pruning and masks of an exact sparsity.

Zhu & Gupta, *To prune, or not to prune* (2017, arXiv:1710.01878), §3: the masks are
updated every ``Δt`` steps from step ``t_0``, ``n`` times, and the sparsity after the
update at ``t = t_0 + j·Δt`` is

    s_j = s_f + (s_i − s_f) · (1 − j/n)³,   j = 0 .. n,

rising fast at first and flattening as it reaches ``s_f``. DPF (Lin et al., *Dynamic Model
Pruning with Feedback*, ICLR 2020, §3) uses the same schedule. ``s_i`` is 0 here.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from landscape.pruning.masks import Mask, prune

__all__ = ["cubic_sparsity", "kept_count", "prune_to"]


def cubic_sparsity(j: int, n: int, final: float, initial: float = 0.0) -> float:
    """``s_j`` of Zhu & Gupta's schedule (module docstring) for update ``j`` of ``n``;
    ``j > n`` stays at ``final`` (DPF keeps updating its mask at the final sparsity)."""
    if n < 1 or j < 0:
        raise ValueError(f"the cubic schedule needs n >= 1 updates and j >= 0, got j={j}, n={n}")
    return final + (initial - final) * (1.0 - min(j, n) / n) ** 3


def kept_count(sparsity: float, prunable: int) -> int:
    """How many of ``prunable`` weights a mask of ``sparsity`` keeps: ``round((1 − s)·P)``."""
    return round((1.0 - sparsity) * prunable)


def prune_to(
    weights: Mapping[str, Tensor],
    mask: Mapping[str, Tensor],
    sparsity: float,
    strategy: str = "global",
    seed: int = 0,
) -> Mask:
    """A mask ``≤ mask`` keeping :func:`kept_count` of all prunable weights (for ``global``
    and ``random``, exactly; ``layerwise`` rounds per tensor), by
    :func:`landscape.pruning.prune` among the coordinates ``mask`` keeps. A ``mask`` that
    already keeps no more than that is returned unchanged (a copy): masks never grow here
    (start from an all-ones ``mask`` to choose afresh, as DPF does). That happens only
    when ``layerwise`` rounding overshot a previous, nearly equal sparsity.
    """
    prunable = sum(m.numel() for m in mask.values())
    kept = sum(int(m.sum()) for m in mask.values())
    target = kept_count(sparsity, prunable)
    if target >= kept:
        return {n: m.clone() for n, m in mask.items()}
    # prune() removes round(fraction · kept): with this fraction exactly kept − target.
    return prune(weights, mask, (kept - target) / kept, strategy, seed)
