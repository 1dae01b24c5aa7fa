"""Learning-rate schedules of the original training run (docs/science.md): constant, step, cosine, linear.

A schedule is a function ``step -> lr`` of the *global* step, so a level that
resumes at step τ (IMP-WR) continues the schedule where dense training was.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from landscape.hparams import TrainHparams, parse_duration

__all__ = ["Schedule", "constant", "lr_schedule"]

Schedule = Callable[[int], float]


def constant(lr: float) -> Schedule:
    return lambda t: lr


def lr_schedule(hp: TrainHparams, steps_per_epoch: int) -> Schedule:
    """The schedule ``η(t)`` described by ``hp`` for ``t`` in ``[0, T)``; steps past T keep the last value.

    Warm-up (``hp.warmup`` = W steps) is linear: ``η(t) = lr·(t+1)/W`` for ``t < W``.
    After it: ``constant``; ``step`` multiplies by ``gamma`` at each milestone;
    ``cosine`` decays ``lr → 0`` as ``lr·(1 + cos(π·(t−W)/(T−W)))/2``;
    ``linear`` decays ``lr → 0`` as ``lr·(1 − (t−W)/(T−W))``.
    """
    total = parse_duration(hp.length, steps_per_epoch)
    warm = parse_duration(hp.warmup, steps_per_epoch)
    if total <= 0:
        raise ValueError(f"--length {hp.length!r} gives no training steps")
    if warm >= total:
        raise ValueError(f"--warmup {hp.warmup!r} is not shorter than --length {hp.length!r}")
    milestones = sorted(
        parse_duration(m, steps_per_epoch) for m in filter(None, hp.milestones.split(","))
    )
    lr, kind, gamma = hp.lr, hp.schedule, hp.gamma
    span = total - warm

    def after_warmup(t: int) -> float:
        if kind == "constant":
            return lr
        if kind == "step":
            return lr * gamma ** sum(t >= m for m in milestones)
        frac = min(t - warm, span) / span
        if kind == "cosine":
            return lr * 0.5 * (1.0 + math.cos(math.pi * frac))
        if kind == "linear":
            return lr * (1.0 - frac)
        raise ValueError(f"unknown schedule {kind!r}: use constant, step, cosine or linear")

    def schedule(t: int) -> float:
        t = min(t, total - 1) if kind in ("cosine", "linear") else t
        if t < warm:
            return lr * (t + 1) / warm
        return after_warmup(t)

    return schedule
