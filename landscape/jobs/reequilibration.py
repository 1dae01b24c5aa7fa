"""``reequilibration(runs, spec)``: how retraining redistributes the kept weights [PAUL §3.4].

For every level ``L`` of each run that has a finished level ``L+1``: ``log10 |w|`` histograms of
the weights ``m_{L+1}`` keeps, at the projection ``m_{L+1} ⊙ w^(L)`` and after retraining
``w^(L+1)``; the fraction of them that end below the level-L magnitude threshold; the relative
projection length with and without retraining; and the overlap of successive pruning steps
(definitions: :mod:`landscape.analysis.reequilibration`; docs/science.md, section 11). The
comparison of interest is IMP-WR and IMP-LRR against IMP-FT.

Pure reading of the runs' weights and masks (no training, no Hessian, no data). The result
goes to the first run's ``analysis/reequilibration_<digest>/`` (``result.json``, ``result.npz``,
``reequilibration.png``, ``histograms.png``, ``report.md``); the digest covers the runs'
paths (relative to the first run), a hash of every level file read, and the bins, so a
retrained run makes a new result and a repeated call reuses the finished one. Histograms of
every run and level share one set of bin edges, spanning every kept nonzero weight.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from landscape import paths
from landscape.analysis.reequilibration import histogram_edges, level_stats, log10_kept
from landscape.errors import LandscapeError
from landscape.io import file_digest
from landscape.jobs.common import Log
from landscape.jobs.store import Result, Writer, claim, stamp
from landscape.jobs.targets import resolve_run, use_threads
from landscape.runs import Run
from landscape.settings import digest
from landscape.specs import ReequilibrationSpec
from landscape.tables import format_table

__all__ = ["reequilibration", "summary_headers", "summary_rows"]


def reequilibration(
    runs: Sequence[str | Path | Run] | str | Path | Run,
    spec: ReequilibrationSpec = ReequilibrationSpec(),
    *,
    out: str | Path | None = None,
    force: bool = False,
    wait: bool = False,
    quiet: bool = False,
    log: Log = print,
) -> Result:
    """The re-equilibration diagnostics of one or several runs, in one comparison [PAUL §3.4].

    Args:
        runs: run directories (or open runs), e.g. IMP-WR, IMP-LRR and IMP-FT runs of one
            setting; each needs two successive finished levels.
        out: a folder for the result (``out/reequilibration_<digest>/``) instead of the first
            run's ``analysis/``.
        quiet: no line saying where the result went (as the other jobs' ``quiet``).

    Returns:
        a :class:`Result` whose record holds ``runs``: per run its ``label``, ``method`` and
        ``levels`` (one dict of :class:`~landscape.analysis.reequilibration.LevelStats` per
        level), and ``bin_edges`` of the histograms.

    Raises:
        LandscapeError: a run has no two successive finished levels, or a run is repeated.
    """
    if isinstance(runs, (str, Path, Run)):
        runs = [runs]
    opened = [resolve_run(r, spec.device) for r in runs]
    if not opened:
        raise ValueError("pass at least one run directory")
    use_threads(opened[0], spec.threads)
    where = [r.path.resolve() for r in opened]
    if len(set(where)) < len(where):
        raise LandscapeError("a run directory is listed twice; pass each run once")
    pairs = [_pairs(r) for r in opened]
    for run, lvs in zip(opened, pairs):  # every mask read checked to nest, before the claim
        for lv in sorted({*lvs, *(v + 1 for v in lvs)}):
            run.mask(lv)
    files = [_files(r, lv) for r, lv in zip(opened, pairs)]
    # paths relative to the first run (where the result lives): moving the runs together
    # keeps the result, a rewritten level file (its hash) makes a new one
    settings = {"kind": "reequilibration",
                "runs": [{"path": Path(os.path.relpath(p, where[0])).as_posix(), "files": f}
                         for p, f in zip(where, files)],
                "bins": spec.bins}  # fmt: skip
    key = digest(settings)
    folder = (Path(out) / f"reequilibration_{key}" if out
              else paths.run_analysis_dir(opened[0].path, "reequilibration", key))  # fmt: skip
    with claim(folder, settings, force=force, wait=wait, log=log) as done:
        if done is None:
            done = _compute(opened, pairs, spec, settings, folder)
            if not quiet:
                log(f"re-equilibration of {len(opened)} run(s) → {folder}")
    return done


def _pairs(run: Run) -> list[int]:
    """Levels ``L`` of ``run`` whose level ``L+1`` is finished too."""
    have = run.levels()
    pairs = [lv for lv in have if lv + 1 in have]
    if not pairs:
        raise LandscapeError(
            f"{run.path} has no two successive finished levels (levels: {have}); re-equilibration "
            "compares level L with level L+1: finish at least two levels of the run"
        )
    return pairs


def _files(run: Run, pairs: Sequence[int]) -> dict[str, str]:
    """Every level file read, relative to the run, with a hash of its bytes."""
    used = sorted({*pairs, *(lv + 1 for lv in pairs), *(lv - 1 for lv in pairs if lv > 0)})
    out = {}
    for lv in used:
        for p in (paths.weights(run.path, lv), paths.mask(run.path, lv)):
            if p.exists():
                out[p.relative_to(run.path).as_posix()] = file_digest(p)
    return out


def _labels(runs: Sequence[Run]) -> list[str]:
    methods = [r.config.prune.method for r in runs]
    return [m if methods.count(m) == 1 else r.path.name for m, r in zip(methods, runs)]


def _compute(
    runs: Sequence[Run],
    pairs: Sequence[Sequence[int]],
    spec: ReequilibrationSpec,
    settings: dict[str, Any],
    folder: Path,
) -> Result:
    from landscape.plotting.reequilibration import plot_histograms, plot_reequilibration

    # Pass 1: the shared histogram range. Pass 2: the statistics (files read once each pass).
    samples = []
    for run, lvs in zip(runs, pairs):
        for lv in lvs:
            nxt = run.mask(lv + 1)
            samples += [log10_kept(run.weights(lv), nxt), log10_kept(run.weights(lv + 1), nxt)]
    edges = histogram_edges(samples, spec.bins)
    entries, arrays = [], {"bin_edges": edges}
    for i, (run, lvs, label) in enumerate(zip(runs, pairs, _labels(runs))):
        have = set(run.levels())
        rows = []
        for lv in lvs:
            prev = run.weights(lv - 1) if lv - 1 in have else None
            stats = level_stats(lv, run.weights(lv), run.weights(lv + 1), run.mask(lv),
                                run.mask(lv + 1), edges, previous=prev,
                                fraction=_step_fraction(run, lv))  # fmt: skip
            rows.append(stats.to_dict())
        p = run.config.prune
        entries.append({"run": str(run.path), "label": label, "method": p.method,
                        "prune_strategy": p.prune_strategy, "prune_fraction": p.prune_fraction,
                        "levels": rows})  # fmt: skip
        arrays[f"run{i}_hist_projection"] = np.array([r["hist_projection"] for r in rows])
        arrays[f"run{i}_hist_retrained"] = np.array([r["hist_retrained"] for r in rows])
        for name in ("below_retrained", "projection_length",
                     "projection_length_without_retraining", "removed_overlap"):  # fmt: skip
            arrays[f"run{i}_{name}"] = np.array(
                [np.nan if r[name] is None else r[name] for r in rows]
            )
    record = {"kind": "reequilibration",
              "title": "Re-equilibration: " + " vs ".join(e["label"] for e in entries),
              "runs": entries, "bin_edges": edges.tolist(), "settings": settings,
              **stamp()}  # fmt: skip
    w = Writer(folder)
    w.arrays(arrays)
    w.figure("reequilibration.png", lambda: plot_reequilibration(record))
    w.figure("histograms.png", lambda: plot_histograms(record))
    w.text("report.md", _report(record))
    return w.finish(record)


def summary_headers() -> tuple[str, ...]:
    """The headers of :func:`summary_rows`."""
    return ("run", "level", "density", "below t_L after retraining", "ρ with retraining",
            "ρ without", "step overlap (chance)")  # fmt: skip


def summary_rows(record: Mapping[str, Any]) -> list[tuple]:
    """One row per run and level of a ``reequilibration`` record."""

    def num(v: float | None, fmt: str = ".4f") -> str:
        return "—" if v is None else format(v, fmt)

    rows = []
    for e in record["runs"]:
        for r in e["levels"]:
            rows.append((e["label"], f"{r['level']}→{r['level'] + 1}",
                         num(r["kept_fraction"]), num(r["below_retrained"]),
                         num(r["projection_length"]),
                         num(r["projection_length_without_retraining"]),
                         f"{num(r['removed_overlap'])} ({num(r['overlap_chance'])})"))  # fmt: skip
    return rows


def _report(rec: Mapping[str, Any]) -> str:
    lines = [f"# {rec['title']}", "",
             "Per level L: of the weights m_{L+1} keeps, the fraction whose magnitude after "
             "retraining (w^(L+1)) is below t_L, the largest |w^(L)| that m_{L+1} pruned; the "
             "relative projection length ρ_L = ‖w − m_{L+1}⊙w‖/‖w‖ at w = w^(L) (with "
             "retraining) and at w = m_L⊙w^(L−1) pruned by magnitude by as many weights (without "
             "retraining level L); the share of the next magnitude step after retraining that "
             "the projection's ranking would have pruned too (chance in brackets) [PAUL §3.4]. "
             "Definitions: landscape/analysis/reequilibration.py.", "",
             format_table(summary_headers(), summary_rows(rec), markdown=True), "",
             "![summary](reequilibration.png)", "", "![log10|w| histograms](histograms.png)", "",
             "Runs: " + ", ".join(f"{e['label']} = `{e['run']}`" for e in rec["runs"]), "",
             "Settings digest covers: `" + json.dumps({"bins": rec["settings"]["bins"]}) + "` and "
             "the hash of every level file read.", ""]  # fmt: skip
    return "\n".join(lines)


def _step_fraction(run: Run, level: int) -> float:
    """The share of m_{L+1}'s kept weights that the step after it removes, for the overlap's
    ``k``: measured from m_{L+2} when it exists (right for adaptive ratios too), else the
    run's fixed ``--prune-fraction`` (an adaptive run: its last measured step's share)."""

    def kept(lv: int) -> int:
        return sum(int(m.sum()) for m in run.mask(lv).values())

    if paths.mask(run.path, level + 2).exists():
        return 1 - kept(level + 2) / kept(level + 1)
    if run.config.prune.prune_ratio == "adaptive":
        return 1 - kept(level + 1) / kept(level)
    return run.config.prune.prune_fraction
