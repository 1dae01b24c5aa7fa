"""``imp`` [ZIMMER]: prune a dense network in J phases, retraining each with FT/LRW/SLR/CLR/LLR/ALLR.

Level 0 is the dense network ``w^(0)``: the run named by ``--from``, or else a
``dense_<hash>`` run with this run's data/model/training settings, trained first
beside this run directory and reused by every later call with the same settings
(the IMP-WR/LRR/FT runners share it too, :mod:`landscape.runners.imp`).
Phase ``j = 1..J`` is level ``j``::

    s     = 1 − (1 − S)^(1/J)                          # the same share every phase
    m_j   = prune(w^(j−1), m_{j−1}, s)                 # global magnitude by default
    w^(j) = retrain m_j ⊙ w^(j−1) for N_rt = E epochs with the chosen schedule

so ``J = 1`` is one-shot pruning and the density after J phases is ``1 − S``.
The schedules are functions of the phase-local step (:mod:`landscape.training.retrain_schedules`)
derived from the dense run's schedule ``η(t)``. The data stream continues where
dense training stopped: phase ``j`` sees the batches of global steps
``T + (j−1)·N_rt .. T + j·N_rt`` [ours], so retraining never replays the first
epochs' batch order. Every level is written like the IMP runners' levels
(weights, mask, then ``metrics.json``), so a killed run resumes at the first
unfinished phase. :func:`run_phases` is shared with BIMP (:mod:`landscape.runners.bimp`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from landscape.errors import ConfigMismatchError
from landscape.functional import param_names
from landscape.hparams import RunConfig
from landscape.pruning import apply_mask, prune
from landscape.runners.common import RunContext, level_done, level_series, write_level
from landscape.runners.imp import copy_level_zero, shared_dense
from landscape.runs import open_run
from landscape.training import TrainResult, evaluate, lr_schedule
from landscape.training.retrain_schedules import (
    allr_initial_lr,
    phase_fraction,
    relative_norm_drop,
    retrain_schedule,
    schedule_bounds,
    warmup_steps,
)

__all__ = ["PhasePlan", "dense_config", "run_phases", "run_retrain"]

# Settings that only change the learning-curve sampling, not the dense weights.
_IGNORED_FOR_FROM = {"eval_every"}


@dataclass(frozen=True)
class PhasePlan:
    """What the prune–retrain phases need to know about the dense run and the budget.

    Attributes:
        original: the dense run's per-step LRs ``η(0..N−1)``.
        original_warmup: the dense run's warm-up length in steps.
        schedule: the retraining schedule name (``ft`` … ``allr``).
        steps: ``N_rt`` of phase 1..J (0: prune without retraining).
    """

    original: list[float]
    original_warmup: int
    schedule: str
    steps: list[int]

    @property
    def dense_steps(self) -> int:
        """``N`` (= T), the length of dense training; ALLR's lower clip uses ``N_rt / N``."""
        return len(self.original)


def dense_config(cfg: RunConfig) -> RunConfig:
    """The ``dense`` run an ``imp`` run prunes when no ``--from`` is given (:meth:`RunConfig.dense`)."""
    return cfg.dense()


def run_retrain(ctx: RunContext) -> None:
    """The ``imp`` method: dense level 0, then ``--levels`` prune–retrain phases [ZIMMER]."""
    p = ctx.cfg.prune
    if p.levels < 1:
        raise ValueError(
            "--method imp needs --levels >= 1 (the number of prune-retrain phases J; 1 is one-shot)"
        )
    if p.retrain_epochs < 0:
        raise ValueError(f"--retrain-epochs must be >= 0, got {p.retrain_epochs}")
    phase_fraction(p.goal_sparsity, p.levels)  # a bad --goal-sparsity fails before any training
    if not level_done(ctx.run_dir, 0):
        _copy_dense_level(ctx)
    schedule = lr_schedule(ctx.cfg.train, ctx.steps_per_epoch)
    plan = PhasePlan(
        original=[schedule(t) for t in range(ctx.total_steps)],
        original_warmup=ctx.steps(ctx.cfg.train.warmup),
        schedule=p.retrain_schedule,
        steps=[p.retrain_epochs * ctx.steps_per_epoch] * p.levels,
    )
    run_phases(ctx, plan)


def run_phases(ctx: RunContext, plan: PhasePlan) -> None:
    """Levels ``1..J``: prune ``s`` of the remaining weights, retrain with ``plan.schedule``.

    Level 0 must be finished. Each level's ``metrics.json`` records the phase, the
    pruned share ``s``, the relative norm drop ``‖θ − θ_pruned‖/‖θ‖`` (all
    parameters), the test loss/error right after pruning, ``eta0`` (the LR reached
    after the warm-up) and, for ALLR, how ``η_0`` came about (``allr``: raw value,
    bounds, which bound clipped it).
    """
    p = ctx.cfg.prune
    phases = len(plan.steps)
    frac = phase_fraction(p.goal_sparsity, phases)
    eta_max, eta_min = schedule_bounds(plan.original, plan.original_warmup)
    for j in range(1, phases + 1):
        if level_done(ctx.run_dir, j):
            continue
        started = time.perf_counter()
        model = ctx.model()
        weights, prev_mask = ctx.previous(j - 1, model)

        def next_mask(weights=weights, prev_mask=prev_mask, j=j):
            return prune(weights, prev_mask, frac, p.prune_strategy, p.prune_seed + j)

        mask = ctx.prepare_mask(j, model, next_mask)
        drop = relative_norm_drop({n: weights[n] for n in param_names(model)}, mask)
        model.load_state_dict(weights)
        apply_mask(model, mask)
        pruned = evaluate(model, ctx.data, "test", shard=ctx.data_parallel)
        n_rt = plan.steps[j - 1]
        first = plan.dense_steps + sum(plan.steps[: j - 1])
        extra: dict[str, Any] = {
            "phase": j, "phases": phases, "schedule": plan.schedule, "prune_fraction": frac,
            "goal_sparsity": p.goal_sparsity, "retrain_steps": n_rt,
            "retrain_epochs": n_rt / ctx.steps_per_epoch,
            "warmup_steps": warmup_steps(plan.schedule, n_rt) if n_rt else 0,
            "dense_steps": plan.dense_steps, "eta_max": eta_max, "eta_min": eta_min,
            "norm_drop": drop, "pruned_test_loss": pruned["loss"],
            "pruned_test_error": pruned["error"], "start_step": first, "stop_step": first + n_rt,
        }  # fmt: skip
        result = TrainResult()
        if n_rt > 0:
            eta0 = None
            if plan.schedule == "allr":
                allr = allr_initial_lr(drop, frac, eta_max, n_rt, plan.dense_steps)
                extra["allr"] = allr.to_dict()
                eta0 = allr.eta0
            lr_of = retrain_schedule(plan.schedule, n_rt, plan.original, plan.original_warmup, eta0)
            extra["eta0"] = lr_of(extra["warmup_steps"])
            # The loop indexes the LR by global step; the schedule counts from the phase start.
            result = ctx.train(
                model, start=first, stop=first + n_rt, mask=mask,
                desc=f"phase {j}/{phases} ({plan.schedule})", log_as=level_series(j),
                lr_at=lambda t, f=lr_of, t0=first: f(t - t0),
            )  # fmt: skip
        m = write_level(ctx, j, model, mask, result, extra=extra, started=started)
        eta = f"  eta0 {extra['eta0']:.4g}" if "eta0" in extra else ""
        ctx.log(
            f"phase {j:2d}  density {m['density']:.4f}  pruned test error "
            f"{m['pruned_test_error']:.4f}  retrained {m['test_error']:.4f}{eta}  "
            f"{m['seconds']:.1f}s"
        )


def _copy_dense_level(ctx: RunContext) -> None:
    """Level 0 of this run: a copy of the dense network's weights, mask and metrics."""
    source = _dense_source(ctx)
    copy_level_zero(ctx, source, source_run=str(source))


def _dense_source(ctx: RunContext) -> Path:
    """The dense run directory: ``--from``, checked, or the shared ``dense`` run, trained on demand
    (:func:`landscape.runners.imp.dense_context`: beside this run directory)."""
    p = ctx.cfg.prune
    if p.from_run:
        run = open_run(p.from_run, device=str(ctx.device))
        diff = _training_differences(run.config, ctx.cfg)
        if diff:
            raise ConfigMismatchError(
                f"--from {p.from_run} was trained with other settings ({'; '.join(diff)}). "
                "The retraining schedules derive from the dense run's own schedule: repeat its "
                "data, model and training flags (e.g. the same --preset) with --from."
            )
        return run.path
    return shared_dense(ctx)  # under the dense run's lock, as the IMP runners


def _training_differences(there: RunConfig, here: RunConfig) -> list[str]:
    """Hashed data/model/training settings that differ, as ``"name: A there vs B now"``."""
    out = []
    for section in ("data", "model", "train"):
        a, b = getattr(there, section), getattr(here, section)
        for f in fields(a):
            if not f.metadata.get("hashed", True) or f.name in _IGNORED_FOR_FROM:
                continue
            va, vb = getattr(a, f.name), getattr(b, f.name)
            if va != vb:
                out.append(f"--{f.name.replace('_', '-')}: {va!r} there vs {vb!r} now")
    return out
