"""``demo(out)``: a whole small study on MNIST-1D (measured times: the README).

IMP-WR, IMP-LRR and IMP-FT on the MNIST-1D MLP (sharing one dense network), then on
the IMP-WR run: the error along the path through its levels and the barrier matrix
[PAUL Fig. 2], the slice through level 2, its projection and level 3 [PAUL Fig. 3],
the Hessian spectrum of every level in the kept subspace, and the flatness bound on
the pruning ratio at level 2 [PAUL §3.3]. Every step is a job of
``landscape.jobs`` and resumes: a repeated call only redoes what is missing. Writes
``report.md`` (linking only files that exist), ``figures/`` and ``report.html`` (one
self-contained page of every run and result, :mod:`landscape.report`) under ``out``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from landscape.hparams import PRESETS, RunConfig
from landscape.io import atomic_write_text, level_metrics
from landscape.jobs.bound import bound
from landscape.jobs.connectivity import connectivity
from landscape.jobs.hessian import hessian
from landscape.jobs.prune import prune
from landscape.jobs.slices import slice as slice_
from landscape.specs import (
    BoundSpec,
    ConnectivitySpec,
    CurvatureSpec,
    EngineSpec,
    HessianSpec,
    SliceSpec,
)
from landscape.tables import RUN_HEADERS, format_table, run_cells

__all__ = ["DemoResult", "demo"]

METHODS = ("imp-wr", "imp-lrr", "imp-ft")


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its report and figures, its runs, its wall time (s), and the
    self-contained HTML page of every run and result (``landscape report``)."""

    report: Path
    figures: dict[str, Path]
    runs: dict[str, Path]
    seconds: float
    html: Path | None = None


def demo(
    out: str | Path = "landscape_demo",
    *,
    levels: int = 10,
    quick: bool = False,
    device: str = "auto",
    threads: int = 0,
    quiet: bool = False,
    log: Callable[[str], object] = print,
) -> DemoResult:
    """Run the demo study into ``out`` (module docstring); ``quick``: 3 short levels (CI);
    ``device`` and ``threads``: the engine settings of every step (0 threads: auto)."""
    from landscape.plotting.levels import plot_metric_vs_sparsity

    out = Path(out)
    t0 = time.perf_counter()
    settings = {**PRESETS["mlp-mnist1d"], "levels": 3 if quick else levels, "device": device,
                "threads": threads}  # fmt: skip
    if quick:
        settings.update(length="8ep", milestones="4ep,6ep", eval_every="4ep", rewind_step="40")
    base = RunConfig().replace(**settings)
    runs = {
        m.upper(): prune(base.replace(method=m), root=out / "runs", quiet=quiet) for m in METHODS
    }
    figures: dict[str, Path] = {}
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    fig, _ = plot_metric_vs_sparsity(runs)
    fig.savefig(fig_dir / "accuracy_vs_sparsity.png", dpi=150)
    figures["accuracy"] = fig_dir / "accuracy_vs_sparsity.png"

    wr, engine = runs["IMP-WR"], EngineSpec(device=device, threads=threads)
    say = (lambda _: None) if quiet else log
    # Each analysis below takes seconds to a minute: a line says what starts, and one what
    # it gave (progress bars show only on a terminal).
    n = base.prune.levels + 1
    say(f"\nconnectivity of the IMP-WR levels 0..{n - 1}: the path and the barrier matrix "
        f"({n} networks, 11 points a path)")  # fmt: skip
    conn = connectivity(wr, ConnectivitySpec(points=11, engine=engine), quiet=quiet, log=say)
    say(f"  largest error barrier between successive levels "
        f"{max(seg['error_barrier'] for seg in conn['segments']):.4f}; "
        f"{conn['points_evaluated']} points in {conn['seconds']:.1f}s → {conn.folder}")  # fmt: skip
    level = min(2, base.prune.levels - 1)
    grid = 9 if quick else 25
    say(f"slice through w^({level}), its projection and w^({level + 1}): {grid}x{grid} grid")
    sl = slice_(wr, SliceSpec(level=level, grid=grid, engine=engine), quiet=quiet, log=say)
    say(f"  {grid * grid} grid points in {sl['seconds']:.1f}s → {sl.folder}")
    say("Hessian spectrum of every level in the kept subspace: top-3 eigenvalues and trace")
    hs = hessian(wr, HessianSpec(top_k=3, trace=True, probes=20, masked=True, samples=1000,
                                 device=device, threads=threads), levels="all", quiet=quiet, log=say)  # fmt: skip
    curv = CurvatureSpec(samples=1000, device=device, threads=threads)
    say(f"flatness bound on the pruning ratio at level {level} (stochastic Lanczos quadrature)")
    bd = bound(wr, BoundSpec(curvature=curv, engine=engine), levels=[level], quiet=quiet, log=say)
    for name, res, png in (("connectivity", conn, "connectivity.png"), ("slice", sl, "slice.png"),
                           ("hessian", hs, "levels.png"), ("bound", bd, "bound.png")):  # fmt: skip
        shutil.copyfile(res.folder / png, fig_dir / f"{name}.png")
        figures[name] = fig_dir / f"{name}.png"

    seconds = time.perf_counter() - t0
    lines = ["# landscape demo: pruning MNIST-1D, and the landscape of its solutions", "",
             f"MLP 40-100-100-10, {base.prune.levels} levels of 20% global magnitude pruning "
             f"({base.train.length} of SGD a level); one seed.", "",
             "## Accuracy against sparsity (IMP-WR, IMP-LRR, IMP-FT)", "",
             "![test accuracy against sparsity](figures/accuracy_vs_sparsity.png)", ""]  # fmt: skip
    for label, run_dir in runs.items():
        rows = level_metrics(run_dir)
        lines += [f"### {label}", "", f"Run directory: `{run_dir}`", "",
                  format_table(RUN_HEADERS, [run_cells(r) for r in rows], markdown=True), ""]  # fmt: skip
    lines += ["## Linear mode connectivity along the IMP-WR levels [PAUL Fig. 2]", "",
              f"Largest error barrier between successive levels: "
              f"{max(s['error_barrier'] for s in conn['segments']):.4f}; result: `{conn.folder}`.",
              "", "![error along the level path and barrier matrix](figures/connectivity.png)", "",
              f"## The plane of level {level} [PAUL Fig. 3]", "", f"Result: `{sl.folder}`.", "",
              "![slice](figures/slice.png)", "",
              "## Hessian spectrum of every level, kept weights only", "",
              f"Result: `{hs.folder}`.", "", "![top eigenvalue and trace](figures/hessian.png)", "",
              f"## The flatness bound on the pruning ratio at level {level} [PAUL §3.3]", "",
              f"Predicted largest one-shot ratio p*: magnitude {_p_star(bd, 'magnitude')}, "
              f"random {_p_star(bd, 'random')}; the run pruned "
              f"{base.prune.prune_fraction:g} a level. Result: `{bd.folder}`.", "",
              "![bound](figures/bound.png)", "",
              "Every run and analysis result on one page: [report.html](report.html).", "",
              f"Wall time of this command: {seconds:.0f} s.", ""]  # fmt: skip
    report = out / "report.md"
    atomic_write_text(report, "\n".join(lines))
    from landscape.report import write_report

    page, _ = write_report([out / "runs"], out / "report.html",
                           title="landscape demo: IMP on MNIST-1D and the landscape of its solutions")  # fmt: skip
    return DemoResult(report, figures, runs, seconds, page)


def _p_star(res, kind: str) -> str:
    """A bound result's predicted p* of one mask kind, as text."""
    p = res.get("p_star", {})
    value = p.get(kind) if isinstance(p, dict) else None
    return "—" if value is None else f"{value:.3f}"
