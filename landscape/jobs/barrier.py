"""``barrier(a, b, spec)``: the error and loss barrier between two checkpoints [PAUL Def. 2.1].

The two targets may be any checkpoints of one architecture (``landscape.jobs.targets``).
The data and BatchNorm batches come from ``a``'s run; the result goes into ``a``'s
level ``analysis/barrier_<digest>/`` (the run's ``analysis/`` when ``a`` lies in no
level, e.g. ``rewind.safetensors``), or ``out``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from landscape.jobs.aligning import aligned_path_barrier, alignment_record, check_repair
from landscape.jobs.common import Log, barrier_record, barrier_settings, pair, write_barrier
from landscape.jobs.store import Result, claim
from landscape.jobs.targets import short_label, use_threads
from landscape.settings import digest
from landscape.specs import BarrierSpec

__all__ = ["barrier"]


def barrier(
    a: Any,
    b: Any,
    spec: BarrierSpec = BarrierSpec(),
    *,
    out: str | Path | None = None,
    force: bool = False,
    wait: bool = False,
    log: Log = print,
) -> Result:
    """The barrier between checkpoints ``a`` and ``b`` (targets or :class:`Checkpoint`).

    Returns:
        a :class:`Result` whose record holds ``alphas``, ``errors``, ``losses``,
        ``error_barrier``, ``error_barrier_mean`` and ``loss_barrier``.
    """
    eng = spec.engine
    ca, cb, ident_b = pair(a, b, eng.device)
    if cb.run.config.data.data != ca.run.config.data.data:
        log(f"note: CKPT_B was trained on {cb.run.config.data.data}; measuring on "
            f"CKPT_A's {ca.run.config.data.data}")  # fmt: skip
    settings = barrier_settings(eng, spec.split, spec.points, ca.ident, ident_b, spec.alignment())
    folder = Path(out) if out else ca.result_dir("barrier", digest(settings))
    run = ca.run
    model = run.model()
    check_repair(model, eng, spec.repair)  # before anything is written
    with claim(folder, settings, force=force, wait=wait, log=log) as done:
        if done is not None:
            return done
        use_threads(run, eng.threads, model)
        t0 = time.perf_counter()
        state_b = {k: v.to(run.device) for k, v in cb.state.items()}
        how = alignment_record(spec.align, spec.repair, model)
        res, summary = aligned_path_barrier(
            run, model, ca.state, state_b, align=spec.align, repair=spec.repair,
            points=spec.points, split=spec.split, engine=eng,
        )  # fmt: skip
        if summary is not None:
            how["alignment"] = summary
        b_label = cb.label if cb.bare else short_label(ident_b)
        title = f"{run.path.name}: {ca.label} → {b_label}" + _suffix(spec.align, spec.repair)
        record = barrier_record(res, settings, run.path, time.perf_counter() - t0, title, how)
        return write_barrier(folder, record, res)


def _suffix(align: str, repair: bool) -> str:
    """How a title says the path was aligned and repaired."""
    parts = ([f"{align} matching"] if align != "none" else []) + (["REPAIR"] if repair else [])
    return f" ({', '.join(parts)})" if parts else ""
