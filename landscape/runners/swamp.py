"""SWAMP: sparse weight averaging with multiple particles [SWAMP Alg. 1] (docs/science.md).

::

    θ_0 = dense SGD to the rewind step τ;  m_0 = 1
    for level L = 0 .. L_max:
        for particle n = 0 .. N−1:                    # N = 1 for L < K (SWAMP+)
            train m_L ⊙ θ_0 over steps τ..T with data seed  data_seed + 1000·n:
            base schedule until T_swa = τ + swa_start·(T − τ), then constant swa_lr,
            running mean θ̄^(n) of the iterates, one snapshot per epoch
        θ̄ = mean_n θ̄^(n);  BatchNorm statistics of θ̄ re-estimated (not averaged)
        w^(L) = θ̄;  m_{L+1} = prune(θ̄, m_L, 1 − α)      # one global-magnitude mask

What a level writes, in this order: each particle's SWA mean with its own BatchNorm
statistics re-estimated (``particles/p<n>.safetensors``, the resume points within
a level), then the averaged network (``weights.safetensors``) and ``metrics.json``
with every particle's test error beside the average's. The mask of the next level
is computed from the averaged weights when that level starts.

Particles train in one of three modes (``--particle-mode``, not part of the run hash)
that run the same algorithm on the same batches; they are not bit-equal: the batched
kernels sum in another order, so the first steps agree to float rounding and a long,
high-learning-rate level drifts apart like a run with slightly different SGD noise
(docs/science.md §5 measures how far):
``sequential`` (the reference, one after another, each saved as soon as it is
done), ``vectorized`` (all at once through ``torch.func.vmap``, the default on
CUDA) and ``distributed`` (``torchrun --nproc-per-node R``: particle ``n`` trains on
rank ``n mod R``, the average is an all-reduce, rank 0 alone reads and writes files).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from safetensors import safe_open
from torch import Tensor, nn

from landscape import distributed, paths
from landscape.checkpoint import save_state
from landscape.distributed import DistributedError
from landscape.functional import flatten, param_names, state_of, unflatten
from landscape.hparams import PruneHparams
from landscape.pruning import Mask, apply_mask, ones_mask, prune
from landscape.runners.common import RunContext, level_done, level_series, write_level
from landscape.training import TrainResult, evaluate, lr_schedule, recompute_bn
from landscape.training.schedules import Schedule
from landscape.training.swa import ParticleResult, SwaPlan, bn_batches, make_plan, train_particle
from landscape.training.vectorized import train_particles

__all__ = [
    "PARTICLE_SEED_STRIDE",
    "particle_data_seed",
    "particles_at",
    "resolve_mode",
    "run_swamp",
]

#: Particle ``n`` draws its data order and augmentation with ``data_seed + 1000·n`` [ours]:
#: particle 0 sees exactly the batches of an IMP-WR run with the same ``--data-seed``, and
#: runs with ``--data-seed`` 0..999 never share a particle's SGD noise.
PARTICLE_SEED_STRIDE = 1000

_MODES = ("sequential", "vectorized", "distributed")


def particle_data_seed(data_seed: int, index: int) -> int:
    """The data seed of particle ``index`` (see :data:`PARTICLE_SEED_STRIDE`)."""
    return data_seed + PARTICLE_SEED_STRIDE * index


def particles_at(level: int, p: PruneHparams) -> int:
    """N at ``level``: one particle for the first ``swamp_plus`` levels (SWAMP+), then ``particles``."""
    return 1 if level < p.swamp_plus else p.particles


def resolve_mode(requested: str, device: torch.device, world: int) -> str:
    """The particle mode to use: ``auto`` is distributed under torchrun, vectorized on CUDA, else sequential.

    Sequential is the CPU default because vmap gives a CPU nothing it is not already
    doing (measured on a 2-core CPU; bench/bench_swamp.py measures it).

    Raises:
        DistributedError: ``distributed`` without torchrun, or another mode with
            more than one process (every rank would train every particle).
    """
    if requested not in ("auto", *_MODES):
        raise ValueError(f"unknown --particle-mode {requested!r}: use auto, {', '.join(_MODES)}")
    if world > 1:
        if requested not in ("auto", "distributed"):
            raise DistributedError(
                f"--particle-mode {requested} under torchrun ({world} processes) would train every "
                "particle on every rank; use --particle-mode distributed (or auto)"
            )
        return "distributed"
    if requested == "distributed":
        raise DistributedError(
            "--particle-mode distributed needs several processes: launch with "
            "`torchrun --nproc-per-node N -m landscape prune --method swamp ...`, or use "
            "--particle-mode sequential/vectorized/auto on one process"
        )
    if requested == "auto":
        return "vectorized" if device.type == "cuda" else "sequential"
    return requested


def _quiet(*args: Any, **kwargs: Any) -> None:
    """The log of ranks other than 0."""


def run_swamp(ctx: RunContext) -> None:
    """The SWAMP level loop; resumes at the first missing particle of the first unfinished level."""
    device = distributed.local_device(ctx.device)
    created = distributed.init_from_env(device)
    try:
        world = distributed.world_size()
        mode = resolve_mode(ctx.cfg.prune.particle_mode, device, world)
        if world > 1:
            primary = distributed.is_primary()
            ctx = RunContext(
                ctx.cfg, ctx.run_dir, device, show_progress=ctx.show_progress and primary,
                log=ctx.log if primary else _quiet,
                experiment=ctx.experiment if primary else None,
            )  # fmt: skip
            ctx.log(f"swamp: {world} ranks, particle n on rank n mod {world}")
        _run_levels(ctx, mode)
        distributed.barrier()
    finally:
        if created:
            distributed.shutdown()


def _run_levels(ctx: RunContext, mode: str) -> None:
    p = ctx.cfg.prune
    T = ctx.total_steps
    tau = ctx.steps(p.rewind_step)
    if tau >= T:
        raise ValueError(
            f"--rewind-step {p.rewind_step} is not before the end of training (T = {T} steps)"
        )
    base = lr_schedule(ctx.cfg.train, ctx.steps_per_epoch)
    # --swa-lr 0 (default): the rate the schedule has reached where SWA starts [ours]
    swa_step = tau + round(p.swa_start * (T - tau))
    swa_lr = p.swa_lr if p.swa_lr > 0 else base(min(swa_step, T - 1))
    plan = make_plan(tau, T, p.swa_start, swa_lr, ctx.steps_per_epoch)
    rewind = _rewind(ctx, tau)
    bn, bn_record = bn_batches(ctx.data, ctx.cfg.data.batch_size)
    for level in range(p.levels + 1):
        done = level_done(ctx.run_dir, level) if distributed.is_primary() else None
        if distributed.broadcast_object(done):
            continue
        _run_level(ctx, level, mode, rewind, plan, base, bn, bn_record)


def _rewind(ctx: RunContext, tau: int) -> dict[str, Tensor]:
    """``θ_0``: rank 0 trains (or reads) it, every other rank receives it."""
    if distributed.is_primary():
        state = ctx.rewind_state(tau)
    else:
        state = {k: v.detach().clone() for k, v in ctx.model().state_dict().items()}
    return distributed.broadcast_state(state)


def _run_level(
    ctx: RunContext,
    level: int,
    mode: str,
    rewind: Mapping[str, Tensor],
    plan: SwaPlan,
    base: Schedule,
    bn: Sequence[tuple[Tensor, Tensor]],
    bn_record: dict[str, Any],
) -> None:
    p = ctx.cfg.prune
    primary = distributed.is_primary()
    started = time.perf_counter()
    n = particles_at(level, p)
    model = ctx.model()
    mask = _level_mask(ctx, level, model)
    start = {k: v.clone() for k, v in rewind.items()}
    apply_mask(start, mask)

    saved = [paths.particle(ctx.run_dir, level, i).exists() for i in range(n)] if primary else None
    saved = distributed.broadcast_object(saved)
    todo = [i for i in range(n) if not saved[i]]
    # The particles this rank holds: (state with re-estimated BN statistics, record).
    held: dict[int, tuple[dict[str, Tensor], dict[str, Any]]] = {}
    if primary:
        for i in range(n):
            if saved[i]:
                held[i] = _load_particle(ctx, level, i, model)
        if todo and len(todo) < n:
            ctx.log(f"level {level}: particles {sorted(held)} are saved, resuming at {todo[0]}")
    # The particles whose weights this rank adds to the all-reduced sum.
    owned = list(held)
    if mode == "distributed":
        mine = todo[distributed.rank() :: distributed.world_size()]
        local = "vectorized" if ctx.device.type == "cuda" else "sequential"
    else:
        mine, local = todo, mode

    def finish(i: int, result: ParticleResult) -> None:
        state, record = _finish_particle(ctx, model, result, bn, i)
        if mode != "distributed":
            _save_particle(ctx, level, i, state, record)  # a resume point, before the level's files
        held[i] = (state, record)

    _train(ctx, local, level, mine, model, start, mask, plan, base, finish)
    owned += mine
    if mode == "distributed":
        # Rank 0 writes every particle file, so it collects what the other ranks trained.
        ours = {i: ({k: v.cpu() for k, v in held[i][0].items()}, held[i][1]) for i in mine}
        for part in distributed.gather_objects(ours) or []:
            for i, (state, record) in part.items():
                if i not in held:
                    held[i] = ({k: v.to(ctx.device) for k, v in state.items()}, record)
        if primary:
            for i in todo:
                _save_particle(ctx, level, i, *held[i])

    # θ̄ = (Σ_n θ̄^(n)) / N: a float64 sum over this rank's particles, all-reduced over ranks.
    pnames = param_names(model)
    like = model.state_dict()
    total = torch.zeros(
        sum(like[k].numel() for k in pnames), dtype=torch.float64, device=ctx.device
    )
    for i in owned:
        total += flatten(held[i][0], pnames).double()
    distributed.all_reduce_sum(total)
    avg = unflatten((total / n).to(like[pnames[0]].dtype), like, pnames)
    model.load_state_dict({**like, **avg})
    bn_used = recompute_bn(model, bn)  # re-estimated on fixed batches, never averaged
    if not primary:
        return
    _write(
        ctx,
        level,
        model,
        mask,
        mode,
        plan,
        [held[i][1] for i in range(n)],
        bn_used,
        bn_record,
        started,
    )


def _write(
    ctx: RunContext,
    level: int,
    model: nn.Module,
    mask: Mask,
    mode: str,
    plan: SwaPlan,
    records: list[dict[str, Any]],
    bn_used: int,
    bn_record: dict[str, Any],
    started: float,
) -> None:
    """Write the averaged network and ``metrics.json`` (rank 0)."""
    n = len(records)
    errors = [r["test_error"] for r in records]
    average = evaluate(model, ctx.data, "test")
    extra = {
        "particle_mode": mode,
        "world_size": distributed.world_size(),
        "num_particles": n,
        "average_test_error": average["error"],
        "average_test_loss": average["loss"],
        "particle_test_errors": errors,
        "particle_mean_test_error": sum(errors) / n,
        "particles": records,
        "rewind_step": plan.start,
        "start_step": plan.start,
        "stop_step": plan.stop,
        "swa_step": plan.swa_step,
        "swa_lr": plan.swa_lr,
        "swa_snapshot_steps": plan.snapshots(),
        "particle_seed_rule": f"data_seed + {PARTICLE_SEED_STRIDE}·n",
        "bn_recompute": {**bn_record, "batches": bn_used}
        if bn_used
        else {"policy": "none (no BatchNorm)"},
    }
    result = TrainResult(
        curve=[], seconds=sum(r["seconds"] for r in records), steps=plan.stop - plan.start
    )
    m = write_level(ctx, level, model, mask, result, extra=extra, started=started)
    ctx.log(
        f"level {level:2d}  density {m['density']:.4f}  test error: average {m['test_error']:.4f}, "
        f"particles {min(errors):.4f}..{max(errors):.4f} (N={n})  {m['seconds']:.1f}s"
    )


def _level_mask(ctx: RunContext, level: int, model: nn.Module) -> Mask:
    """``m_L``: rank 0 reads it or prunes the previous level's averaged weights; all ranks get it."""
    p = ctx.cfg.prune
    if distributed.is_primary():

        def next_mask() -> Mask:
            weights, mask = ctx.previous(level - 1, model)
            return prune(weights, mask, p.prune_fraction, p.prune_strategy, p.prune_seed + level)

        mask = ctx.prepare_mask(level, model, next_mask)
    else:
        mask = ones_mask(model, p.prune_scope, p.prune_ignore)  # shapes to receive into
    return distributed.broadcast_state(mask)


def _train(
    ctx: RunContext,
    mode: str,
    level: int,
    indices: Sequence[int],
    model: nn.Module,
    start: Mapping[str, Tensor],
    mask: Mask,
    plan: SwaPlan,
    base: Schedule,
    finish: Any,
) -> None:
    """Train particles ``indices`` from ``start``; ``finish(i, result)`` takes each one."""
    if not indices:
        return
    cfg = ctx.cfg
    seeds = [particle_data_seed(cfg.data.data_seed, i) for i in indices]
    common = dict(
        plan=plan, lr_at=base, mask=mask, augment=cfg.data.augment, eval_every=ctx.eval_every,
        show_progress=ctx.show_progress,
    )  # fmt: skip
    where = f"{ctx.run_dir}, level {level}"
    series = level_series(level)
    if mode == "vectorized":
        desc = f"level {level}/{cfg.prune.levels} particles {list(indices)}"
        results = train_particles(
            model, [start] * len(indices), ctx.data, cfg.train, cfg.data.batch_size,
            data_seeds=seeds, desc=desc, context=f"{where}, particles {list(indices)}",
            on_logs=[ctx.on_log(f"{series}/particle_{i}") for i in indices], **common,
        )  # fmt: skip
        for i, r in zip(indices, results):
            finish(i, r)
        return
    for i, seed in zip(indices, seeds):
        model.load_state_dict(start)
        desc = f"level {level}/{cfg.prune.levels} particle {i}"
        r = train_particle(
            model, ctx.data, cfg.train, cfg.data.batch_size, data_seed=seed, desc=desc,
            context=f"{where}, particle {i}", on_log=ctx.on_log(f"{series}/particle_{i}"), **common,
        )  # fmt: skip
        finish(i, r)


def _finish_particle(
    ctx: RunContext, model: nn.Module, result: ParticleResult, bn: Sequence, index: int
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The particle's SWA mean with its BN statistics re-estimated, and its metrics record."""
    model.load_state_dict(result.state)
    recompute_bn(model, bn)
    test = evaluate(model, ctx.data, "test")
    record = {
        "index": index,
        "data_seed": particle_data_seed(ctx.cfg.data.data_seed, index),
        "test_error": test["error"],
        "test_loss": test["loss"],
        "snapshots": result.snapshots,
        "steps": result.steps,
        "seconds": result.seconds,
        "curve": result.curve,
    }
    return state_of(model), record


def _save_particle(
    ctx: RunContext, level: int, index: int, state: Mapping[str, Tensor], record: dict[str, Any]
) -> None:
    save_state(
        paths.particle(ctx.run_dir, level, index), state, metadata={"record": json.dumps(record)}
    )


def _load_particle(
    ctx: RunContext, level: int, index: int, model: nn.Module
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """A saved particle and its record (re-evaluated if the file carries none)."""
    path = paths.particle(ctx.run_dir, level, index)
    state = ctx.load(path)
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
    try:
        record = json.loads(meta["record"])
    except (KeyError, json.JSONDecodeError):
        model.load_state_dict(state)
        test = evaluate(model, ctx.data, "test")
        record = {
            "index": index,
            "data_seed": particle_data_seed(ctx.cfg.data.data_seed, index),
            "test_error": test["error"], "test_loss": test["loss"],
            "snapshots": None, "steps": None, "seconds": 0.0, "curve": [],
        }  # fmt: skip
    return state, record
