"""``connectivity(run, spec)``: the path through successive level solutions and the barrier
matrix [PAUL Fig. 2].

One engine call evaluates every point: the error along the piecewise-linear path
``w^(0) → w^(1) → …`` and, unless ``spec.matrix`` is off, the barrier between every
pair of levels. Each successive pair is also written as a ``barrier`` result in its
first level's analysis folder (the folder ``barrier`` would use for that pair with
these settings); the full result goes into the first level's
``analysis/connectivity_<digest>/``, its ``result.json`` written after everything else.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

from landscape import paths
from landscape.analysis.connectivity import ConnectivityResult
from landscape.analysis.connectivity import connectivity as connectivity_curves
from landscape.errors import LandscapeError
from landscape.jobs.aligning import (
    align_states,
    alignment_record,
    check_repair,
    connectivity_from_pairs,
    path_barrier,
    run_permutation_spec,
)
from landscape.jobs.common import Log, barrier_record, barrier_settings, write_barrier
from landscape.jobs.evaluation import bn_batches, eval_data
from landscape.jobs.store import Result, Writer, claim, stamp
from landscape.jobs.targets import level_ident, parse_levels, resolve_run, use_threads
from landscape.progress import progress
from landscape.runs import Run
from landscape.settings import digest
from landscape.specs import ConnectivitySpec

__all__ = ["connectivity"]


def connectivity(
    run: str | Path | Run,
    spec: ConnectivitySpec = ConnectivitySpec(),
    *,
    force: bool = False,
    wait: bool = False,
    quiet: bool = False,
    log: Log = print,
) -> Result:
    """Errors along the level path and the barrier matrix of the run ``run``.

    Returns:
        a :class:`Result` whose record holds ``labels`` (the levels), ``segments`` (one
        barrier record per successive pair), ``error_matrix``/``loss_matrix`` (or
        ``None``) and the endpoint errors.
    """
    eng = spec.engine
    run_ = resolve_run(run, eng.device)
    levels = parse_levels(spec.levels, run_.levels())
    if len(levels) < 2:
        raise LandscapeError(
            f"a path needs at least two levels; --levels {spec.levels!r} selects {levels} of "
            f"{run_.path}'s trained levels {run_.levels()}"
        )
    base = {"split": spec.split, **eng.hashed()}
    settings = {"kind": "connectivity", "levels": levels, "points": spec.points,
                "matrix": spec.matrix, **base, **spec.alignment()}  # fmt: skip
    folder = paths.analysis_dir(run_.path, levels[0], "connectivity", digest(settings))
    model = run_.model()
    check_repair(model, eng, spec.repair)  # before anything is written
    how = alignment_record(spec.align, spec.repair, model)
    # every level's weights and mask checked before the folder is claimed (nothing written)
    states = [run_.weights(lv) for lv in levels]
    with claim(folder, settings, force=force, wait=wait, log=log) as done:
        if done is not None:
            return done
        use_threads(run_, eng.threads, model)
        n, inner = len(levels), spec.points - 2
        total = n + inner * (n * (n - 1) // 2 if spec.matrix else n - 1)
        t0 = time.perf_counter()
        with progress(total=total, desc="connectivity", disable=True if quiet else None) as bar:
            if spec.align == "none" and not spec.repair:
                res = connectivity_curves(
                    model, states, eval_data(run_, spec.split, eng.eval_samples), spec.points,
                    eng.bn_policy, bn_batches(run_, eng), labels=levels, matrix=spec.matrix,
                    progress=bar.update, **eng.speed(),
                )  # fmt: skip
            else:  # every pair aligned on its own: no shared basis, one path per pair
                res = _pairwise(run_, model, states, levels, spec, bar.update)
        seconds = time.perf_counter() - t0
        name = run_.path.name
        # Each successive pair, in the format and folder of `barrier` (finished before the marker).
        for (la, lb), seg in zip(itertools.pairwise(levels), res.segments):
            bset = barrier_settings(eng, spec.split, spec.points, level_ident(la), level_ident(lb),
                                    spec.alignment())  # fmt: skip
            bfolder = paths.analysis_dir(run_.path, la, "barrier", digest(bset))
            with claim(bfolder, bset, force=force, wait=True, log=lambda _: None) as finished:
                if finished is None:  # a finished pair (same settings, same numbers) is kept
                    write_barrier(bfolder, barrier_record(seg, bset, run_.path, seconds,
                                                          f"{name}: level {la} → {lb}", how), seg)  # fmt: skip
        record = {"kind": "connectivity", "title": f"{name}: {spec.split} error, BN {eng.bn_policy}",
                  "settings": settings, "run": str(run_.path), **res.to_dict(), **how,
                  "points_evaluated": total, "seconds": seconds, **stamp()}  # fmt: skip
        position, losses, errors = res.path()
        arrays: dict[str, Any] = {"path_position": position, "path_losses": losses,
                                  "path_errors": errors, "alphas": res.segments[0].alphas,
                                  "endpoint_errors": res.endpoint_errors,
                                  "endpoint_losses": res.endpoint_losses}  # fmt: skip
        if res.error_matrix is not None:
            arrays.update(error_matrix=res.error_matrix, loss_matrix=res.loss_matrix)
        from landscape.plotting.connectivity import plot_connectivity

        w = Writer(folder)
        w.arrays(arrays)
        w.figure("connectivity.png", lambda: plot_connectivity(record))
        return w.finish(record)


def _pairwise(run_, model, states, levels, spec: ConnectivitySpec, step) -> ConnectivityResult:
    """The connectivity result with level ``j`` aligned onto level ``i`` for each pair
    (and the path repaired if asked), one pair at a time."""
    eng = spec.engine
    n = len(states)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if spec.matrix or j == i + 1]
    pspec = run_permutation_spec(run_, model) if spec.align != "none" or spec.repair else None
    curves = {}
    for i, j in pairs:
        state_j = states[j]
        if spec.align != "none":
            state_j = align_states(run_, model, states[i], state_j, spec.align, eng.bn_samples,
                                   spec=pspec).state  # fmt: skip
        curves[i, j] = path_barrier(run_, model, states[i], state_j, points=spec.points,
                                    split=spec.split, engine=eng, repair=spec.repair, spec=pspec)  # fmt: skip
        step(spec.points - 2)
    step(n)
    return connectivity_from_pairs(levels, curves, matrix=spec.matrix)
