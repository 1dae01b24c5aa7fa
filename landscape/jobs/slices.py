"""``slice(target, spec)``: loss and error on a 2-D plane of weight space.

Three planes (``spec.plane``):

- ``"level"``: ``target`` is a run; the plane through ``w^(L)``, its projection
  ``m_{L+1} ⊙ w^(L)`` and the next solution ``w^(L+1)`` [PAUL Fig. 3]; the dense level 0
  is marked too, and the matching contour is drawn at its test error + tolerance.
- ``"checkpoints"``: ``target`` is three checkpoints of one architecture (the first is
  the origin); the contour is at the origin's error + tolerance.
- ``"random"``: ``target`` is one checkpoint; ``w + a d1 + b d2`` with random
  filter-normalised directions, biases and BatchNorm excluded [Li et al. 2018].

Test error/loss and train loss/error are measured at every grid point; the result
(JSON + NPZ + ``slice.png``) goes into the origin's level ``analysis/slice_<digest>/``
(the run's ``analysis/`` for an origin outside the levels).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from landscape import paths
from landscape.analysis.slice_sets import (
    LCS_BARRIER,
    linearly_connected_sublevel_set,
    origin_path_max,
)
from landscape.analysis.slices import plane_slice, random_slice
from landscape.devices import available_memory
from landscape.errors import LandscapeError
from landscape.jobs.common import Log
from landscape.jobs.evaluation import bn_batches, eval_data
from landscape.jobs.store import Result, Writer, claim, stamp
from landscape.jobs.targets import (
    Checkpoint,
    foreign_ident,
    resolve,
    resolve_run,
    short_label,
    use_threads,
)
from landscape.progress import progress
from landscape.runs import Run
from landscape.settings import digest
from landscape.specs import SliceSpec

__all__ = ["BYTES_PER_POINT", "check_grid_memory", "slice"]

#: Memory a grid point takes while a slice is measured and written, in bytes: its plane
#: coordinates and coefficients, four measured quantities, the connected-set maximum and
#: the LCS flag, as arrays, as Python lists and as JSON text (about 450 bytes, rounded up
#: from those sizes).
BYTES_PER_POINT = 450

Anchors = list[tuple[str, dict[str, Tensor]]]


def slice(  # the analysis's name; used as jobs.slice, so the builtin is not hidden
    target: Any,
    spec: SliceSpec,
    *,
    out: str | Path | None = None,
    force: bool = False,
    wait: bool = False,
    quiet: bool = False,
    log: Log = print,
) -> Result:
    """A 2-D slice (module docstring).

    Returns:
        a :class:`Result` whose record holds the grid ``a``, ``b``, the ``values`` per
        quantity (``test_error``, ``test_loss``, ``train_loss``, ``train_error``), the
        anchors' ``marks`` and, for anchor planes, the ``matching_level``.
    """
    check_grid_memory(spec.grid)
    eng = spec.engine
    base = {"kind": "slice", "plane": spec.plane}
    mask = None
    extra: dict[str, dict[str, Tensor]] = {}
    if spec.plane == "random":
        c = resolve(target, device=eng.device)
        mask = c.mask() if spec.within_mask else None
        run, level, anchors = c.run, c.level, [(c.label, c.state)]
        settings = {**base, "center": c.ident, **spec.hashed(), **eng.hashed()}
        title = f"{run.path.name}/{c.ident}: random {spec.normalize}-normalised plane"
        where = c
    elif spec.plane == "checkpoints":
        if isinstance(target, (str, Path, Run, Checkpoint)) or len(target) != 3:
            raise LandscapeError("the checkpoints plane needs three checkpoints (A is the origin)")
        located = [resolve(t, device=eng.device) for t in target]
        where, run, level = located[0], located[0].run, located[0].level
        _same_architecture(target, located)
        idents = [c.ident if c.run.path.resolve() == run.path.resolve() and not c.bare
                  else foreign_ident(c) for c in located]  # fmt: skip
        anchors = [(short_label(i), {k: v.to(run.device) for k, v in c.state.items()})
                   for i, c in zip(idents, located)]  # fmt: skip
        settings = {**base, "anchors": idents, **spec.hashed(), **eng.hashed()}
        title = f"{run.path.name}: plane through {', '.join(a for a, _ in anchors)}"
    else:
        run = resolve_run(target, eng.device)
        level = spec.level
        if level + 1 not in run.levels() or level not in run.levels():
            raise LandscapeError(
                f"the plane of level {level} needs levels {level} and {level + 1}; {run.path} has "
                f"{run.levels()}. Pick --level below the last trained one."
            )
        w = run.weights(level)
        proj = {k: v.clone() for k, v in w.items()}
        for k, m in run.mask(level + 1).items():
            proj[k] = proj[k] * m.to(proj[k].dtype)
        anchors = [(f"w^({level})", w), (f"m_{level + 1} ⊙ w^({level})", proj),
                   (f"w^({level + 1})", run.weights(level + 1))]  # fmt: skip
        if level > 0:
            extra["w^(0) dense"] = run.weights(0)
        settings = {**base, **spec.hashed(), **eng.hashed()}
        title = f"{run.path.name}: level {level} → {level + 1}"
        where = None
    key = digest(settings)
    if out:
        folder = Path(out)
    elif where is not None:
        folder = where.result_dir("slice", key)
    else:
        folder = paths.analysis_dir(run.path, level, "slice", key)
    with claim(folder, settings, force=force, wait=wait, log=log) as done:
        if done is not None:
            return done
        record = _compute(spec, run, anchors, extra, mask, quiet)
        record = {"title": title, "settings": settings, "run": str(run.path),
                  **record, **stamp()}  # fmt: skip
        from landscape.plotting.slices import plot_slices

        w = Writer(folder)
        w.arrays({f"values_{k}": v for k, v in record["values"].items()}
                 | {"a": record["a"], "b": record["b"]})  # fmt: skip
        w.figure("slice.png", lambda: plot_slices(record))
        return w.finish(record)


def check_grid_memory(grid: int) -> None:
    """Refuse, before anything is allocated or written, a grid whose points would not fit
    in the memory available (:data:`BYTES_PER_POINT` each).

    Raises:
        ValueError: naming ``--grid``, the memory it needs, the memory there is and the
            largest grid that fits.
    """
    need, have = grid * grid * BYTES_PER_POINT, available_memory()
    if need > have:
        fits = math.isqrt(have // BYTES_PER_POINT)
        raise ValueError(
            f"--grid {grid} means {grid * grid:,} points, about {need / 2**30:,.1f} GiB of "
            f"memory; {have / 2**30:,.1f} GiB are available: use at most --grid {fits}"
        )


def _same_architecture(targets: Sequence[Any], located: Sequence[Checkpoint]) -> None:
    first = located[0].run.config.model.model
    for t, c in zip(targets[1:], located[1:]):
        if c.run.config.model.model != first:
            raise LandscapeError(
                f"{t} is a {c.run.config.model.model!r}, {targets[0]} a {first!r}: a plane joins "
                "three networks of one architecture"
            )


def _compute(
    spec: SliceSpec,
    run: Run,
    anchors: Anchors,
    extra: dict[str, dict[str, Tensor]],
    mask: dict | None,
    quiet: bool,
) -> dict[str, Any]:
    eng = spec.engine
    use_threads(run, eng.threads)
    datasets = {"test": eval_data(run, "test", eng.eval_samples),
                "train": eval_data(run, "train", eng.eval_samples)}  # fmt: skip
    engine = dict(bn_policy=eng.bn_policy, bn_data=bn_batches(run, eng), **eng.speed())
    total = spec.grid**2 + len(anchors) + len(extra)
    t0 = time.perf_counter()
    with progress(total=total, desc="slice", disable=True if quiet else None) as bar:
        if spec.plane == "random":
            res = random_slice(
                run.model(), anchors[0][1], datasets, seed=spec.seed, normalize=spec.normalize,
                mask=mask, grid=spec.grid, span=spec.span, progress=bar.update, **engine,
            )  # fmt: skip
        else:
            res = plane_slice(
                run.model(), anchors[0][1], anchors[1][1], anchors[2][1], datasets,
                grid=spec.grid, margin=spec.margin, names=[a[0] for a in anchors], extra=extra,
                progress=bar.update, **engine,
            )  # fmt: skip
    record: dict[str, Any] = {**res.to_dict(), "seconds": time.perf_counter() - t0}
    if spec.plane != "random":
        # The matching contour: the dense network's test error (level planes), or the
        # origin's (any three checkpoints), plus the tolerance (docs/science.md, "Matching").
        ref = record["marks"][-1] if extra else record["marks"][0]
        record["matching_reference"] = ref["name"]
        record["matching_level"] = ref["test_error"] + spec.tolerance
        z = np.asarray(record["values"]["test_error"])
        record["matching_fraction"] = float((z <= record["matching_level"]).mean())
        # The matching points reached from the origin on a straight path that stays
        # matching: the sublevel set's part linearly connected to the origin [PAUL Fig. 3].
        path_max = origin_path_max(record["a"], record["b"], z)
        record["origin_path_max"] = path_max.tolist()
        record["connected_fraction"] = float((path_max <= record["matching_level"]).mean())
        # [PAUL]'s linearly connected sublevel set of the origin w^(L): error at most
        # E(w^(L)) + tolerance on the whole straight path from w^(L), and no error barrier
        # above LCS_BARRIER on it [PAUL Fig. 3] (docs/science.md, "Two-dimensional slices").
        origin = record["marks"][0]
        record["lcs_level"] = origin["test_error"] + spec.tolerance
        record["lcs_barrier"] = LCS_BARRIER
        lcs = linearly_connected_sublevel_set(
            record["a"], record["b"], z, record["lcs_level"], LCS_BARRIER
        )
        record["lcs"] = lcs.tolist()
        record["lcs_fraction"] = float(lcs.mean())
    return record
