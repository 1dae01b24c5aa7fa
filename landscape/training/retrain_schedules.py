"""Retraining learning-rate schedules FT/LRW/SLR/CLR/LLR/ALLR and BIMP's bookkeeping [ZIMMER].

Pure schedule math (docs/science.md, "Retraining schedules"): a retraining phase of
``N_rt`` steps follows a dense run whose per-step schedule was ``η(t)``, ``t < N``.
``η_max = max_t η(t)``; ``η_min`` is the smallest LR after the original warm-up.

==========  ===================  ===========================================================
name        warm-up ``W``        after the warm-up (``j = k − W``, ``R = N_rt − W``)
==========  ===================  ===========================================================
``ft``      0                    constant ``η_min``
``lrw``     0                    ``η(N − N_rt + k)``: the last ``N_rt`` original LRs, replayed
``slr``     ``⌊0.1·N_rt⌋``       ``η̃(⌊j·N/R⌋)``: the original schedule compressed into R steps
``clr``     ``⌊0.1·N_rt⌋``       ``η_min + (η_max − η_min)(1 + cos(πj/R))/2``
``llr``     ``⌊0.1·N_rt⌋``       ``η_max (1 − j/R)``
``allr``    ``⌊0.1·N_rt⌋``       ``η_0 (1 − j/R)``, ``η_0`` from :func:`allr_initial_lr`
==========  ===================  ===========================================================

During the warm-up, ``η(k) = η_0 (1 − cos(πk/W))/2`` (a half-cosine ramp from 0)
with ``η_0 = η_max`` for SLR/CLR/LLR [code: ``CosineAnnealingLR`` from 0 up to η_0].
In SLR, ``η̃`` is the original schedule with its own warm-up replaced by ``η_max``
and the index is ``floor(j·N/R)`` computed in integers (the authors' code used a
float ratio; integers make the step exact). Every schedule is a function of the
phase-local step ``k`` and is defined on ``0 ≤ k ≤ N_rt``; ``k = N_rt`` (one step
past the last trained step) is the curve's end value (``η_min`` for CLR, 0 for
LLR/ALLR), and larger ``k`` keep it.

[ours] LRW with ``N_rt > N`` would index before the start of the original run;
those steps take ``η(0)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from landscape.training.schedules import Schedule

__all__ = [
    "RETRAIN_SCHEDULES",
    "AllrLR",
    "allr_initial_lr",
    "epoch_split",
    "half_cosine_warmup",
    "phase_fraction",
    "relative_norm_drop",
    "retrain_lr_curve",
    "retrain_schedule",
    "schedule_bounds",
    "warmup_steps",
]

RETRAIN_SCHEDULES: tuple[str, ...] = ("ft", "lrw", "slr", "clr", "llr", "allr")

# [code] A tenth of a retraining phase is warm-up for SLR/CLR/LLR/ALLR.
_WARMUP_DIVISOR = 10


def _check_name(name: str) -> None:
    if name not in RETRAIN_SCHEDULES:
        raise ValueError(
            f"unknown retraining schedule {name!r}: use one of {', '.join(RETRAIN_SCHEDULES)}"
        )


def warmup_steps(name: str, retrain_steps: int) -> int:
    """The warm-up length ``W``: ``⌊0.1·N_rt⌋`` for SLR/CLR/LLR/ALLR, 0 for FT/LRW [ZIMMER §3]."""
    _check_name(name)
    if name in ("ft", "lrw"):
        return 0
    # ⌊0.1·N_rt⌋ in integers (equal to the authors' int(0.1 * n) for every n below 10^6, checked).
    return retrain_steps // _WARMUP_DIVISOR


def half_cosine_warmup(k: int, warmup: int, eta0: float) -> float:
    """``η_0 (1 − cos(πk/W))/2``: 0 at ``k = 0``, ``η_0`` at ``k = W`` [code]."""
    return eta0 * (1.0 - math.cos(math.pi * k / warmup)) / 2.0


def schedule_bounds(original: Sequence[float], original_warmup: int = 0) -> tuple[float, float]:
    """``(η_max, η_min)`` of an original schedule given as its per-step LRs ``η(0..N−1)``.

    ``η_min`` ignores the original warm-up steps (its LRs there are not "small LRs
    of training") [code: ``min(lr_dict[after_warmup_index:])``].
    """
    if len(original) == 0:
        raise ValueError("the original schedule has no steps")
    if not 0 <= original_warmup < len(original):
        raise ValueError(
            f"the original warm-up ({original_warmup} steps) must be shorter than the original "
            f"schedule ({len(original)} steps)"
        )
    return max(original), min(original[original_warmup:])


@dataclass(frozen=True)
class AllrLR:
    """ALLR's initial LR and where it came from (recorded per phase in ``metrics.json``).

    Attributes:
        eta0: the clipped value ``clip(raw, lo, hi)``, the LR reached after the warm-up.
        raw: ``η_max · norm_drop / √s`` before clipping.
        lo: ``min(N_rt/N, 1)·η_max``; hi: ``η_max``.
        norm_drop: ``‖θ − θ_pruned‖₂ / ‖θ‖₂`` over all parameters.
        fraction: ``s``, the fraction of the remaining weights pruned in this phase.
    """

    eta0: float
    raw: float
    lo: float
    hi: float
    norm_drop: float
    fraction: float

    @property
    def clipped(self) -> str:
        """``"lo"``, ``"hi"`` or ``"none"``: which bound, if any, set ``eta0``."""
        if self.raw < self.lo:
            return "lo"
        if self.raw > self.hi:
            return "hi"
        return "none"

    def to_dict(self) -> dict[str, float | str]:
        return {"eta0": self.eta0, "raw": self.raw, "lo": self.lo, "hi": self.hi,
                "norm_drop": self.norm_drop, "fraction": self.fraction, "clipped": self.clipped}  # fmt: skip


def allr_initial_lr(
    norm_drop: float, fraction: float, eta_max: float, retrain_steps: int, train_steps: int
) -> AllrLR:
    """ALLR's ``η_0 = clip(η_max · d / √s, lo = min(N_rt/N, 1)·η_max, hi = η_max)`` [ZIMMER §3].

    Args:
        norm_drop: ``d = ‖θ − θ_pruned‖₂ / ‖θ‖₂`` (see :func:`relative_norm_drop`).
        fraction: ``s``, the share of the remaining weights pruned in this phase, in (0, 1).
        eta_max: the largest LR of the original schedule.
        retrain_steps: ``N_rt``, the length of this retraining phase.
        train_steps: ``N``, the length of the original (dense) training run.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"ALLR needs a pruned fraction s in (0, 1), got {fraction}")
    if norm_drop < 0 or not math.isfinite(norm_drop):
        raise ValueError(f"the relative norm drop must be a finite number >= 0, got {norm_drop}")
    if retrain_steps <= 0 or train_steps <= 0:
        raise ValueError(
            f"ALLR needs positive phase and training lengths, got N_rt={retrain_steps}, "
            f"N={train_steps}"
        )
    lo = min(retrain_steps / train_steps, 1.0) * eta_max
    raw = eta_max * norm_drop / math.sqrt(fraction)
    return AllrLR(eta0=min(max(raw, lo), eta_max), raw=raw, lo=lo, hi=eta_max,
                  norm_drop=norm_drop, fraction=fraction)  # fmt: skip


@torch.no_grad()
def relative_norm_drop(params: Mapping[str, Tensor], mask: Mapping[str, Tensor]) -> float:
    """``‖θ − m ⊙ θ‖₂ / ‖θ‖₂`` with the norms over every tensor in ``params`` [code].

    Pass *all* parameters (weights and biases, BatchNorm included, no buffers):
    the authors' ``get_model_norm_square`` sums every module's ``weight`` and
    ``bias``. Only tensors named in ``mask`` lose coordinates. Computed in float64.
    """
    total = torch.zeros((), dtype=torch.float64)
    removed = torch.zeros((), dtype=torch.float64)
    for name, p in params.items():
        p64 = p.detach().double().cpu()
        total += p64.square().sum()
        if name in mask:
            removed += p64[~mask[name].cpu().bool()].square().sum()
    if total == 0:
        raise ValueError(
            "the network's parameters are all zero; the relative norm drop is undefined"
        )
    return math.sqrt(float(removed) / float(total))


def retrain_schedule(
    name: str,
    retrain_steps: int,
    original: Sequence[float],
    original_warmup: int = 0,
    eta0: float | None = None,
) -> Schedule:
    """The retraining schedule ``k -> lr`` for phase-local steps ``k`` [ZIMMER §3; docs/science.md].

    Args:
        name: ``ft``, ``lrw``, ``slr``, ``clr``, ``llr`` or ``allr``.
        retrain_steps: ``N_rt`` (≥ 1).
        original: the per-step LRs ``η(0..N−1)`` of the dense run.
        original_warmup: its warm-up length in steps (excluded from ``η_min``; replaced by
            ``η_max`` when SLR compresses the schedule).
        eta0: ALLR's initial LR (required for ``allr``, see :func:`allr_initial_lr`;
            ignored otherwise).

    Returns:
        A function of ``k``, defined on ``0 ≤ k ≤ N_rt`` (larger ``k`` keep the end value).
    """
    _check_name(name)
    if retrain_steps <= 0:
        raise ValueError(f"a retraining phase needs at least one step, got {retrain_steps}")
    lrs = list(original)
    eta_max, eta_min = schedule_bounds(lrs, original_warmup)
    n = len(lrs)
    warm = warmup_steps(name, retrain_steps)
    rest = retrain_steps - warm
    if name == "allr":
        if eta0 is None:
            raise ValueError("ALLR needs eta0 (its initial LR from allr_initial_lr)")
        peak = eta0
    elif name in ("slr", "clr", "llr"):
        peak = eta_max
    else:
        peak = math.nan  # FT and LRW have no warm-up and no peak of their own

    if name == "slr":
        # η̃: the original schedule with its warm-up replaced by η_max [code].
        tilde = [eta_max] * original_warmup + lrs[original_warmup:]

    def after_warmup(j: int) -> float:
        if name == "ft":
            return eta_min
        if name == "lrw":
            return lrs[min(max(n - retrain_steps + j, 0), n - 1)]
        if name == "slr":
            return tilde[min(j * n // rest, n - 1)]
        if name == "clr":
            return eta_min + (eta_max - eta_min) * (1.0 + math.cos(math.pi * j / rest)) / 2.0
        return peak * (1.0 - j / rest)  # llr, allr

    def schedule(k: int) -> float:
        k = min(max(k, 0), retrain_steps)
        if k < warm:
            return half_cosine_warmup(k, warm, peak)
        return after_warmup(k - warm)

    return schedule


def retrain_lr_curve(
    name: str,
    retrain_steps: int,
    original: Sequence[float],
    original_warmup: int = 0,
    eta0: float | None = None,
) -> list[float]:
    """The LRs of the ``N_rt`` trained steps, ``[lr(0), …, lr(N_rt − 1)]`` (for plots and checks)."""
    f = retrain_schedule(name, retrain_steps, original, original_warmup, eta0)
    return [f(k) for k in range(retrain_steps)]


def phase_fraction(goal_sparsity: float, phases: int) -> float:
    """``s = 1 − (1 − S)^(1/J)``: the share of the remaining weights pruned in each of J phases.

    After J phases the density is ``(1 − s)^J = 1 − S`` [ZIMMER §3, BIMP].
    """
    if phases < 1:
        raise ValueError(f"the number of pruning phases (--levels) must be >= 1, got {phases}")
    if not 0 < goal_sparsity < 1:
        raise ValueError(f"--goal-sparsity must lie in (0, 1), got {goal_sparsity}")
    return 1.0 - (1.0 - goal_sparsity) ** (1.0 / phases)


def epoch_split(total_epochs: int, phases: int) -> list[int]:
    """Split ``E`` retraining epochs over J phases evenly, the remainder to the last [code].

    ``epoch_split(10, 3) == [3, 3, 4]``; ``epoch_split(2, 3) == [0, 0, 2]``.
    """
    if phases < 1:
        raise ValueError(f"the number of pruning phases (--levels) must be >= 1, got {phases}")
    if total_epochs < 0:
        raise ValueError(f"--retrain-epochs must be >= 0, got {total_epochs}")
    each = total_epochs // phases
    return [each] * (phases - 1) + [total_epochs - each * (phases - 1)]
