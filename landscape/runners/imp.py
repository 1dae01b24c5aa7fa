"""IMP with weight rewinding, learning-rate rewinding and fine-tuning ([PAUL Alg. 1]; docs/science.md).

============  ==========================================  ==================
method        level L > 0 starts from                      trains steps
============  ==========================================  ==================
``imp-wr``    ``m_L ⊙ w_τ`` (the pruned rewind point)      τ .. T (schedule resumes at τ)
``imp-lrr``   ``m_L ⊙ w^(L−1)``                            0 .. T (whole schedule replayed)
``imp-ft``    ``m_L ⊙ w^(L−1)``                            T .. 2T at the final LR
============  ==========================================  ==================

Then ``m_{L+1} = prune(w^(L), m_L, 1 − α)``.

Adaptive ratio (``--prune-ratio adaptive``)
-------------------------------------------
Instead of the fixed ``1 − α = --prune-fraction``, level ``L + 1`` prunes
``round(c · p*(L) · kept)`` of the ``kept`` remaining weights, where ``p*(L)`` is the
flatness bound's predicted maximal ratio at ``w^(L)`` [PAUL §3.3] (docs/science.md §10;
:func:`landscape.analysis.bound.flatness_bound` with :data:`ADAPTIVE_BOUND`, the
default ε rule — the dense network's training loss) and ``c = --adaptive-factor``
(default 0.8); ``--adaptive-bound averaged`` computes it with
:data:`ADAPTIVE_BOUND_AVERAGED` (the ``bound`` verb's faster defaults) instead. ``p*`` is
that of the run's mask rule: random pruning's for
``--prune-strategy random``, magnitude pruning's (global) otherwise. [PAUL, App. F]
mentions adapting the ratio but not an exact rule; this rule is **ours**. Level
``L + 1``'s ``metrics.json`` records ``p_star``, ``adaptive_factor``,
``prune_ratio_used`` (``c · p*``, capped below 1 so a weight remains) and the bound's
``p_star_epsilon``/``p_star_method``. A resumed level whose mask was already written
recomputes ``p*`` for its record (bit-identical on CPU).

Level 0, one dense network for every IMP method
-----------------------------------------------
Level 0 is the dense network ``w^(0)``, trained from ``w_0`` over the whole schedule
0..T, once per data/model/training settings: it is the ``dense_<hash>`` run that
``landscape train`` makes with those settings (:meth:`RunConfig.dense`), found
beside this run directory, in ``<parent of the run directory>/dense_<hash>`` (so
``--root R`` and ``--out R/x`` both use ``R/dense_<hash>``), and trained first
when it is missing. IMP-WR, IMP-LRR, IMP-FT and ``imp`` (:mod:`landscape.runners.retrain`)
share it. What a dense run holds::

    dense_<hash>/
      config.json
      rewind.safetensors             # w_0, the initialisation (the rewind point τ = 0)
      rewind/step_<τ>.safetensors    # w_τ = A_0(w_0, τ), for each τ an IMP-WR run asked for
      level_00/                      # w^(0)
        weights.safetensors  mask.safetensors  metrics.json

The rewind point ``w_τ`` is a snapshot the dense run takes while it trains (after
step τ, through the training loop's ``on_step``), as open_lth takes it. When a
finished dense run lacks the snapshot of a new τ, it is retraced from ``w_0`` over
steps 0..τ with the same data order: batches are a pure function of the step, so
the retraced ``w_τ`` is the one the dense training passed through, bit for bit on
CPU (``landscape instability --rewind-steps`` relies on the same fact).

An IMP run copies (never links, so a run directory stays self-contained) the
snapshot at its τ into its ``rewind.safetensors`` (``w_0`` for LRR and FT), then
the dense ``level_00`` files, ``metrics.json`` last, with ``method`` set to its
own and ``shared_from`` naming the dense run (:func:`copy_level_zero`). A run
directory whose level 0 and ``rewind.safetensors`` are written never touches a
dense run again.

IMP-WR's level 0 is therefore the continuous dense run 0..T. Before the dense
network was shared, IMP-WR trained its level 0 from ``w_τ`` over τ..T with a fresh
optimiser (momentum reset at τ), so the level-0 numbers (and through the masks,
every later level's) of IMP-WR runs with τ > 0 differ between runs made before and
after the change. Levels ≥ 1 are defined as before; IMP-LRR and IMP-FT are unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from landscape import distributed, paths
from landscape.errors import CheckpointError
from landscape.functional import state_of
from landscape.locks import hold
from landscape.pruning import Mask, apply_mask, prune
from landscape.runners.common import (
    RunContext,
    check_level_files,
    level_digests,
    level_done,
    level_series,
    log_level,
    write_level,
)
from landscape.runs import open_run, prepare_run_dir, run_dir_of
from landscape.specs import BoundSpec
from landscape.training import constant, lr_schedule

__all__ = [
    "ADAPTIVE_BOUND",
    "ADAPTIVE_BOUND_AVERAGED",
    "adaptive_ratio",
    "copy_level_zero",
    "dense_context",
    "run_dense",
    "run_imp",
    "shared_dense",
]


#: The flatness-bound settings of ``--prune-ratio adaptive``: 16 SLQ probes × 80 Lanczos
#: steps with Gauss rules (``trace_method="slq"``, the bound's estimator before 2026-12-07)
#: over 4096 training samples, exact below 2000 kept weights, the default ε rule. Not part
#: of the run's settings: changing it changes the masks of adaptive runs made afterwards,
#: so it stays on the estimator those runs were made with.
ADAPTIVE_BOUND = BoundSpec(trace_method="slq", exact_below=2000)
#: ``--adaptive-bound averaged``: the ``bound`` verb's defaults (averaged Gauss–anti-Gauss
#: rules, 2 × 60 products, exact up to ``specs.BOUND_EXACT_BELOW`` kept weights). A run
#: setting, so it names the run: masks made with it never mix with the pinned estimator's.
ADAPTIVE_BOUND_AVERAGED = BoundSpec()


def adaptive_ratio(ctx: RunContext, level: int) -> dict[str, Any]:
    """The ratio level ``level + 1`` prunes by under ``--prune-ratio adaptive`` (module docstring).

    Returns:
        the fields recorded in level ``level + 1``'s ``metrics.json``: ``p_star``,
        ``p_star_kind``, ``p_star_epsilon``, ``p_star_method``, ``adaptive_factor`` and
        ``prune_ratio_used`` (the fraction handed to :func:`landscape.pruning.prune`,
        which removes ``round(prune_ratio_used · kept)`` weights).
    """
    from landscape.analysis.bound import default_epsilon, flatness_bound

    p = ctx.cfg.prune
    spec = ADAPTIVE_BOUND_AVERAGED if p.adaptive_bound == "averaged" else ADAPTIVE_BOUND
    cs = spec.curvature
    model = ctx.model().to(torch.float64 if cs.dtype == "float64" else torch.float32)
    weights, mask = ctx.previous(level, model)
    data = ctx.data.tensors(cs.split, cs.samples)
    eps = spec.epsilon or default_epsilon(model, data, ctx.load(paths.weights(ctx.run_dir, 0)))
    model.load_state_dict(weights)
    kind = "random" if p.prune_strategy == "random" else "magnitude"
    probes, steps = spec.trace_shape()
    res = flatness_bound(
        model, data, mask, eps, exact_below=spec.exact_below, probes=probes,
        steps=steps, seed=cs.seed, trace_method=spec.trace_method,
        kinds=(kind,), factors=(), hvp=cs.hvp, chunk_size=cs.hvp_chunk_size or None,
    )  # fmt: skip
    kept = res.dim
    ratio = min(p.adaptive_factor * res.p_star[kind], (kept - 1) / kept)
    return {"p_star": res.p_star[kind], "p_star_kind": kind, "p_star_epsilon": eps,
            "p_star_method": res.method, "adaptive_factor": p.adaptive_factor,
            "prune_ratio_used": ratio}  # fmt: skip


def run_imp(ctx: RunContext) -> None:
    """The IMP level loop for ``ctx.cfg.prune.method`` in {imp-wr, imp-lrr, imp-ft}."""
    p = ctx.cfg.prune
    method = p.method
    T = ctx.total_steps
    tau = ctx.steps(p.rewind_step) if method == "imp-wr" else 0
    if tau >= T:
        raise ValueError(
            f"--rewind-step {p.rewind_step} is not before the end of training (T = {T} steps)"
        )
    _level_zero(ctx, tau)
    schedule = lr_schedule(ctx.cfg.train, ctx.steps_per_epoch)
    rewind = ctx.load(paths.rewind(ctx.run_dir))
    for level in range(1, p.levels + 1):
        if level_done(ctx.run_dir, level):
            continue
        started = time.perf_counter()
        model = ctx.model()
        if method == "imp-wr":
            start_state = rewind
        else:
            start_state, _ = ctx.previous(level - 1, model)

        adaptive = adaptive_ratio(ctx, level - 1) if p.prune_ratio == "adaptive" else {}
        fraction = adaptive.get("prune_ratio_used", p.prune_fraction)
        if adaptive:
            ctx.log(f"level {level:2d}  adaptive ratio {fraction:.4f} = {p.adaptive_factor:g} · "
                    f"p*({level - 1}) {adaptive['p_star']:.4f}")  # fmt: skip

        def next_mask(level=level, model=model, fraction=fraction):
            weights, mask = ctx.previous(level - 1, model)
            return prune(weights, mask, fraction, p.prune_strategy, p.prune_seed + level)

        mask = ctx.prepare_mask(level, model, next_mask)
        model.load_state_dict(start_state)
        apply_mask(model, mask)
        if method == "imp-ft":
            start, stop, lr_at = T, 2 * T, constant(schedule(T - 1))
        else:
            start, stop, lr_at = tau, T, schedule
        desc = f"level {level}/{p.levels}"
        result = ctx.train(model, start=start, stop=stop, mask=mask, desc=desc, lr_at=lr_at,
                           log_as=level_series(level))  # fmt: skip
        m = write_level(
            ctx, level, model, mask, result, started=started,
            extra={"start_step": start, "stop_step": stop, "rewind_step": tau, **adaptive},
        )  # fmt: skip
        ctx.log(
            f"level {level:2d}  density {m['density']:.4f}  test error {m['test_error']:.4f}  "
            f"train loss {m['train_loss']:.4f}  {m['seconds']:.1f}s"
        )


def _level_zero(ctx: RunContext, tau: int) -> None:
    """``rewind.safetensors`` (``w_τ``) and level 0, copied from the shared dense run."""
    rewind = paths.rewind(ctx.run_dir)
    if rewind.exists() and level_done(ctx.run_dir, 0):
        return
    trained_now = not level_done(run_dir_of(ctx.cfg.dense(), root=ctx.run_dir.parent), 0)
    dense_dir = shared_dense(ctx, tau)
    if not rewind.exists():
        ctx.copy_file(paths.rewind_snapshot(dense_dir, tau), rewind)
    if not level_done(ctx.run_dir, 0):
        m = copy_level_zero(ctx, dense_dir, rewind_step=tau)
        if not trained_now:  # a dense network trained just now has printed its level-0 line
            ctx.log(
                f"level  0  density {m['density']:.4f}  test error {m['test_error']:.4f}  "
                f"(the dense network of {dense_dir})"
            )


def run_dense(ctx: RunContext, snapshots: Iterable[int] = ()) -> None:
    """Train the dense network (level 0, from ``w_0`` over the whole schedule 0..T).

    Args:
        ctx: the dense run.
        snapshots: rewind steps τ whose ``w_τ`` must be saved (:func:`landscape.paths.rewind_snapshot`):
            taken during the training, or retraced from ``w_0`` when level 0 is
            already finished.
    """
    total = ctx.total_steps
    steps = sorted(set(snapshots))
    for t in steps:
        if not 0 <= t < total:
            raise ValueError(
                f"a rewind step must lie in [0, T) with T = {total} steps of the dense run "
                f"{ctx.run_dir}; got {t}: pass a smaller --rewind-step"
            )
    model = ctx.model()
    if not paths.rewind(ctx.run_dir).exists():
        ctx.save_state(paths.rewind(ctx.run_dir), state_of(model), metadata={"step": "0"})
    if level_done(ctx.run_dir, 0):
        _retrace(ctx, steps)
        return
    started = time.perf_counter()
    mask = ctx.prepare_mask(0, model, None)  # all ones: the same updates as no mask
    apply_mask(model, mask)
    result = ctx.train(
        model, start=0, stop=total, mask=mask, desc="level 0/0", log_as=level_series(0),
        on_step=_snapshotter(ctx, _missing(ctx, steps)),
    )  # fmt: skip
    m = write_level(
        ctx, 0, model, mask, result, started=started,
        extra={"start_step": 0, "stop_step": total, "rewind_step": 0},
    )  # fmt: skip
    ctx.log(
        f"level  0  density {m['density']:.4f}  test error {m['test_error']:.4f}  "
        f"train loss {m['train_loss']:.4f}  {m['seconds']:.1f}s"
    )


def _missing(ctx: RunContext, steps: Iterable[int]) -> set[int]:
    return {t for t in steps if t > 0 and not paths.rewind_snapshot(ctx.run_dir, t).exists()}


def _snapshotter(ctx: RunContext, todo: set[int]) -> Any:
    """An ``on_step`` hook that saves ``w_t`` (atomically) after each step ``t`` in ``todo``."""

    def snapshot(t: int, model: nn.Module) -> None:
        if t in todo:
            ctx.save_state(
                paths.rewind_snapshot(ctx.run_dir, t), state_of(model), metadata={"step": str(t)}
            )

    return snapshot


def _retrace(ctx: RunContext, steps: Iterable[int]) -> None:
    """Save the missing snapshots of a finished dense run: train ``w_0`` over 0..max τ again."""
    todo = _missing(ctx, steps)
    if not todo:
        return
    model = ctx.model()
    mask: Mask = ctx.mask(0)
    ctx.log(f"dense: retracing w_τ for τ = {sorted(todo)} in {ctx.run_dir}")
    ctx.train(
        model, start=0, stop=max(todo), mask=mask, desc=f"retrace w_τ to step {max(todo)}",
        eval_every=0, on_step=_snapshotter(ctx, todo),
    )  # fmt: skip


def dense_context(ctx: RunContext) -> RunContext:
    """The dense run of ``ctx``'s settings, ``<parent of ctx.run_dir>/dense_<hash>``, prepared."""
    cfg = ctx.cfg.dense()
    run_dir = ctx.written(lambda: prepare_run_dir(cfg, root=ctx.run_dir.parent))
    # The dense training this run waits for is its level 0: logged into this run's log.
    dense = RunContext(cfg, run_dir, ctx.device, ctx.show_progress, ctx.log, ctx.data_parallel,
                       experiment=ctx.experiment)  # fmt: skip
    dense.__dict__["data"] = ctx.data  # share the loaded data (cached_property slot)
    return dense


def shared_dense(ctx: RunContext, rewind_step: int = 0) -> Path:
    """The dense run ``ctx`` starts from, with level 0 finished and ``w_τ`` saved for
    ``τ = rewind_step``: reused when present, else trained (or retraced) now."""
    # Another IMP run may be training the same dense network: wait for it, then reuse it.
    # The lock comes first: preparing the dense run may write its config.json. In a
    # data-parallel run rank 0 holds it, and the other ranks wait until it does.
    lock = run_dir_of(ctx.cfg.dense(), root=ctx.run_dir.parent)
    with distributed.primary_context(lambda: hold(lock, wait=True, what="dense run")):
        dense = dense_context(ctx)
        if not level_done(dense.run_dir, 0):
            ctx.log(
                f"{ctx.cfg.prune.method}: training the dense network first, into {dense.run_dir}"
            )
        run_dense(dense, snapshots=(rewind_step,))
    return dense.run_dir


def copy_level_zero(ctx: RunContext, source: Path, **fields: Any) -> dict[str, Any]:
    """Make level 0 of ``ctx``'s run a copy of ``source``'s dense level 0 and return its metrics.

    The weights are checked against the model and copied byte for byte (atomically);
    so is the mask when ``source`` prunes the same tensors (else this run's all-ones
    mask is written). ``metrics.json`` comes last, with ``method`` set to this
    run's, ``shared_from`` naming ``source``, and ``fields`` added.

    Raises:
        CheckpointError: ``source`` has no finished level 0, or it is not dense.
    """
    run = open_run(source, device=str(ctx.device))
    if 0 not in run.levels():
        raise CheckpointError(
            f"{source} has no finished level 0 (dense network); finish it first with "
            "`landscape train` and the same settings, or pass another --from"
        )
    metrics = run.metrics(0)
    if metrics.get("density", 1.0) != 1.0:
        raise CheckpointError(
            f"level 0 of {source} is not dense (density {metrics['density']}); "
            "--from needs a run whose level 0 is the dense network"
        )
    check_level_files(source, 0)  # a damaged dense level is reported, not copied
    model = ctx.model()
    ctx.load(paths.weights(source, 0))  # the right architecture, or a clear error
    same_scope = (run.config.prune.prune_scope, run.config.prune.prune_ignore) == (
        ctx.cfg.prune.prune_scope, ctx.cfg.prune.prune_ignore)  # fmt: skip
    if same_scope and paths.mask(source, 0).exists():
        ctx.copy_file(paths.mask(source, 0), paths.mask(ctx.run_dir, 0))
    else:
        ctx.prepare_mask(0, model, None)
    ctx.copy_file(paths.weights(source, 0), paths.weights(ctx.run_dir, 0))
    metrics.update(level=0, method=ctx.cfg.prune.method, shared_from=str(source),
                   files=level_digests(ctx.run_dir, 0), **fields)  # fmt: skip
    ctx.save_json(paths.metrics(ctx.run_dir, 0), metrics)
    log_level(ctx, 0, metrics)
    return metrics
