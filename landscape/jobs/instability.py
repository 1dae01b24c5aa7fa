"""``instability(run, spec)``: the stability test of a level [PAUL §2, Frankle et al. 2020].

Trains two copies of level ``L`` from the level's starting point with different
SGD noise (data order, augmentation) and measures the barrier between them. The
starting point and step range are the runner's own (``landscape/runners/imp.py``):
``imp-wr`` — ``m_L ⊙ w_τ`` over ``τ .. T``; ``imp-lrr`` — ``m_L ⊙ w^(L−1)`` over ``0 .. T``;
``imp-ft`` — ``m_L ⊙ w^(L−1)`` over ``T .. 2T`` at the final LR; level 0 — ``w_τ``
(``w_0`` unless IMP-WR) over ``τ .. T``. The copies are saved under a hash of the
seeds and of the starting files (weights, mask), so a re-run with other
evaluation settings only re-measures, a retrained level gets new copies, and
``force`` retrains them.

With ``spec.rewind_steps`` the test runs from ``m_L ⊙ w_τ`` for each listed τ
(``w_τ`` retraced from the run's initialisation and data order) and reports the
onset of linear mode connectivity: the first τ whose error barrier is at most
``spec.onset``.

Under ``torchrun`` the two copies train on two ranks at once (copy ``i`` on rank
``i mod R``; in a scan every rewind step's copies at once, spread over all ranks),
the path's points are split over the ranks, and rank 0 alone saves and writes.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from landscape import distributed, paths
from landscape.analysis.engine import Points, evaluate_points
from landscape.checkpoint import load_state, save_state
from landscape.errors import LandscapeError
from landscape.functional import state_of
from landscape.hparams import parse_duration
from landscape.io import file_digest
from landscape.jobs.aligning import aligned_path_barrier, alignment_record, check_repair
from landscape.jobs.common import Log, StartPoint, start_point
from landscape.jobs.evaluation import eval_data
from landscape.jobs.store import Result, Writer, claim, stamp
from landscape.jobs.targets import resolve_run, use_threads
from landscape.locks import hold
from landscape.pruning import apply_mask
from landscape.runs import Run
from landscape.settings import digest
from landscape.specs import InstabilitySpec
from landscape.training import constant, lr_schedule, train

__all__ = ["instability", "rewind_points"]


@dataclass(frozen=True)
class _How:
    """How the job runs (never what it computes)."""

    force: bool
    wait: bool
    quiet: bool
    log: Log


def instability(
    run: str | Path | Run,
    spec: InstabilitySpec,
    *,
    force: bool = False,
    wait: bool = False,
    quiet: bool = False,
    log: Log = print,
) -> Result:
    """The stability test of ``spec.level`` (or the scan over ``spec.rewind_steps``).

    Returns:
        a :class:`Result`: an ``instability`` record (the barrier between the two copies,
        ``copy_errors_own_bn``, ``train_steps``), or an ``instability-scan`` record
        (``rewind_steps``, ``error_barriers``, ``onset``) whose ``children`` are the tests.
    """
    run_ = resolve_run(run, spec.engine.device)
    cfg = run_.config
    seeds = spec.seeds or (cfg.data.data_seed + 1, cfg.data.data_seed + 2)
    # The runner's thread rule: one thread for small CPU models (also what makes the
    # retraced rewind points match the run's bit for bit), unless --threads says otherwise.
    use_threads(run_, spec.engine.threads)
    if not spec.rewind_steps:
        how = _How(force, wait, quiet, log)
        return _test(run_, spec, seeds, start_point(run_, spec.level), how)
    return _scan(run_, spec, seeds, _How(force, wait, quiet, log))


def _test(
    run_: Run,
    spec: InstabilitySpec,
    seeds,
    sp: StartPoint,
    how: _How,
    extra: dict[str, Any] | None = None,
) -> Result:
    """One stability test: two copies from ``sp``."""
    from landscape.plotting.connectivity import plot_barrier

    eng, level = spec.engine, spec.level
    train_settings, copies_dir = _copies_dir(run_, level, seeds, sp, extra)
    settings = {**train_settings, "points": spec.points, "split": spec.split, **eng.hashed(),
                **spec.alignment()}  # fmt: skip
    folder = paths.analysis_dir(run_.path, level, "instability", digest(settings))
    model = run_.model()
    check_repair(model, eng, spec.repair)  # before anything is written
    with claim(folder, settings, force=how.force, wait=how.wait, log=how.log) as done:
        if done is not None:
            return done
        lr_at = _lr_at(run_, sp)
        mask = run_.mask(level)
        t0 = time.perf_counter()
        # The copies are shared by every evaluation of them: one process trains them
        # (under torchrun rank 0 holds the lock and copy i trains on rank i mod R).
        with distributed.primary_context(
            lambda: hold(copies_dir, wait=True, what="instability copies")
        ):
            copies = _copies(run_, sp, seeds, copies_dir, mask, lr_at, how)
        train_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        data = eval_data(run_, spec.split, eng.eval_samples)
        how_aligned = alignment_record(spec.align, spec.repair, model)
        # copy 1 permuted onto copy 0 when asked (the same function), then the path
        res, summary = aligned_path_barrier(
            run_, model, copies[0], copies[1], align=spec.align, repair=spec.repair,
            points=spec.points, split=spec.split, engine=eng,
        )  # fmt: skip
        if summary is not None:
            how_aligned = {**how_aligned, "alignment": summary}
        # Each copy as trained (its own BN statistics), on the same samples as the path.
        own = evaluate_points(run_.model(), Points.states(copies), data, bn_policy="none",
                              **eng.speed())  # fmt: skip
        title = f"{run_.path.name}: level {level} from step {sp.start}, seeds {tuple(seeds)}"
        record = {
            "kind": "instability", "title": title, "settings": settings, "run": str(run_.path),
            **res.to_dict(), **how_aligned,
            "copies": [str(copies_dir / f"copy_{i}.safetensors") for i in range(2)],
            "copy_errors_own_bn": own.errors.tolist(),
            "train_steps": [sp.start, sp.stop], "train_seconds": train_seconds,
            "seconds": time.perf_counter() - t0, **stamp(),
        }  # fmt: skip
        w = Writer(folder)
        w.arrays({"alphas": res.alphas, "losses": res.losses, "errors": res.errors})
        w.figure("barrier.png", lambda: plot_barrier(record))
        return w.finish(record)


def _copies_dir(
    run_: Run, level: int, seeds, sp: StartPoint, extra: dict[str, Any] | None
) -> tuple[dict[str, Any], Path]:
    """The training settings of the copies from ``sp`` and their folder: the copies depend
    only on them, so other evaluation settings reuse them."""
    train_settings = {"kind": "instability", "level": level, "seeds": list(seeds),
                      "start": file_digest(*sp.sources), **(extra or {})}  # fmt: skip
    folder = paths.analysis_dir(run_.path, level, "instability-copies", digest(train_settings))
    return train_settings, folder


def _lr_at(run_: Run, sp: StartPoint):
    """The learning rate of each step from ``sp``: the run's schedule (IMP-FT: its final LR)."""
    cfg = run_.config
    schedule = lr_schedule(cfg.train, run_.data.steps_per_epoch(cfg.data.batch_size))
    return constant(schedule(sp.start - 1)) if sp.constant_lr else schedule


def _train_scan_copies(
    run_: Run, spec: InstabilitySpec, seeds, starts: list[tuple[StartPoint, dict | None]],
    how: _How,
) -> None:  # fmt: skip
    """Under ``torchrun``: every missing copy of every rewind step of a scan at once, the
    ``k``-th on rank ``k mod R`` (not just two at a time); rank 0 holds the copies'
    locks, decides what is missing and saves the copies, which the tests then read."""
    dirs = [_copies_dir(run_, spec.level, seeds, sp, extra)[1] for sp, extra in starts]
    mask = run_.mask(spec.level)
    with contextlib.ExitStack() as held:

        def missing() -> list[tuple[int, int]]:
            for d in dirs:
                held.enter_context(hold(d, wait=True, what="instability copies"))
            return [(k, i) for k, d in enumerate(dirs) for i in range(len(seeds))
                    if not (d / f"copy_{i}.safetensors").exists()]  # fmt: skip

        todo = distributed.on_primary(missing)
        mine = []
        for j in distributed.my_indices(len(todo)):
            k, i = todo[j]
            sp = starts[k][0]
            path = dirs[k] / f"copy_{i}.safetensors"
            with distributed.alone():
                state = _copy(run_, sp, i, seeds[i], path, True, mask, _lr_at(run_, sp), how)
            mine.append({n: v.cpu() for n, v in state.items()})
        states = distributed.assemble(len(todo), mine)
        if distributed.is_primary():
            for (k, i), state in zip(todo, states):
                save_state(dirs[k] / f"copy_{i}.safetensors", state,
                           metadata={"seed": str(seeds[i])})  # fmt: skip
        distributed.barrier()  # the files exist before any rank reads them


def _copies(
    run_: Run, sp: StartPoint, seeds, copies_dir: Path, mask, lr_at, how: _How
) -> list[dict[str, Tensor]]:
    """The two copies trained from ``sp`` with the data seeds ``seeds`` (saved ones reused).

    Under ``torchrun`` copy ``i`` is read or trained on rank ``i mod R`` and every rank
    gets both; rank 0 decides which are missing and saves the new ones.
    """
    files = [copies_dir / f"copy_{i}.safetensors" for i in range(len(seeds))]
    missing = distributed.on_primary(lambda: [how.force or not f.exists() for f in files])
    if distributed.shard_world()[1] == 1:
        copies = []
        for i, seed in enumerate(seeds):
            copies.append(_copy(run_, sp, i, seed, files[i], missing[i], mask, lr_at, how))
            if missing[i]:
                save_state(files[i], copies[-1], metadata={"seed": str(seed)})
        return copies
    mine = []
    for i in distributed.my_indices(len(seeds)):
        with distributed.alone():  # each rank trains its own copy, no collective inside
            state = _copy(run_, sp, i, seeds[i], files[i], missing[i], mask, lr_at, how)
        mine.append({k: v.cpu() for k, v in state.items()})
    copies = distributed.assemble(len(seeds), mine)
    if distributed.is_primary():
        for i, seed in enumerate(seeds):
            if missing[i]:
                save_state(files[i], copies[i], metadata={"seed": str(seed)})
    return [{k: v.to(run_.device) for k, v in c.items()} for c in copies]


def _copy(
    run_: Run, sp: StartPoint, i: int, seed: int, path: Path, missing: bool, mask, lr_at,
    how: _How,
) -> dict[str, Tensor]:  # fmt: skip
    """Copy ``i``: read from ``path``, or (``missing``) trained with data seed ``seed``."""
    cfg = run_.config
    model = run_.model()
    if not missing:
        model.load_state_dict(run_.load(path))
        return state_of(model)
    model.load_state_dict(sp.state)
    train(
        model, run_.data, cfg.train, cfg.data.batch_size, start=sp.start, stop=sp.stop,
        mask=mask, lr_at=lr_at, data_seed=seed, augment=cfg.data.augment,
        desc=f"copy {i} (seed {seed})", show_progress=not how.quiet,
        context=f"{run_.path}, instability copy {i}",
    )  # fmt: skip
    return state_of(model)


def rewind_points(run_: Run, steps: list[int], *, quiet: bool = False) -> dict[int, Path]:
    """``w_τ = A_0(w_0, τ)`` for each step, retraced from the run's initialisation and data
    order in one dense pass (snapshots after step τ), saved once under the run's
    ``analysis/rewind-points/``. The run's own ``rewind.safetensors`` is the same
    trajectory: the runners train ``w_τ`` exactly so (``runners/common.py``)."""
    cfg = run_.config
    folder = paths.run_analysis_dir(run_.path, "rewind-points", "dense")
    files = {t: folder / f"step_{t}.safetensors" for t in steps}
    missing = sorted(t for t, f in files.items() if not f.exists())
    if missing:
        model = run_.model()
        if 0 in missing:
            save_state(files[0], state_of(model), metadata={"step": "0"})

        def snapshot(t: int, m) -> None:
            if t in files and t in missing:
                save_state(files[t], state_of(m), metadata={"step": str(t)})

        if missing[-1] > 0:
            train(
                model, run_.data, cfg.train, cfg.data.batch_size, start=0, stop=missing[-1],
                mask=None, data_seed=cfg.data.data_seed, augment=cfg.data.augment,
                desc=f"retrace w_τ to step {missing[-1]}", show_progress=not quiet,
                context=f"{run_.path}, rewind points", on_step=snapshot,
            )  # fmt: skip
    return files


def _scan(run_: Run, spec: InstabilitySpec, seeds, how: _How) -> Result:
    """The stability test at several rewind steps and the onset of LMC."""
    from landscape.plotting.connectivity import plot_instability_scan

    cfg, level = run_.config, spec.level
    method = cfg.prune.method
    if level > 0 and method != "imp-wr":
        raise LandscapeError(
            f"--rewind-steps moves the rewind point of IMP-WR levels (and of level 0); level "
            f"{level} of this {method!r} run starts from w^({level - 1}) instead"
        )
    own = start_point(run_, level)
    tau, total = own.start, own.stop  # the run's own rewind step (0 for LRR/FT level 0) and T
    spe = run_.data.steps_per_epoch(cfg.data.batch_size)
    steps = sorted(
        {parse_duration(t.strip(), spe) for t in spec.rewind_steps.split(",") if t.strip()}
    )
    if not steps or steps[-1] >= total:
        raise ValueError(
            f"--rewind-steps {spec.rewind_steps!r}: give steps (or '2ep') before the end of "
            f"training, T = {total} steps"
        )
    # Rank 0 retraces and saves the rewind points; every rank then reads them.
    files = distributed.on_primary(
        lambda: rewind_points(run_, [t for t in steps if t != tau], quiet=how.quiet)
    )
    mask = run_.mask(level)
    starts: list[tuple[StartPoint, dict | None]] = []
    for t in steps:
        if t == tau:  # the run's own rewind point: the same result as without rewind_steps
            starts.append((own, None))
            continue
        state = load_state(files[t], run_.device)
        if level > 0:
            apply_mask(state, mask)
        sp = StartPoint(state, t, total, False, (files[t], paths.mask(run_.path, level)))
        starts.append((sp, {"rewind_step": t}))
    if distributed.shard_world()[1] > 1 and not how.force:
        _train_scan_copies(run_, spec, seeds, starts, how)
    results = [_test(run_, spec, seeds, sp, how, extra) for sp, extra in starts]
    errors = [r["error_barrier"] for r in results]
    onset = next((t for t, e in zip(steps, errors) if e <= spec.onset), None)
    settings = {"kind": "instability-scan", "level": level, "seeds": list(seeds),
                "rewind_steps": steps, "points": spec.points, "split": spec.split,
                **spec.engine.hashed(), **spec.alignment()}  # fmt: skip
    record = {
        "kind": "instability-scan", "settings": settings, "run": str(run_.path),
        "title": f"{run_.path.name}: level {level}, stability vs rewind step",
        "rewind_steps": steps, "run_rewind_step": tau, "steps_per_epoch": spe,
        "error_barriers": errors, "loss_barriers": [r["loss_barrier"] for r in results],
        "copy_errors_own_bn": [r["copy_errors_own_bn"] for r in results],
        "onset_threshold": spec.onset, "onset": onset, "results": [str(r.folder) for r in results],
        "split": spec.split, "bn_policy": spec.engine.bn_policy, "align": spec.align,
        "repair": spec.repair, **stamp(),
    }  # fmt: skip
    with Writer(paths.analysis_dir(run_.path, level, "instability-scan", digest(settings))) as w:
        w.arrays({"rewind_steps": steps, "error_barriers": errors})
        w.figure("scan.png", lambda: plot_instability_scan(record))
        done = w.finish(record)
    return Result(done.record, done.folder, children=tuple(results))
