"""``gmp`` and ``dpf``: pruning during training with the cubic schedule, no retraining.

**GMP**, gradual magnitude pruning (Zhu & Gupta, *To prune, or not to prune*, 2017, §3):
one training run of ``T = --length`` steps with the run's LR schedule. The mask is updated
every ``Δt`` steps (``--prune-interval``) from ``t_0 = round(--prune-start · T)``, ``n``
times, to the sparsity ``s_j = s_f (1 − (1 − j/n)³)`` of update ``j`` (``s_i = 0``,
``s_f = --goal-sparsity``; :func:`landscape.pruning.cubic_sparsity`), by
``--prune-strategy`` (global magnitude by default) among the weights still kept, so the
masks only shrink. ``n = ⌊(round(--prune-end · T) − t_0) / Δt⌋``: the schedule reaches
``s_f`` at ``t_0 + nΔt``, no later than ``--prune-end``. At each update the newly pruned
weights and their momentum are set to 0 and stay 0 (masked SGD, docs/science.md §0).

**DPF**, dynamic pruning with feedback (Lin, Stich, Barba, Dmitriev, Jaggi, ICLR 2020,
§3, Alg. 1): the same schedule, but each mask is chosen afresh from the magnitudes of the
*dense* weights ``w``; the forward and backward pass use ``m ⊙ w`` and SGD applies that
gradient to ``w`` (:func:`landscape.training.train` with ``feedback=True``), so pruned
weights keep learning and can return. The mask keeps being recomputed every ``Δt`` steps
at ``s_f`` after the schedule ends, to the end of training, as DPF's Alg. 1 does. The
network it delivers is ``m ⊙ w``.

Levels (a one-run method has no pruning rounds; ours)
-----------------------------------------------------
``--levels K`` checkpoints along the schedule. Level ``k`` is taken at the mask update
``j_k = ⌊k·n/K + ½⌋`` (``j_0 = 0``, ``j_K = n``): it holds the mask ``m_{j_k}`` and the
weights at the last step that mask was in force, i.e. just before update ``j_k + 1``
(step ``t_0 + (j_k + 1)Δt``); level ``K`` holds the final network at step ``T``. So
level 0 is dense (``s_0 = 0``) and levels 1..K follow the schedule's sparsity up to
``s_f``; ``K ≤ n``. ``metrics.json`` records ``schedule_update`` (``j_k``),
``schedule_sparsity`` (``s_{j_k}``) and the schedule's steps.

Level ``k`` trains the steps after level ``k − 1`` (its ``start_step``/``stop_step``).
Besides weights, mask and metrics every level keeps the optimiser's momentum
(``momentum.safetensors``) and, for DPF, the dense weights (``dense.safetensors``;
``weights.safetensors`` is ``m ⊙ w``), written before ``metrics.json``: a killed run
resumes at the first unfinished level from exactly the state an uninterrupted run
carries over (each segment starts at a mask update, so no other state is needed), and
gives the same tensors, bit for bit on the CPU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from landscape import paths
from landscape.checkpoint import load_state
from landscape.errors import CheckpointError
from landscape.functional import state_of
from landscape.hparams import RunConfig, parse_duration
from landscape.pruning import Mask, apply_mask, cubic_sparsity, kept_count, ones_mask, prune_to
from landscape.runners.common import RunContext, level_done, level_series, write_level

__all__ = ["GradualPlan", "gradual_plan", "run_gradual"]


@dataclass(frozen=True)
class GradualPlan:
    """The schedule of a ``gmp``/``dpf`` run, in optimiser steps (module docstring).

    Attributes:
        total: ``T``, the training length.
        start: ``t_0``, the step of update 0.
        interval: ``Δt``.
        updates: ``n``, the update that reaches the final sparsity.
        final: ``s_f``.
        levels: ``K``, the last level.
        feedback: DPF (masks from the dense weights, updated to the end of training).
    """

    total: int
    start: int
    interval: int
    updates: int
    final: float
    levels: int
    feedback: bool

    def sparsity(self, j: int) -> float:
        """``s_j`` (``s_f`` past ``n``)."""
        return cubic_sparsity(j, self.updates, self.final)

    def update_at(self, t: int) -> int | None:
        """The index ``j`` of the mask update before step ``t``, or ``None`` (no update)."""
        j, rest = divmod(t - self.start, self.interval)
        if t < self.start or rest or t >= self.total or (j > self.updates and not self.feedback):
            return None
        return j

    def level_update(self, k: int) -> int:
        """``j_k = ⌊k·n/K + ½⌋``, strictly increasing in ``k`` since ``K ≤ n``."""
        return (2 * k * self.updates + self.levels) // (2 * self.levels)

    def level_end(self, k: int) -> int:
        """The step level ``k`` is taken at: before update ``j_k + 1``, or ``T`` for ``k = K``."""
        if k == self.levels:
            return self.total
        return self.start + (self.level_update(k) + 1) * self.interval

    def level_start(self, k: int) -> int:
        return 0 if k == 0 else self.level_end(k - 1)

    def to_dict(self) -> dict[str, Any]:
        return {"prune_start_step": self.start, "prune_interval_steps": self.interval,
                "prune_updates": self.updates,
                "prune_end_step": self.start + self.updates * self.interval,
                "total_steps": self.total, "feedback": self.feedback}  # fmt: skip


def gradual_plan(cfg: RunConfig, steps_per_epoch: int, prunable: int) -> GradualPlan:
    """The schedule of ``cfg`` (a ``gmp`` or ``dpf`` run), checked before anything is written.

    Args:
        prunable: the number of prunable weights (the final mask must keep one).

    Raises:
        ValueError: one line naming the flag: an interval below one step, a window without
            a whole update (``n < 1``), more ``--levels`` than updates, or a final mask
            that keeps no weight.
    """
    p = cfg.prune
    total = parse_duration(cfg.train.length, steps_per_epoch)
    interval = parse_duration(p.prune_interval, steps_per_epoch)
    start, end = round(p.prune_start * total), round(p.prune_end * total)
    if interval < 1:
        raise ValueError(f"--prune-interval {p.prune_interval!r} is below one step; use >= 1")
    updates = (end - start) // interval
    if updates < 1 or end >= total:
        raise ValueError(
            f"--prune-start {p.prune_start} to --prune-end {p.prune_end} of --length "
            f"{cfg.train.length} ({total} steps) is steps {start}..{end}: "
            + ("it must end before the last step" if end >= total else
               f"no whole --prune-interval of {interval} steps fits; widen the window or "
               "shorten the interval")
        )  # fmt: skip
    if p.levels > updates:
        raise ValueError(
            f"--levels {p.levels} exceeds the {updates} mask updates of the schedule (one "
            f"every {interval} steps from step {start}); use --levels <= {updates}"
        )
    if kept_count(p.goal_sparsity, prunable) < 1:
        raise ValueError(
            f"--goal-sparsity {p.goal_sparsity} keeps none of the {prunable} prunable weights"
        )
    return GradualPlan(total=total, start=start, interval=interval, updates=updates,
                       final=p.goal_sparsity, levels=p.levels, feedback=p.method == "dpf")  # fmt: skip


def run_gradual(ctx: RunContext) -> None:
    """The ``gmp``/``dpf`` run, level by level (module docstring)."""
    p = ctx.cfg.prune
    ones = ones_mask(ctx.model(), p.prune_scope, p.prune_ignore)
    plan = gradual_plan(ctx.cfg, ctx.steps_per_epoch, sum(m.numel() for m in ones.values()))
    for k in range(plan.levels + 1):
        if level_done(ctx.run_dir, k):
            continue
        started = time.perf_counter()
        model = ctx.model()
        mask, momentum = ones, None
        if k > 0:
            mask, momentum = _resume_state(ctx, k - 1, model, plan.feedback)
        current = {"mask": mask}

        def mask_at(t: int, net: torch.nn.Module, current=current) -> Mask | None:
            j = plan.update_at(t)
            if j is None:
                return None
            params = dict(net.named_parameters())
            base = ones if plan.feedback else current["mask"]  # DPF chooses afresh
            current["mask"] = prune_to(params, base, plan.sparsity(j), p.prune_strategy,
                                       p.prune_seed + j)  # fmt: skip
            return current["mask"]

        start, stop = plan.level_start(k), plan.level_end(k)
        result = ctx.train(
            model, start=start, stop=stop, mask=mask, desc=f"level {k}/{plan.levels} ({p.method})",
            log_as=level_series(k), mask_at=mask_at, feedback=plan.feedback, momentum=momentum,
        )  # fmt: skip
        mask = current["mask"]
        if result.momentum:
            ctx.save_state(paths.momentum(ctx.run_dir, k), result.momentum)
        if plan.feedback:
            ctx.save_state(paths.dense_weights(ctx.run_dir, k), state_of(model))
            apply_mask(model, mask)  # the level is the pruned network m ⊙ w
        ctx.save_state(paths.mask(ctx.run_dir, k), {n: m.to(torch.uint8) for n, m in mask.items()})
        j = plan.level_update(k)
        extra = {"start_step": start, "stop_step": stop, "schedule_update": j,
                 "schedule_sparsity": plan.sparsity(j), **plan.to_dict()}  # fmt: skip
        m = write_level(ctx, k, model, mask, result, extra=extra, started=started)
        ctx.log(
            f"level {k:2d}  step {stop}  density {m['density']:.4f}  test error "
            f"{m['test_error']:.4f}  {m['seconds']:.1f}s"
        )


def _resume_state(
    ctx: RunContext, level: int, model: torch.nn.Module, feedback: bool
) -> tuple[Mask, dict[str, torch.Tensor] | None]:
    """Load into ``model`` what the finished ``level`` carries over (dense weights for DPF);
    return its mask and momentum buffers."""
    weights, mask = ctx.previous(level, model)
    if feedback:
        weights = ctx.load(_need(paths.dense_weights(ctx.run_dir, level)))
    model.load_state_dict(weights)
    if ctx.cfg.train.momentum == 0:
        return mask, None
    return mask, load_state(_need(paths.momentum(ctx.run_dir, level)), ctx.device)


def _need(path):
    if not path.exists():
        raise CheckpointError(
            f"{path} is missing, so the next level cannot continue this run where it left off; "
            f"delete {path.parent} and the later levels and re-run to recompute them"
        )
    return path
