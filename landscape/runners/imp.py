"""IMP with weight rewinding, learning-rate rewinding and fine-tuning (SPEC §2, [PAUL Alg. 1]).

============  ==========================================  ==================
method        level L > 0 starts from                      trains steps
============  ==========================================  ==================
``imp-wr``    ``m_L ⊙ w_τ`` (the pruned rewind point)      τ .. T (schedule resumes at τ)
``imp-lrr``   ``m_L ⊙ w^(L−1)``                            0 .. T (whole schedule replayed)
``imp-ft``    ``m_L ⊙ w^(L−1)``                            T .. 2T at the final LR
============  ==========================================  ==================

Level 0 is the dense network: IMP-WR trains it from ``w_τ`` over τ..T, the others
from ``w_0`` over 0..T. Then ``m_{L+1} = prune(w^(L), m_L, 1 − α)``.
"""

from __future__ import annotations

import time

from landscape.pruning import apply_mask, prune
from landscape.runners.common import RunContext, level_done, write_level
from landscape.training import constant, lr_schedule

__all__ = ["run_dense", "run_imp"]


def run_dense(ctx: RunContext) -> None:
    """Train the dense network: level 0 only, from ``w_0`` over the whole schedule."""
    _run_levels(ctx, "dense", max_level=0)


def run_imp(ctx: RunContext) -> None:
    """The IMP level loop for ``ctx.cfg.prune.method`` in {imp-wr, imp-lrr, imp-ft}."""
    _run_levels(ctx, ctx.cfg.prune.method, max_level=ctx.cfg.prune.levels)


def _run_levels(ctx: RunContext, method: str, max_level: int) -> None:
    p = ctx.cfg.prune
    T = ctx.total_steps
    tau = ctx.steps(p.rewind_step) if method == "imp-wr" else 0
    if tau >= T:
        raise ValueError(
            f"--rewind-step {p.rewind_step} is not before the end of training (T = {T} steps)"
        )
    schedule = lr_schedule(ctx.cfg.train, ctx.steps_per_epoch)
    rewind = ctx.rewind_state(tau)
    for level in range(max_level + 1):
        if level_done(ctx.run_dir, level):
            continue
        started = time.perf_counter()
        model = ctx.model()
        if level == 0 or method == "imp-wr":
            start_state = rewind
        else:
            start_state, _ = ctx.previous(level - 1, model)

        def next_mask(level=level, model=model):
            weights, mask = ctx.previous(level - 1, model)
            return prune(weights, mask, p.prune_fraction, p.prune_strategy, p.prune_seed + level)

        mask = ctx.prepare_mask(level, model, next_mask)
        model.load_state_dict(start_state)
        apply_mask(model, mask)
        if method == "imp-ft" and level > 0:
            start, stop, lr_at = T, 2 * T, constant(schedule(T - 1))
        else:
            start, stop, lr_at = tau, T, schedule
        desc = f"level {level}/{max_level}"
        result = ctx.train(model, start=start, stop=stop, mask=mask, desc=desc, lr_at=lr_at)
        m = write_level(
            ctx, level, model, mask, result, started=started,
            extra={"start_step": start, "stop_step": stop, "rewind_step": tau},
        )  # fmt: skip
        ctx.log(
            f"level {level:2d}  density {m['density']:.4f}  test error {m['test_error']:.4f}  "
            f"train loss {m['train_loss']:.4f}  {m['seconds']:.1f}s"
        )
