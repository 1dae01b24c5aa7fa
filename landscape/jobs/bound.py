"""``bound(target, spec)``: the flatness bound on the pruning ratio [PAUL §3.3] (docs/science.md §10).

Per level ``L`` of a run: the projection lengths ``R(p)`` of magnitude and random
pruning on a grid of ratios ``p``, the right-hand side ``tr[(I + R(p)²/(2ε) H_L)^{-1}]``
on that grid, the predicted maximal ratio ``p*(L)`` for both mask kinds, ``p*`` for
``ε × {0.25, 0.5, 1, 2, 4}``, and the ratio the run actually used
(:func:`landscape.analysis.bound.flatness_bound`). Each level's result goes to
``level_LL/analysis/bound_<digest>/`` (``result.json`` + ``result.npz`` + ``bound.png``
+ ``report.md``); with several levels a summary (``bound-levels_<digest>/`` in the
first level's analysis folder) draws ``p*`` against the level with the actual ratio.

With ``spec.empirical`` each level is also pruned one-shot by each of ``spec.ratios``
(global magnitude over ``m_L``'s kept weights, :func:`landscape.pruning.prune`, and a
random mask of the same count) and retrained as the run's runner would train level
``L + 1`` (IMP-WR: ``m ⊙ w_τ`` over ``τ..T``; IMP-LRR: ``m ⊙ w^(L)`` over ``0..T``;
IMP-FT: ``m ⊙ w^(L)`` over ``T..2T`` at the final LR; through
:meth:`landscape.runners.common.RunContext.train`). Each retrained network is saved in
``level_LL/analysis/bound-retrain_<digest>/`` under a hash of its starting files
(weights, mask, rewind point) and settings, and reused by later calls (``force``
retrains). The result (``bound-empirical_<digest>/``) reports the test error, whether
it stays matching (error ≤ ``w^(L)``'s + ``spec.tolerance``), whether it is linearly
connected to ``w^(L)`` (error barrier ≤ ``spec.tolerance``), and the empirical maximal
ratio per mask kind, drawn against the prediction.

**Default ε** (``spec.epsilon = 0``): the dense network's (level 0's) mean training loss
on the bound's samples (:func:`landscape.analysis.bound.default_epsilon`, which says why).
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landscape import paths
from landscape.analysis.bound import (
    EPSILON_FACTORS,
    EPSILON_RULE,
    GRID,
    KINDS,
    default_epsilon,
    flatness_bound,
)
from landscape.analysis.connectivity import barrier as barrier_curve
from landscape.analysis.engine import Points, evaluate_points
from landscape.checkpoint import load_state, save_state
from landscape.devices import configure_threads
from landscape.errors import CheckpointError, LandscapeError
from landscape.functional import state_of
from landscape.hparams import parse_duration
from landscape.io import file_digest
from landscape.jobs.barrier import Log
from landscape.jobs.evaluation import bn_batches, eval_data
from landscape.jobs.store import Result, Writer, claim, stamp
from landscape.jobs.targets import Checkpoint, level_ident, parse_levels, resolve, resolve_run
from landscape.progress import progress
from landscape.pruning import apply_mask, density, prune
from landscape.runs import Run, open_run
from landscape.settings import digest
from landscape.specs import BoundSpec
from landscape.tables import format_table

__all__ = ["RetrainTask", "bound", "empirical_rows", "level_rows", "retrain_task"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_RETRAIN_METHODS = ("imp-wr", "imp-lrr", "imp-ft")
#: Points on each path from w^(L) to a retrained network (the barrier's resolution).
PATH_POINTS = 11


@dataclass(frozen=True)
class _How:
    force: bool
    wait: bool
    quiet: bool
    log: Log


def bound(
    target: Any,
    spec: BoundSpec = BoundSpec(),
    *,
    levels: str | Sequence[int] | None = None,
    out: str | Path | None = None,
    force: bool = False,
    wait: bool = False,
    quiet: bool = False,
    log: Log = print,
) -> Result:
    """The flatness bound of one level, or of several with a summary (module docstring).

    Args:
        target: a run directory (its last trained level), a :class:`~landscape.runs.Run`,
            or a ``level_NN`` folder.
        spec: what to compute (:class:`~landscape.specs.BoundSpec`).
        levels: levels of a run directory (``"all"``, ``"0-3"`` or a list): one result per
            level and a ``bound-levels`` summary, returned with the levels' results as
            ``children``.
        out: a folder for the per-level results instead of each level's ``analysis/``.

    Returns:
        one level: the ``bound`` :class:`Result` (``p_star``, ``p_star_epsilon``, ``epsilon``,
        ``actual_ratio``, the grids ``ratios``/``r2``/``rhs``), or with ``spec.empirical``
        the ``bound-empirical`` Result (``empirical_max``, per-ratio ``magnitude``/``random``
        records, ``predicted``) whose child is the ``bound`` Result; several levels: the
        ``bound-levels`` summary.
    """
    how = _How(force, wait, quiet, log)
    run, chosen = _levels_of(target, levels, spec)
    cs = spec.curvature
    model = run.model()
    configure_threads(run.device, sum(p.numel() for p in model.parameters()),
                      cs.threads or run.config.train.threads)  # fmt: skip
    data = run.data.tensors(cs.split, cs.samples)
    eps_cache: dict[str, float] = {}
    results = []
    for lv in chosen:
        t = resolve(run, lv)
        pred = _predict(run, t, spec, model, data, eps_cache, out, how)
        if spec.empirical:
            emp = _empirical(run, lv, spec, pred, how)
            results.append(Result(emp.record, emp.folder, emp.reused, children=(pred,)))
        else:
            results.append(pred)
    if len(results) == 1:
        return results[0]
    return _summary(run, spec, results)


def _levels_of(
    target: Any, levels: str | Sequence[int] | None, spec: BoundSpec
) -> tuple[Run, list[int]]:
    if levels is not None:
        if not (isinstance(target, Run) or paths.config(Path(target)).exists()):
            raise ValueError(
                f"--level/--all-levels select levels of a run directory; {target} is none: pass "
                "the run directory"
            )
        run = resolve_run(target, spec.curvature.device)
        have = run.levels()
        if not have:
            raise CheckpointError(f"{run.path} has no trained level yet; run the runner first")
        chosen = parse_levels(levels, have) if isinstance(levels, str) else list(levels)
        missing = [v for v in chosen if v not in have]
        if missing:
            raise LandscapeError(
                f"levels {missing} have no weights in {run.path} (trained levels: {have}); pick "
                "one of them"
            )
        return run, chosen
    t = resolve(target, device=spec.curvature.device)
    if t.bare or t.level is None or t.ident != level_ident(t.level):
        raise LandscapeError(
            f"the bound analyses a level's solution with its mask and the run's dense network; "
            f"{t.ident} is not one: pass a run directory (with --level L) or a level_NN folder"
        )
    return t.run, [t.level]


# ----------------------------------------------------------------------------- prediction


def _epsilon(run: Run, spec: BoundSpec, model, data, cache: dict[str, float]) -> tuple[float, str]:
    """ε and its rule: the given ``spec.epsilon``, or the dense network's training loss."""
    if spec.epsilon > 0:
        return spec.epsilon, "given"
    if "dense" not in cache:
        if 0 not in run.levels():
            raise LandscapeError(
                f"{run.path} has no level 0 (the dense network), whose training loss is the "
                "default ε; pass --epsilon E"
            )
        cache["dense"] = default_epsilon(model, data, run.weights(0))
    return cache["dense"], EPSILON_RULE


def _actual_ratio(run: Run, level: int) -> tuple[float | None, str]:
    """The ratio the run pruned level ``level`` by, and where that number comes from."""
    nxt = level + 1
    if paths.mask(run.path, nxt).exists() and nxt in run.levels():
        now = sum(int(m.sum()) for m in run.mask(level).values())
        then = sum(int(m.sum()) for m in run.mask(nxt).values())
        return 1.0 - then / now, f"masks of levels {level} and {nxt}"
    p = run.config.prune
    if p.method in (*_RETRAIN_METHODS, "swamp") and getattr(p, "prune_ratio", "fixed") == "fixed":
        return p.prune_fraction, "config prune_fraction"
    return None, "unknown (the next level is not trained)"


def _bound_settings(t: Checkpoint, spec: BoundSpec, method: str) -> dict[str, Any]:
    cs = spec.curvature
    trace = {"method": "exact"} if method == "exact" else {
        "method": "slq", "probes": spec.probes, "steps": spec.steps}  # fmt: skip
    return {
        "kind": "bound", "weights": t.ident, "mask": f"level_{t.level:02d}/mask.safetensors",
        "epsilon": spec.epsilon if spec.epsilon > 0 else EPSILON_RULE,
        "epsilon_reference": None if spec.epsilon > 0 else level_ident(0),
        "epsilon_factors": list(EPSILON_FACTORS), "grid": GRID, "trace": trace,
        "scope": t.run.config.prune.prune_scope, "magnitude": "global", **cs.hashed(),
    }  # fmt: skip


def _predict(
    run: Run, t: Checkpoint, spec: BoundSpec, model, data, eps_cache, out, how: _How
) -> Result:
    from landscape.plotting.bound import plot_bound

    cs = spec.curvature
    mask = run.mask(t.level)
    kept = sum(int(m.sum()) for m in mask.values())
    method = "exact" if kept <= spec.exact_below else "slq"
    settings = _bound_settings(t, spec, method)
    key = digest(settings)
    folder = Path(out) / f"bound_{key}" if out else t.result_dir("bound", key)
    with claim(folder, settings, force=how.force, wait=how.wait, log=how.log) as done:
        if done is not None:
            return done
        t0 = time.perf_counter()
        dtype = _DTYPES[cs.dtype]
        model.to(dtype)
        eps, rule = _epsilon(run, spec, model, data, eps_cache)
        model.load_state_dict(t.state)
        model.to(dtype)
        total = kept if method == "exact" else spec.probes * spec.steps
        with progress(total=total, desc=f"HVPs (level {t.level}, {method})", unit="hvp",
                      disable=True if how.quiet else None) as bar:  # fmt: skip
            res = flatness_bound(
                model, data, mask, eps, exact_below=spec.exact_below, probes=spec.probes,
                steps=spec.steps, seed=cs.seed, hvp=cs.hvp, chunk_size=cs.hvp_chunk_size or None,
                on_product=bar.update,
            )  # fmt: skip
        actual, source = _actual_ratio(run, t.level)
        metrics = run.metrics(t.level)
        record = {
            "kind": "bound", "title": f"{run.path.name}: level {t.level}", "run": str(run.path),
            "level": t.level, "settings": settings, "epsilon_rule": rule,
            "density": density(mask), "train_loss": metrics.get("train_loss"),
            "test_error": metrics.get("test_error"), "num_samples": int(data[0].shape[0]),
            **res.to_dict(), "actual_ratio": actual, "actual_ratio_source": source,
            "run_strategy": run.config.prune.prune_strategy, "seconds": time.perf_counter() - t0,
            **stamp(),
        }  # fmt: skip
        w = Writer(folder)
        w.arrays(res.arrays())
        w.figure("bound.png", lambda: plot_bound(record))
        w.text("report.md", _report(record))
        done = w.finish(record)
        how.log(f"level {t.level}: p* magnitude {res.p_star['magnitude']:.4f}, random "
                f"{res.p_star['random']:.4f} (ε {eps:.4g}, {method}, {res.trace.hvps} HVPs, "
                f"{record['seconds']:.1f}s) → {folder}")  # fmt: skip
        return done


def _report(rec: dict[str, Any]) -> str:
    s = rec["settings"]
    rows = [("kept prunable coordinates D", rec["num_kept"]),
            ("density", f"{rec['density']:.4f}"),
            ("ε", f"{rec['epsilon']:.6g} ({rec['epsilon_rule']})"),
            ("trace of (I + cH)^-1", rec["method"]),
            ("λ_max", f"{rec['top_eigenvalue']:.6g}"),
            ("fraction of λ ≤ 0", f"{rec['nonpositive_fraction']:.4f}"),
            *[(f"p* ({k})", f"{rec['p_star'][k]:.4f}") for k in KINDS],
            ("actual ratio", "—" if rec["actual_ratio"] is None else
             f"{rec['actual_ratio']:.4f} ({rec['actual_ratio_source']})"),
            ("HVPs / seconds", f"{rec['hvps']} / {rec['seconds']:.1f}")]  # fmt: skip
    sweep = [(f"{a:g}", *(f"{rec['p_star_epsilon'][k][i]:.4f}" for k in KINDS))
             for i, a in enumerate(rec["epsilon_factors"])]  # fmt: skip
    return "\n".join([
        f"# Flatness bound — {rec['title']}", "",
        "p·D ≤ tr[(I + R(p)²/(2ε) H_L)^-1] over the kept prunable weights [PAUL §3.3] "
        "(docs/science.md §10).", "",
        format_table(("quantity", "value"), rows, markdown=True), "",
        "## p* against ε", "",
        format_table(("ε factor", *(f"p* {k}" for k in KINDS)), sweep, markdown=True), "",
        "![bound](bound.png)", "",
        "Settings: `" + json.dumps(s, sort_keys=True) + "`", "",
    ])  # fmt: skip


def level_rows(records: Sequence[dict[str, Any]]) -> list[tuple]:
    """One printed row per ``bound`` record: level, kept, method, ε, p*'s, actual ratio, HVPs, s."""
    return [(r["level"], r["num_kept"], r["method"], f"{r['epsilon']:.4g}",
             f"{r['p_star']['magnitude']:.4f}", f"{r['p_star']['random']:.4f}",
             "—" if r["actual_ratio"] is None else f"{r['actual_ratio']:.4f}", r["hvps"],
             f"{r['seconds']:.1f}") for r in records]  # fmt: skip


LEVEL_HEADERS = ("level", "kept", "trace", "ε", "p* magnitude", "p* random", "actual", "HVPs", "s")


# ----------------------------------------------------------------------------- empirical


@dataclass(frozen=True)
class RetrainTask:
    """One one-shot pruning and retraining (picklable, for worker processes).

    Attributes:
        run: the run directory.
        device: where to train.
        level: the level ``L`` whose solution is pruned.
        kind: ``"magnitude"`` (global) or ``"random"`` (seeded by ``seed``).
        ratio: the fraction of ``m_L``'s kept weights pruned.
        file: where the retrained weights go (its mask beside it, ``*.mask.safetensors``).
        threads: CPU threads (the same in every process, so results are equal).
        trusted: model factories the user consented to (``landscape.models.trust``).
    """

    run: str
    device: str
    level: int
    kind: str
    ratio: float
    seed: int
    file: str
    threads: int
    quiet: bool = True
    trusted: tuple[str, ...] = ()


def _start(ctx: Any, level: int) -> tuple[dict[str, torch.Tensor], int, int, bool, Path]:
    """Where the runner trains level ``level + 1`` from: state, step range, constant LR, file."""
    cfg = ctx.config
    method = cfg.prune.method
    spe = ctx.data.steps_per_epoch(cfg.data.batch_size)
    total = parse_duration(cfg.train.length, spe)
    if method == "imp-wr":
        return (
            ctx.rewind(),
            parse_duration(cfg.prune.rewind_step, spe),
            total,
            False,
            paths.rewind(ctx.path),
        )
    source = paths.weights(ctx.path, level)
    if method == "imp-lrr":
        return ctx.weights(level), 0, total, False, source
    return ctx.weights(level), total, 2 * total, True, source


def _retrain(ctx: Any, task: RetrainTask) -> str:
    """Prune ``w^(L)`` by ``task`` and retrain it as the runner would; save it; return its path."""
    from landscape.training import constant, lr_schedule

    weights, mask = ctx.weights(task.level), ctx.mask(task.level)
    rule = "global" if task.kind == "magnitude" else "random"
    new = prune(weights, mask, task.ratio, rule, task.seed)
    state, start, stop, const, _ = _start(ctx, task.level)
    state = {k: v.clone() for k, v in state.items()}
    apply_mask(state, new)
    model = ctx.model()
    model.load_state_dict(state)
    schedule = lr_schedule(ctx.config.train, ctx.steps_per_epoch)
    lr_at = constant(schedule(start - 1)) if const else schedule
    ctx.train(model, start=start, stop=stop, mask=new, lr_at=lr_at, eval_every=0,
              desc=f"level {task.level}: {task.kind} {task.ratio:g}")  # fmt: skip
    file = Path(task.file)
    save_state(file.with_name(file.name.replace(".safetensors", ".mask.safetensors")),
               {k: v.to(torch.uint8) for k, v in new.items()})  # fmt: skip
    save_state(file, state_of(model), metadata={"kind": task.kind, "ratio": str(task.ratio)})
    return str(file)


def retrain_task(task: RetrainTask) -> str:
    """:func:`_retrain` in a fresh process (a worker of ``--workers N``)."""
    from landscape import models
    from landscape.runners.common import RunContext

    torch.set_num_threads(task.threads)
    for name in task.trusted:
        models.trust(name)
    run = open_run(task.run, task.device)
    ctx = RunContext(run.config, run.path, run.device, show_progress=not task.quiet,
                     log=lambda _: None)  # fmt: skip
    return _retrain(ctx, task)


def _file(folder: Path, kind: str, ratio: float) -> Path:
    return folder / f"{kind}_{ratio:.6g}.safetensors"


def _empirical_max(ratios: Sequence[float], ok: Sequence[bool]) -> float | None:
    """The largest tested ratio up to which every tested ratio passes (``None``: not even the first)."""
    best = None
    for r, good in zip(ratios, ok):
        if not good:
            break
        best = r
    return best


def _empirical(run: Run, level: int, spec: BoundSpec, pred: Result, how: _How) -> Result:
    from landscape import models
    from landscape.plotting.bound import plot_bound_empirical
    from landscape.runners.common import RunContext

    cfg, eng = run.config, spec.engine
    if cfg.prune.method not in _RETRAIN_METHODS:
        raise LandscapeError(
            f"--empirical retrains as the run's runner does, for {', '.join(_RETRAIN_METHODS)} runs; "
            f"{run.path} is a {cfg.prune.method!r} run"
        )
    ctx = RunContext(cfg, run.path, run.device, show_progress=not how.quiet, log=how.log)
    ctx.__dict__["data"] = run.data  # share the loaded data (cached_property slot)
    _, start, stop, _, source = _start(ctx, level)
    ratios = spec.ratio_list()
    seed = spec.curvature.seed
    train_settings = {
        "kind": "bound-retrain", "level": level, "method": cfg.prune.method,
        "start": file_digest(paths.weights(run.path, level), paths.mask(run.path, level), source),
        "steps": [start, stop], "random_mask_seed": seed, "magnitude": "global",
    }  # fmt: skip
    retrain_dir = paths.analysis_dir(run.path, level, "bound-retrain", digest(train_settings))
    settings = {
        "kind": "bound-empirical", "weights": level_ident(level), "retrain": train_settings,
        "ratios": ratios, "tolerance": spec.tolerance, "points": PATH_POINTS, "split": "test",
        "prediction": pred.folder.name, **eng.hashed(),
    }  # fmt: skip
    folder = paths.analysis_dir(run.path, level, "bound-empirical", digest(settings))
    with claim(folder, settings, force=how.force, wait=how.wait, log=how.log) as done:
        if done is not None:
            return done
        tasks = [RetrainTask(str(run.path), str(run.device), level, kind, r, seed,
                             str(_file(retrain_dir, kind, r)), torch.get_num_threads(),
                             quiet=how.quiet, trusted=tuple(sorted(models._TRUSTED)))
                 for r in ratios for kind in KINDS]  # fmt: skip
        todo = [t for t in tasks if how.force or not Path(t.file).exists()]
        t0 = time.perf_counter()
        retrain_dir.mkdir(parents=True, exist_ok=True)
        if todo and spec.workers > 1 and len(todo) > 1:
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(min(spec.workers, len(todo)), mp_context=spawn) as pool:
                list(pool.map(retrain_task, todo))
        else:
            for task in todo:
                _retrain(ctx, task)
        train_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        record = _measure(run, level, spec, pred, tasks, ratios)
        record.update(
            title=f"{run.path.name}: level {level}, one-shot pruning and retraining",
            settings=settings, retrained=[t.file for t in tasks], retrained_now=len(todo),
            train_steps=[start, stop], train_seconds=train_seconds,
            seconds=time.perf_counter() - t0, **stamp(),
        )  # fmt: skip
        w = Writer(folder)
        w.arrays({"ratios": ratios,
                  **{f"{k}_{q}": record[k][q] for k in KINDS
                     for q in ("test_error", "test_loss", "error_barrier", "loss_barrier")}})  # fmt: skip
        w.figure("empirical.png", lambda: plot_bound_empirical(record))
        w.text("report.md", _empirical_report(record))
        done = w.finish(record)
        how.log(f"level {level}: empirical maximal ratio magnitude "
                f"{_fmt(record['empirical_max']['magnitude'])}, random "
                f"{_fmt(record['empirical_max']['random'])} (predicted "
                f"{record['predicted']['magnitude']:.4f} / {record['predicted']['random']:.4f}) "
                f"→ {folder}")  # fmt: skip
        return done


def _fmt(v: float | None) -> str:
    return "< smallest ratio" if v is None else f"{v:g}"


def _measure(run: Run, level: int, spec: BoundSpec, pred: Result, tasks: Sequence[RetrainTask],
             ratios: Sequence[float]) -> dict[str, Any]:  # fmt: skip
    """Test error and barrier to ``w^(L)`` of every retrained network."""
    eng = spec.engine
    model = run.model()
    data = eval_data(run, "test", eng.eval_samples)
    ref_state = run.weights(level)
    states = [load_state(Path(t.file), run.device) for t in tasks]
    masks = [load_state(Path(t.file.replace(".safetensors", ".mask.safetensors")), run.device)
             for t in tasks]  # fmt: skip
    own = evaluate_points(model, Points.states([ref_state, *states]), data, bn_policy="none",
                          **eng.speed())  # fmt: skip
    ref_error, ref_loss = float(own.errors[0]), float(own.losses[0])
    bn = bn_batches(run, eng)
    threshold = ref_error + spec.tolerance
    out: dict[str, Any] = {"kind": "bound-empirical", "run": str(run.path), "level": level,
                           "ratios": list(ratios), "reference_error": ref_error,
                           "reference_loss": ref_loss, "threshold": threshold,
                           "tolerance": spec.tolerance, "bn_policy": eng.bn_policy}  # fmt: skip
    for kind in KINDS:
        rows: dict[str, list] = {q: [] for q in ("test_error", "test_loss", "error_barrier",
                                                 "loss_barrier", "matching", "connected", "kept")}  # fmt: skip
        for i, t in enumerate(tasks):
            if t.kind != kind:
                continue
            res = barrier_curve(model, ref_state, states[i], data, PATH_POINTS, eng.bn_policy, bn,
                                **eng.speed())  # fmt: skip
            err = float(own.errors[i + 1])
            rows["test_error"].append(err)
            rows["test_loss"].append(float(own.losses[i + 1]))
            rows["error_barrier"].append(res.error_barrier)
            rows["loss_barrier"].append(res.loss_barrier)
            rows["matching"].append(bool(err <= threshold))
            rows["connected"].append(bool(res.error_barrier <= spec.tolerance))
            out["has_batchnorm"] = res.has_batchnorm
            rows["kept"].append(sum(int(m.sum()) for m in masks[i].values()))
        out[kind] = rows
    out["empirical_max"] = {k: _empirical_max(ratios, out[k]["matching"]) for k in KINDS}
    out["connected_max"] = {k: _empirical_max(ratios, out[k]["connected"]) for k in KINDS}
    p = pred.record
    out["predicted"] = dict(p["p_star"])
    out["predicted_epsilon"] = {"factors": p["epsilon_factors"], **p["p_star_epsilon"]}
    out["epsilon"], out["epsilon_rule"] = p["epsilon"], p["epsilon_rule"]
    out["actual_ratio"] = p["actual_ratio"]
    out["num_kept"] = p["num_kept"]
    return out


def empirical_rows(record: dict[str, Any]) -> list[tuple]:
    """One printed row per (ratio, kind) of a ``bound-empirical`` record."""
    rows = []
    for i, r in enumerate(record["ratios"]):
        for k in KINDS:
            q = record[k]
            rows.append((f"{r:g}", k, q["kept"][i], f"{q['test_error'][i]:.4f}",
                         "yes" if q["matching"][i] else "no", f"{q['error_barrier'][i]:.4f}",
                         "yes" if q["connected"][i] else "no"))  # fmt: skip
    return rows


EMPIRICAL_HEADERS = (
    "ratio",
    "mask",
    "kept",
    "test error",
    "matching",
    "error barrier",
    "connected",
)


def _empirical_report(rec: dict[str, Any]) -> str:
    lines = [f"# One-shot pruning and retraining — {rec['title']}", "",
             f"w^(L) test error {rec['reference_error']:.4f}; matching means ≤ "
             f"{rec['threshold']:.4f} (+{rec['tolerance']:g}); connected means an error barrier "
             f"≤ {rec['tolerance']:g} to w^(L) (BatchNorm: {rec['bn_policy']}). Retrained over "
             f"steps {rec['train_steps'][0]}..{rec['train_steps'][1]}.", "",
             format_table(EMPIRICAL_HEADERS, empirical_rows(rec), markdown=True), "",
             format_table(("mask", "empirical max (matching)", "empirical max (connected)",
                           "predicted p*"),
                          [(k, _fmt(rec["empirical_max"][k]), _fmt(rec["connected_max"][k]),
                            f"{rec['predicted'][k]:.4f}") for k in KINDS], markdown=True), "",
             "![empirical](empirical.png)", "",
             "Settings: `" + json.dumps(rec["settings"], sort_keys=True) + "`", ""]  # fmt: skip
    return "\n".join(lines)


# ----------------------------------------------------------------------------- summary


def _summary(run: Run, spec: BoundSpec, results: Sequence[Result]) -> Result:
    from landscape.plotting.bound import plot_bound_levels

    levels, rows = [], []
    for r in results:
        pred = r.children[0] if r.kind == "bound-empirical" else r
        p = pred.record
        row = {k: p.get(k) for k in ("level", "num_kept", "density", "method", "epsilon",
                                      "epsilon_rule", "p_star", "p_star_epsilon",
                                      "epsilon_factors", "actual_ratio", "actual_ratio_source",
                                      "test_error", "hvps", "seconds")}  # fmt: skip
        if r.kind == "bound-empirical":
            row["empirical_max"] = r.record["empirical_max"]
            row["connected_max"] = r.record["connected_max"]
        levels.append(p["level"])
        rows.append(row)
    settings = {"kind": "bound-levels", "levels": levels,
                "results": [r.folder.name for r in results]}  # fmt: skip
    folder = paths.analysis_dir(run.path, levels[0], "bound-levels", digest(settings))
    first = rows[0]
    record = {"kind": "bound-levels", "title": f"{run.path.name}: flatness bound across levels",
              "run": str(run.path), "settings": settings, "levels": rows,
              "epsilon": first["epsilon"], "epsilon_rule": first["epsilon_rule"],
              "run_strategy": run.config.prune.prune_strategy, **stamp()}  # fmt: skip
    md = [f"# Flatness bound across levels — {run.path.name}", "",
          f"ε = {first['epsilon']:.6g} ({first['epsilon_rule']}); p* from p·D ≤ "
          "tr[(I + R(p)²/(2ε) H_L)^-1] [PAUL §3.3].", "",
          format_table(LEVEL_HEADERS, level_rows(rows), markdown=True), "",
          "![p* against level](levels.png)", "",
          "Settings: `" + json.dumps(settings, sort_keys=True) + "`", ""]  # fmt: skip
    w = Writer(folder)
    w.arrays({"levels": levels,
              **{f"p_star_{k}": [r["p_star"][k] for r in rows] for k in KINDS},
              "actual_ratio": [np.nan if r["actual_ratio"] is None else r["actual_ratio"]
                               for r in rows]})  # fmt: skip
    w.figure("levels.png", lambda: plot_bound_levels(record))
    w.text("report.md", "\n".join(md))
    done = w.finish(record)
    return Result(done.record, done.folder, children=tuple(results))
