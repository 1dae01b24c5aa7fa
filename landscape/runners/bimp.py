"""``bimp``: Budgeted IMP [ZIMMER §4] — dense training and J ALLR phases within B epochs.

With a total budget of ``B`` epochs (``--budget-epochs``) and ``E`` retraining
epochs (``--retrain-epochs``, in total here):

* level 0: dense training from ``w_0`` for ``B − E`` epochs with a linear-decay
  schedule from ``--lr`` to 0 (after ``--warmup``, if any); ``--schedule``,
  ``--length`` and ``--milestones`` are not used;
* levels 1..J (``--levels``): the ``imp`` phases of :func:`landscape.runners.retrain.run_phases`,
  each pruning ``s = 1 − (1 − S)^(1/J)`` of the remaining weights and retrained
  with ALLR, the E epochs split evenly with the remainder to the last phase
  (:func:`~landscape.training.retrain_schedules.epoch_split`). ALLR's ``N`` is
  the dense length ``B − E`` epochs and ``η_max`` is ``--lr``.

A phase that gets 0 epochs (E < J) only prunes.
"""

from __future__ import annotations

import dataclasses
import time

from landscape.runners.common import RunContext, level_done, level_series, write_level
from landscape.runners.retrain import PhasePlan, run_phases
from landscape.training import lr_schedule
from landscape.training.retrain_schedules import epoch_split, phase_fraction

__all__ = ["run_bimp"]


def run_bimp(ctx: RunContext) -> None:
    """Dense linear-decay training for ``B − E`` epochs, then J ALLR prune–retrain phases."""
    p = ctx.cfg.prune
    budget, retrain = p.budget_epochs, p.retrain_epochs
    if p.levels < 1:
        raise ValueError("--method bimp needs --levels >= 1 (the number of prune-retrain phases J)")
    if retrain < 0 or budget <= retrain:
        raise ValueError(
            f"--budget-epochs ({budget}) must exceed --retrain-epochs ({retrain}) >= 0: dense "
            "training gets the difference"
        )
    phase_fraction(p.goal_sparsity, p.levels)  # a bad --goal-sparsity fails before any training
    dense_epochs = budget - retrain
    dense_hp = dataclasses.replace(ctx.cfg.train, schedule="linear", length=f"{dense_epochs}ep")
    schedule = lr_schedule(dense_hp, ctx.steps_per_epoch)
    dense_steps = dense_epochs * ctx.steps_per_epoch
    if not level_done(ctx.run_dir, 0):
        started = time.perf_counter()
        model = ctx.model()
        mask = ctx.prepare_mask(0, model, None)
        result = ctx.train(
            model,
            start=0,
            stop=dense_steps,
            mask=None,
            desc="dense (linear decay)",
            lr_at=schedule,
            log_as=level_series(0),
        )
        m = write_level(
            ctx, 0, model, mask, result, started=started,
            extra={"dense_schedule": "linear", "dense_epochs": dense_epochs,
                   "budget_epochs": budget, "start_step": 0, "stop_step": dense_steps},
        )  # fmt: skip
        ctx.log(f"dense   test error {m['test_error']:.4f}  {m['seconds']:.1f}s")
    split = epoch_split(retrain, p.levels)
    plan = PhasePlan(
        original=[schedule(t) for t in range(dense_steps)],
        original_warmup=ctx.steps(ctx.cfg.train.warmup),
        schedule="allr",
        steps=[e * ctx.steps_per_epoch for e in split],
    )
    run_phases(ctx, plan)
