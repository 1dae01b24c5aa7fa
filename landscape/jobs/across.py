"""``connectivity_across(runs, spec)``: at every level several runs share, the barrier
matrix between the runs' solutions, raw and aligned [Entezari et al. 2022; Ainsworth et
al. 2023, §3] (``landscape connectivity RUN_1 RUN_2 ... --across``).

Typically the runs are seeds of one recipe. For each shared level ``L`` and each pair of
runs ``(i, j)``: the barrier on the straight path ``w_i^(L) → w_j^(L)`` as it is (raw)
and, with ``spec.align``, after permuting run ``j``'s hidden units onto run ``i``'s (its
mask permuted with its weights), each REPAIRed when ``spec.repair``; and the overlap
(IoU) of the two masks before and after the permutation. The model, the evaluation data
and the BatchNorm / matching / REPAIR batches are the first run's. The result goes into
the first run's ``analysis/connectivity-across_<digest>/``; the digest covers the runs'
paths (relative to the first run) and a hash of every level file read, so a retrained
level makes a new result and a repeated call reuses the finished one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from landscape import paths
from landscape.analysis.alignment import weight_distance
from landscape.errors import LandscapeError
from landscape.io import file_digest
from landscape.jobs.aligning import (
    align_states,
    alignment_record,
    check_repair,
    mask_iou,
    path_barrier,
    run_permutation_spec,
)
from landscape.jobs.common import Log
from landscape.jobs.store import Result, Writer, claim, stamp
from landscape.jobs.targets import parse_levels, resolve_run
from landscape.progress import progress
from landscape.pruning import density
from landscape.runs import Run
from landscape.settings import digest
from landscape.specs import ConnectivitySpec

__all__ = ["connectivity_across"]


def _runs(runs: Sequence[str | Path | Run], device: str) -> list[Run]:
    opened = [resolve_run(r, device) for r in runs]
    if len(opened) < 2:
        raise ValueError("--across compares runs: pass at least two run directories")
    where = [r.path.resolve() for r in opened]
    if len(set(where)) < len(where):
        raise LandscapeError("a run directory is listed twice; pass each run once")
    models = {r.config.model.model for r in opened}
    if len(models) > 1:
        raise LandscapeError(
            f"the runs are of different architectures ({', '.join(sorted(models))}); --across "
            "compares runs of one model"
        )
    return opened


def connectivity_across(
    runs: Sequence[str | Path | Run],
    spec: ConnectivitySpec = ConnectivitySpec(),
    *,
    out: str | Path | None = None,
    force: bool = False,
    wait: bool = False,
    quiet: bool = False,
    log: Log = print,
) -> Result:
    """The barrier matrices between ``runs`` at every level they share (module docstring).

    Args:
        runs: two or more run directories (or open runs) of one architecture.
        spec: ``levels`` (among the shared ones), ``points``, ``split``, ``align``,
            ``repair`` and the engine; ``matrix`` is ignored (the matrix over runs is the
            result).
        out: a folder for the result (``out/connectivity-across_<digest>/``).

    Returns:
        a :class:`Result` whose record holds ``labels`` (the runs' folder names),
        ``levels``, and per level (``per_level``) the ``[R, R]`` matrices
        ``error_matrix_raw``, ``loss_matrix_raw``, ``mask_iou_raw``, ``distance_raw`` and,
        when aligned, their ``_aligned`` twins, the runs' ``errors`` and the ``density``.
    """
    eng = spec.engine
    opened = _runs(runs, eng.device)
    shared = sorted(set.intersection(*(set(r.levels()) for r in opened)))
    if not shared:
        raise LandscapeError("the runs share no trained level; finish their levels first")
    levels = parse_levels(spec.levels, shared)
    first = opened[0]
    where = [r.path.resolve() for r in opened]
    files = [{str(lv): file_digest(paths.weights(r.path, lv), paths.mask(r.path, lv))
              for lv in levels} for r in opened]  # fmt: skip
    settings = {"kind": "connectivity-across", "levels": levels, "points": spec.points,
                "runs": [{"path": Path(os.path.relpath(p, where[0])).as_posix(), "files": f}
                         for p, f in zip(where, files)],
                "split": spec.split, **eng.hashed(), **spec.alignment()}  # fmt: skip
    key = digest(settings)
    folder = (Path(out) / f"connectivity-across_{key}" if out
              else paths.run_analysis_dir(first.path, "connectivity-across", key))  # fmt: skip
    model = first.model()
    check_repair(model, eng, spec.repair)  # before anything is written
    pspec = run_permutation_spec(first, model) if spec.align != "none" or spec.repair else None
    with claim(folder, settings, force=force, wait=wait, log=log) as done:
        if done is not None:
            return done
        t0 = time.perf_counter()
        n = len(opened)
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
        per_level = []
        with progress(total=len(levels) * len(pairs), desc="connectivity across runs",
                      disable=True if quiet else None) as bar:  # fmt: skip
            for lv in levels:
                per_level.append(_level(first, model, pspec, opened, lv, pairs, spec, bar.update))
        record = {
            "kind": "connectivity-across",
            "title": f"{n} runs of {first.config.model.model}: barriers between runs per level",
            "settings": settings, "run": str(first.path), "runs": [str(p) for p in where],
            "labels": [r.path.name for r in opened], "levels": levels, "per_level": per_level,
            **alignment_record(spec.align, spec.repair, model),
            "bn_policy": eng.bn_policy, "seconds": time.perf_counter() - t0, **stamp(),
        }  # fmt: skip
        from landscape.plotting.alignment import plot_across

        w = Writer(folder)
        w.arrays(_arrays(per_level, spec.align != "none"))
        w.figure("across.png", lambda: plot_across(record))
        result = w.finish(record)
        if not quiet:
            log(f"barriers across {n} runs at levels {levels} → {folder}")
        return result


def _level(first: Run, model, pspec, opened: Sequence[Run], level: int, pairs, spec, step) -> dict:
    """One level's matrices over the runs."""
    eng = spec.engine
    n = len(opened)
    states = [r.weights(level) for r in opened]
    states = [{k: v.to(first.device) for k, v in s.items()} for s in states]
    masks = [r.mask(level) for r in opened]
    aligned = spec.align != "none"
    keys = ["error_matrix_raw", "loss_matrix_raw", "mask_iou_raw", "distance_raw"]
    if aligned:
        keys += ["error_matrix_aligned", "loss_matrix_aligned", "mask_iou_aligned",
                 "distance_aligned"]  # fmt: skip
    mats = {k: np.zeros((n, n)) for k in keys}
    for k in ("mask_iou_raw", "mask_iou_aligned"):
        if k in mats:
            np.fill_diagonal(mats[k], 1.0)
    errors = [0.0] * n
    kw = {"points": spec.points, "split": spec.split, "engine": eng, "repair": spec.repair,
          "spec": pspec}  # fmt: skip
    for i, j in pairs:
        raw = path_barrier(first, model, states[i], states[j], **kw)
        errors[i], errors[j] = float(raw.errors[0]), float(raw.errors[-1])
        vals = {"error_matrix_raw": raw.error_barrier, "loss_matrix_raw": raw.loss_barrier,
                "mask_iou_raw": mask_iou(masks[i], masks[j])}  # fmt: skip
        if aligned:
            al = align_states(first, model, states[i], states[j], spec.align, eng.bn_samples,
                              masks[j], spec=pspec)  # fmt: skip
            res = path_barrier(first, model, states[i], al.state, **kw)
            vals.update(error_matrix_aligned=res.error_barrier, loss_matrix_aligned=res.loss_barrier,
                        mask_iou_aligned=mask_iou(masks[i], al.mask), distance_raw=al.distance_before,
                        distance_aligned=al.distance_after)  # type: ignore[arg-type]  # fmt: skip
        else:
            names = [k for k, _ in model.named_parameters()]
            vals["distance_raw"] = weight_distance(states[i], states[j], names)
        for k, v in vals.items():
            mats[k][i, j] = mats[k][j, i] = v
        step(1)
    out: dict[str, Any] = {"level": level, "density": density(masks[0]), "errors": errors}
    out.update({k: m.tolist() for k, m in mats.items()})
    off = ~np.eye(n, dtype=bool)
    out["summary"] = {k: float(m[off].mean()) for k, m in mats.items()}
    return out


def _arrays(per_level: list[dict], aligned: bool) -> dict[str, Any]:
    """``result.npz``: each per-level matrix stacked over levels, ``[levels, R, R]``."""
    keys = ["error_matrix_raw", "loss_matrix_raw", "mask_iou_raw", "distance_raw"]
    if aligned:
        keys += ["error_matrix_aligned", "loss_matrix_aligned", "mask_iou_aligned",
                 "distance_aligned"]  # fmt: skip
    out: dict[str, Any] = {k: np.asarray([p[k] for p in per_level]) for k in keys}
    out["levels"] = np.asarray([p["level"] for p in per_level])
    return out
