"""What several jobs share: the log callback type, the barrier record format (written by
``barrier``, ``connectivity`` and the alignment jobs), the pair of checkpoints a path joins,
and where an IMP runner trained a level from ("train a copy from level L": ``instability``,
``robustness`` and ``bound --empirical``). A job imports these from here, never from a
sibling job, so each job stands alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from landscape import paths
from landscape.analysis.connectivity import BarrierResult
from landscape.errors import LandscapeError
from landscape.hparams import parse_duration
from landscape.jobs.store import Result, Writer, claim, stamp
from landscape.jobs.targets import Checkpoint, foreign_ident, resolve
from landscape.pruning import apply_mask
from landscape.runs import Run
from landscape.settings import digest
from landscape.specs import EngineSpec

__all__ = [
    "IMP_METHODS",
    "Log",
    "StartPoint",
    "barrier_record",
    "barrier_settings",
    "levels_summary",
    "pair",
    "runner_start",
    "start_point",
    "write_barrier",
]

#: the log callback every job takes (``print`` by default; the CLI's progress-aware writer)
Log = Callable[[str], object]

#: the runs whose levels a copy can be retrained from (:func:`start_point`)
IMP_METHODS = ("imp-wr", "imp-lrr", "imp-ft", "dense")


def barrier_settings(
    engine: EngineSpec, split: str, points: int, ident_a: str, ident_b: str,
    alignment: Mapping[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Hashed settings of a barrier between two identified checkpoints (``alignment``:
    :meth:`BarrierSpec.alignment`, empty without alignment or repair, so those results keep
    their names)."""
    return {"kind": "barrier", "a": ident_a, "b": ident_b, "points": points, "split": split,
            **engine.hashed(), **(alignment or {})}  # fmt: skip


def barrier_record(
    res: BarrierResult, settings: Mapping[str, Any], run_dir: Path, seconds: float, title: str,
    alignment: Mapping[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The JSON record of one barrier result (the format every barrier folder holds);
    ``alignment``: how B was aligned and the path repaired (``jobs.aligning``)."""
    how = dict(alignment) if alignment else {"align": "none", "repair": False, "repair_by": None}
    return {"kind": "barrier", "title": title, "settings": dict(settings), "run": str(run_dir),
            **res.to_dict(), **how, "seconds": seconds, **stamp()}  # fmt: skip


def write_barrier(folder: Path, record: Mapping[str, Any], res: BarrierResult) -> Result:
    """Write one barrier folder: arrays, figure, then ``result.json``."""
    from landscape.plotting.connectivity import plot_barrier

    w = Writer(folder)
    w.arrays({"alphas": res.alphas, "losses": res.losses, "errors": res.errors})
    w.figure("barrier.png", lambda: plot_barrier(record))
    return w.finish(record)


def pair(a: Any, b: Any, device: str) -> tuple[Checkpoint, Checkpoint, str]:
    """Both ends resolved and checked to be one architecture; ``b``'s name in settings."""
    ca, cb = resolve(a, device=device), resolve(b, device=device)
    if ca.bare or cb.run.path.resolve() != ca.run.path.resolve():
        ident_b = foreign_ident(cb)
        if cb.run.config.model.model != ca.run.config.model.model:
            raise LandscapeError(
                f"CKPT_A is a {ca.run.config.model.model!r} and CKPT_B a "
                f"{cb.run.config.model.model!r}: a path joins two networks of one architecture; "
                "pass two checkpoints of the same model"
            )
    else:
        ident_b = cb.ident
    return ca, cb, ident_b


@dataclass(frozen=True)
class StartPoint:
    """Where the runner trained a level from.

    Attributes:
        state: the (masked) starting weights.
        start, stop: the global step range.
        constant_lr: IMP-FT trains at the final LR of the original schedule.
        sources: the files ``state`` comes from (weights, mask); their hash keys the copies.
    """

    state: dict[str, Tensor]
    start: int
    stop: int
    constant_lr: bool
    sources: tuple[Path, ...]


def start_point(run: Run, level: int) -> StartPoint:
    """The start the runner trained ``level`` from (module docstring)."""
    method = run.config.prune.method
    if method not in IMP_METHODS:
        raise LandscapeError(
            f"instability retrains IMP levels ({', '.join(IMP_METHODS)}); {run.path} is a "
            f"{method!r} run"
        )
    if level not in run.levels():
        raise LandscapeError(f"level {level} is not trained in {run.path} (levels: {run.levels()})")
    if not paths.rewind(run.path).exists():
        raise LandscapeError(
            f"{run.path} has no rewind.safetensors (the starting point); re-run its runner"
        )
    state, start, stop, const, source = runner_start(run, level)
    state = {k: v.clone() for k, v in state.items()}
    apply_mask(state, run.mask(level))
    return StartPoint(state, start, stop, const, (source, paths.mask(run.path, level)))


def runner_start(run: Run, level: int) -> tuple[dict[str, Tensor], int, int, bool, Path]:
    """Where an IMP runner trains ``level`` from, before its mask is applied: the
    weights, the global step range, whether the LR is the schedule's final one (IMP-FT),
    and the file the weights come from (``landscape.runners.imp``):

    - level 0, and every IMP-WR level: ``w_τ`` over τ..T (τ = 0 but for IMP-WR);
    - IMP-LRR: ``w^(L−1)`` over 0..T;
    - IMP-FT: ``w^(L−1)`` over T..2T at the final LR.
    """
    cfg = run.config
    method = cfg.prune.method
    spe = run.data.steps_per_epoch(cfg.data.batch_size)
    total = parse_duration(cfg.train.length, spe)
    if level == 0 or method == "imp-wr":
        tau = parse_duration(cfg.prune.rewind_step, spe) if method == "imp-wr" else 0
        return run.rewind(), tau, total, False, paths.rewind(run.path)
    source = paths.weights(run.path, level - 1)
    if method == "imp-lrr":
        return run.weights(level - 1), 0, total, False, source
    return run.weights(level - 1), total, 2 * total, True, source


def levels_summary(
    run: Run,
    kind: str,
    results: Sequence[Result],
    build: Callable[[dict[str, Any], list[dict[str, Any]]], tuple[dict[str, Any], list[str]]],
    plot: Callable[[Mapping[str, Any]], Any],
    *,
    out: str | Path | None,
    force: bool,
    wait: bool,
    log: Log,
) -> Result:
    """The summary across levels of per-level results, in ``<kind>_<digest>/`` of the first
    level (or under ``out``): named by the levels and the digests of their results'
    settings, reused when finished. ``build(settings, records)`` gives the record (without
    ``kind``, ``run``, ``settings`` and the stamp, added here) and the report's lines;
    ``plot(record)`` draws ``levels.png``."""
    records = [dict(r.record) for r in results]
    levels = [r["level"] for r in records]
    if any(lv is None for lv in levels):
        raise LandscapeError("a summary across levels needs level checkpoints; pass --level L")
    settings = {"kind": kind, "levels": levels,
                "results": [digest(r["settings"]) for r in records]}  # fmt: skip
    key = digest(settings)
    folder = (Path(out) / f"{kind}_{key}" if out
              else paths.analysis_dir(run.path, levels[0], kind, key))  # fmt: skip
    with claim(folder, settings, force=force, wait=wait, log=log) as done:
        if done is None:
            body, md = build(settings, records)
            record = {"kind": kind, **body, "run": str(run.path),
                      "method": run.config.prune.method, "settings": settings, **stamp()}  # fmt: skip
            w = Writer(folder)
            w.figure("levels.png", lambda: plot(record))
            w.text("report.md", "\n".join(md))
            done = w.finish(record)
    return Result(done.record, done.folder, reused=done.reused, children=tuple(results))
