"""``bound(target, spec)``: the flatness bound on the pruning ratio [PAUL §3.3] (docs/science.md §10).

Per level ``L`` of a run: the projection lengths ``R(p)`` of magnitude and random
pruning on a grid of ratios ``p``, the right-hand side ``tr[(I + R(p)²/(2ε) H_L)^{-1}]``
on that grid, the predicted maximal ratio ``p*(L)`` for both mask kinds, ``p*`` for
``ε × {0.25, 0.5, 1, 2, 4}``, and the ratio the run actually used
(:func:`landscape.analysis.bound.flatness_bound`). Each level's result goes to
``level_LL/analysis/bound_<digest>/`` (``result.json`` + ``result.npz`` + ``bound.png``
+ ``report.md``); with several levels a summary (``bound-levels_<digest>/`` in the
first level's analysis folder) draws ``p*`` against the level with the actual ratio.

With ``spec.empirical`` each level is also pruned one-shot by each of ``spec.ratios``,
retrained as the run's runner would train level ``L + 1``, and checked for matching and
linear connectivity to ``w^(L)``: :mod:`landscape.jobs.bound_empirical`.

**Default ε** (``spec.epsilon = 0``): the dense network's (level 0's) mean training loss
on the bound's samples (:func:`landscape.analysis.bound.default_epsilon`, which says why).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landscape import paths
from landscape.analysis.bound import (
    EPSILON_FACTORS,
    EPSILON_RULE,
    GRID,
    KINDS,
    default_epsilon,
    flatness_bound,
)
from landscape.errors import LandscapeError
from landscape.jobs.bound_empirical import (
    EMPIRICAL_HEADERS,
    PATH_POINTS,
    RETRAIN_METHODS,
    RetrainTask,
    empirical,
    empirical_lines,
    empirical_rows,
    retrain_task,
)
from landscape.jobs.common import Log
from landscape.jobs.store import Result, Writer, claim, stamp
from landscape.jobs.targets import (
    DTYPES,
    Checkpoint,
    analysis_inputs,
    level_ident,
    resolve_levels,
)
from landscape.progress import progress
from landscape.pruning import density
from landscape.runs import Run
from landscape.settings import digest
from landscape.specs import BoundSpec
from landscape.tables import format_table, sig

__all__ = [
    "EMPIRICAL_HEADERS",
    "LEVEL_HEADERS",
    "PATH_POINTS",
    "RetrainTask",
    "bound",
    "empirical_rows",
    "level_rows",
    "retrain_task",
    "summary_text",
]


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
    targets = resolve_levels(target, levels, device=spec.curvature.device, weights_only=True,
                             what="the bound")  # fmt: skip
    run = targets[0].run
    cs = spec.curvature
    model, data = analysis_inputs(run, threads=cs.threads, split=cs.split, samples=cs.samples)
    eps_cache: dict[str, float] = {}
    results = []
    for t in targets:
        lv = int(t.level)  # type: ignore[arg-type]  # level weights only
        pred = _predict(run, t, spec, model, data, eps_cache, out, how)
        if spec.empirical:
            emp = empirical(run, lv, spec, pred, force=force, wait=wait, quiet=quiet, log=log)
            results.append(Result(emp.record, emp.folder, emp.reused, children=(pred,)))
        else:
            results.append(pred)
    if len(results) == 1:
        return results[0]
    return _summary(run, spec, results)


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
    if p.method in (*RETRAIN_METHODS, "swamp") and getattr(p, "prune_ratio", "fixed") == "fixed":
        return p.prune_fraction, "config prune_fraction"
    return None, "unknown (the next level is not trained)"


def _bound_settings(t: Checkpoint, spec: BoundSpec, method: str) -> dict[str, Any]:
    cs = spec.curvature
    probes, steps = spec.trace_shape()
    # "slq" hashes exactly as before the averaged rule existed: its folders keep their names.
    trace = {"method": "exact"} if method == "exact" else {
        "method": method, "probes": probes, "steps": steps}  # fmt: skip
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
    method = "exact" if kept <= spec.exact_below else spec.trace_method
    settings = _bound_settings(t, spec, method)
    key = digest(settings)
    folder = Path(out) / f"bound_{key}" if out else t.result_dir("bound", key)
    with claim(folder, settings, force=how.force, wait=how.wait, log=how.log) as done:
        if done is not None:
            return done
        t0 = time.perf_counter()
        dtype = DTYPES[cs.dtype]
        model.to(dtype)
        eps, rule = _epsilon(run, spec, model, data, eps_cache)
        model.load_state_dict(t.state)
        model.to(dtype)
        probes, steps = spec.trace_shape()
        total = kept if method == "exact" else probes * steps
        with progress(total=total, desc=f"HVPs (level {t.level}, {method})", unit="hvp",
                      disable=True if how.quiet else None) as bar:  # fmt: skip
            res = flatness_bound(
                model, data, mask, eps, exact_below=spec.exact_below, probes=probes,
                steps=steps, seed=cs.seed, trace_method=spec.trace_method, hvp=cs.hvp,
                chunk_size=cs.hvp_chunk_size or None, on_product=bar.update,
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
                f"{res.p_star['random']:.4f} (ε {eps:.4g}, trace by {method}, {res.trace.hvps} HVPs, "
                f"{record['seconds']:.1f}s) → {folder}")  # fmt: skip
        return done


def _report(rec: dict[str, Any]) -> str:
    s = rec["settings"]
    rows = [("kept prunable coordinates D", rec["num_kept"]),
            ("density", f"{rec['density']:.4f}"),
            ("ε", f"{rec['epsilon']:.4g} ({rec['epsilon_rule']})"),
            ("trace of (I + cH)^-1", rec["method"]),
            ("λ_max", sig(rec["top_eigenvalue"])),
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


# "kept prunable weights": the dimension D of H_L in the bound (masked tensors only, no
# biases), unlike `hessian --masked`'s operator dimension, which keeps the biases too.
LEVEL_HEADERS = ("level", "kept prunable weights", "trace method", "ε", "p* magnitude",
                 "p* random", "actual", "HVPs", "seconds")  # fmt: skip


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
          f"ε = {first['epsilon']:.4g} ({first['epsilon_rule']}); p* from p·D ≤ "
          "tr[(I + R(p)²/(2ε) H_L)^-1] [PAUL §3.3].", "",
          format_table(LEVEL_HEADERS, level_rows(rows), markdown=True), "",
          "![p* against level](levels.png)", "",
          "Settings: `" + json.dumps(settings, sort_keys=True) + "`", ""]  # fmt: skip
    with Writer(folder) as w:
        w.arrays({"levels": levels,
                  **{f"p_star_{k}": [r["p_star"][k] for r in rows] for k in KINDS},
                  "actual_ratio": [np.nan if r["actual_ratio"] is None else r["actual_ratio"]
                                   for r in rows]})  # fmt: skip
        w.figure("levels.png", lambda: plot_bound_levels(record))
        w.text("report.md", "\n".join(md))
        done = w.finish(record)
    return Result(done.record, done.folder, children=tuple(results))


def summary_text(res: Result) -> str:
    """What ``landscape bound`` prints for a :func:`bound` result: the per-level table, ε,
    each level's empirical check (with ``spec.empirical``), and where the results went."""
    per_level = list(res.children) if res.kind == "bound-levels" else [res]
    predictions = [r.children[0] if r.kind == "bound-empirical" else r for r in per_level]
    first = predictions[0].record
    lines = ["", format_table(LEVEL_HEADERS, level_rows([p.record for p in predictions])),
             f"ε = {first['epsilon']:.4g} ({first['epsilon_rule']})"]  # fmt: skip
    for r in per_level:
        if r.kind == "bound-empirical":
            lines += empirical_lines(r)
    if res.kind == "bound-levels":
        lines.append(f"across levels → {res.folder}")
    elif res.kind == "bound":
        lines.append(f"→ {res.folder}")
    return "\n".join(lines)
