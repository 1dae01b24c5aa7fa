"""``schedules(cfg)``: the data of the ``schedules`` figure (``landscape plot schedules``).

The original learning-rate schedule ``η(t)`` of a run's settings and the six retraining
schedules of [ZIMMER] (FT, LRW, SLR, CLR, LLR, ALLR) over one retraining budget
(:mod:`landscape.training.retrain_schedules`), as one JSON-ready dict that
:func:`landscape.plotting.schedules.plot_schedules` draws without computing. Nothing
is trained; the data set is loaded only to count its steps per epoch when none is given.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from landscape.errors import LandscapeError

__all__ = ["MAX_POINTS", "count_steps_per_epoch", "schedules", "schedules_result"]

#: Steps per curve in the JSON (LRs to 6 significant digits): enough for the figure, small
#: enough to commit.
MAX_POINTS = 300


def schedules(
    cfg: Any, *, steps_per_epoch: int = 0, norm_drop: float = 0.3, max_points: int = MAX_POINTS
) -> dict[str, Any]:
    """The ``schedules`` result of ``cfg`` (a :class:`~landscape.hparams.RunConfig`).

    Args:
        steps_per_epoch: steps per epoch; 0 counts them from the data set and the batch
            size (:func:`count_steps_per_epoch`, which needs the data present).
        norm_drop: ALLR's relative norm drop ``‖θ − θ_pruned‖/‖θ‖`` to illustrate.
        max_points: at most this many steps per curve (:func:`schedules_result`).
    """
    steps = count_steps_per_epoch(cfg, steps_per_epoch)
    return schedules_result(cfg, steps, norm_drop, max_points)


def schedules_result(
    cfg: Any, steps_per_epoch: int, norm_drop: float, max_points: int = MAX_POINTS
) -> dict[str, Any]:
    """The ``schedules`` result: the original schedule and the six retraining schedules.

    ``cfg`` is a :class:`~landscape.hparams.RunConfig`: its training section gives
    ``η(t)``, ``retrain_epochs`` the phase length, ``goal_sparsity``/``levels`` the
    share ``s`` pruned per phase for ALLR's ``η_0`` (with ``norm_drop``).
    Curves are subsampled to at most ``max_points`` steps (the last step kept), LRs
    rounded to 6 significant digits.
    """
    from landscape.hparams import parse_duration
    from landscape.training import lr_schedule
    from landscape.training.retrain_schedules import (
        RETRAIN_SCHEDULES,
        allr_initial_lr,
        phase_fraction,
        retrain_lr_curve,
        schedule_bounds,
    )

    total = parse_duration(cfg.train.length, steps_per_epoch)
    warm = parse_duration(cfg.train.warmup, steps_per_epoch)
    eta = lr_schedule(cfg.train, steps_per_epoch)
    original = [eta(t) for t in range(total)]
    n_rt = cfg.prune.retrain_epochs * steps_per_epoch
    if n_rt <= 0:
        raise ValueError("--retrain-epochs must be >= 1 to draw the retraining schedules")
    eta_max, eta_min = schedule_bounds(original, warm)
    frac = phase_fraction(cfg.prune.goal_sparsity, max(cfg.prune.levels, 1))
    allr = allr_initial_lr(norm_drop, frac, eta_max, n_rt, total)

    def sampled(lrs: list[float]) -> dict[str, list]:
        stride = max(1, math.ceil(len(lrs) / max_points))
        steps = list(range(0, len(lrs), stride))
        if steps[-1] != len(lrs) - 1:
            steps.append(len(lrs) - 1)
        return {"step": steps, "lr": [float(f"{lrs[i]:.6g}") for i in steps]}

    curves = {
        name: sampled(retrain_lr_curve(name, n_rt, original, warm, allr.eta0))
        for name in RETRAIN_SCHEDULES
    }
    return {
        "kind": "schedules",
        "steps_per_epoch": steps_per_epoch,
        "train_epochs": total / steps_per_epoch,
        "retrain_epochs": cfg.prune.retrain_epochs,
        "eta_max": eta_max,
        "eta_min": eta_min,
        "allr": allr.to_dict(),
        "train": dataclasses.asdict(cfg.train),
        "original": sampled(original),
        "schedules": curves,
    }


def count_steps_per_epoch(cfg: Any, given: int = 0) -> int:
    """``given`` when set, else the steps per epoch of ``cfg``'s data set at its batch size.

    Raises:
        ValueError: ``given`` is negative.
        LandscapeError: the data set cannot be loaded to count them.
    """
    if given:
        if given < 0:
            raise ValueError("--steps-per-epoch must be positive")
        return given
    from landscape.data import load_data

    d = cfg.data
    try:
        data = load_data(d.data, d.data_root, False, d.train_subset)  # counts training steps
    except (LandscapeError, OSError, RuntimeError) as exc:
        raise LandscapeError(
            f"cannot load {d.data!r} to count its steps per epoch ({exc}); pass --steps-per-epoch "
            "(e.g. 390 for CIFAR-10 at batch 128)"
        ) from exc
    return data.steps_per_epoch(d.batch_size)
