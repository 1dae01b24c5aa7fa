"""``curvature(target, spec)``: the curvature of the pruning direction, magnitude vs random masks.

At a level's solution ``w^(L)``, the pruning direction ``Δ = m ⊙ w − w`` of the next mask and
its curvature ``κ = ΔᵀHΔ / ‖Δ‖²`` under the training-loss Hessian ``H`` (all parameters, the
first ``samples`` of ``split``, unaugmented, BatchNorm in eval mode), for the run's own next
mask against ``random_masks`` random masks that remove as many of the kept weights
[PAUL §3.3] (docs/science.md, section 10, "related measurements";
:mod:`landscape.analysis.curvature`). One Hessian-vector product per direction.

The "magnitude" mask is the run's ``m_{L+1}`` (``level_{L+1}/mask.safetensors``) when the
run prunes by magnitude (``--prune-strategy global`` or ``layerwise``) and that file exists;
otherwise (the last level, or a run pruned at random) it is computed here: global magnitude
pruning of ``w^(L)`` within ``m_L`` by the run's ``--prune-fraction``
(:func:`landscape.pruning.prune`). Random mask ``i`` of level ``L`` comes from one
generator seeded with ``seed + L``.

Each level's result goes to ``level_LL/analysis/curvature_<digest>/`` (``result.json``,
``result.npz``, ``curvature.png``, ``report.md``); several levels add a summary
``curvature-levels_<digest>/`` in the first level's analysis folder with κ against level
(``levels.png``). Finished results with the same settings are reused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from landscape import paths
from landscape.analysis.curvature import curvature as curvature_of
from landscape.errors import LandscapeError
from landscape.jobs.common import Log, levels_summary
from landscape.jobs.store import Result, Writer, claim, stamp
from landscape.jobs.targets import DTYPES, Checkpoint, analysis_inputs, resolve_levels
from landscape.progress import progress
from landscape.pruning import Mask, prune
from landscape.pruning import density as mask_density
from landscape.runs import Run
from landscape.settings import digest
from landscape.specs import DirectionCurvatureSpec
from landscape.tables import format_table, plus_minus, sig

__all__ = ["curvature", "next_mask_source", "summary_headers", "summary_rows"]

_MAGNITUDE_RULES = ("global", "layerwise")


def curvature(
    target: Any,
    spec: DirectionCurvatureSpec = DirectionCurvatureSpec(),
    *,
    levels: str | int | Sequence[int] | None = None,
    out: str | Path | None = None,
    force: bool = False,
    wait: bool = False,
    quiet: bool = False,
    log: Log = print,
) -> Result:
    """κ of the pruning direction at one or several levels of a run [PAUL §3.3].

    Args:
        target: a run directory (or an open :class:`~landscape.runs.Run`), or a ``level_NN``
            folder of one.
        levels: with a run directory: ``None`` (the last trained level), a level, a list,
            ``"0-3"``/``"0,2"``, or ``"all"`` (every trained level whose next mask is written).
            Several levels return the summary :class:`Result` with the levels' results as
            ``children``.
        out: a folder for the results (``out/curvature_<digest>/``) instead of the levels'.

    Returns:
        a :class:`Result` whose record holds ``kappa_magnitude``, ``kappa_random``,
        ``kappa_random_mean``, ``kappa_random_std`` (sample, ddof 1), ``kappa_ratio``
        (magnitude / random mean), ``random_flatter``, ``norm_*``, ``quad_*``, ``hvp_count``.

    Raises:
        LandscapeError: the target is no level of a run, or no level has a next mask.
    """
    c = spec.curvature
    targets = _targets(target, levels, c.device)
    run = targets[0].run
    model, data = analysis_inputs(run, threads=c.threads, split=c.split, samples=c.samples)
    model.to(DTYPES[c.dtype])
    results = []
    with progress(total=None, desc="HVPs", unit="hvp", disable=True if quiet else None) as bar:
        for t in targets:
            level = int(t.level)  # type: ignore[arg-type]  # _targets keeps level weights only
            source = next_mask_source(run, level)
            settings = {"kind": "curvature", "weights": t.ident, "next_mask": source,
                        "random_masks": spec.random_masks, **c.hashed()}  # fmt: skip
            key = digest(settings)
            folder = Path(out) / f"curvature_{key}" if out else t.result_dir("curvature", key)
            with claim(folder, settings, force=force, wait=wait, log=log) as done:
                if done is None:
                    bar.set_description(f"HVPs (level {level})")
                    done = _one(spec, model, data, t, source, settings, folder, bar)
                    rec = done.record
                    log(f"level {level}: κ magnitude {sig(rec['kappa_magnitude'])}, random "
                        f"{plus_minus(rec['kappa_random_mean'], rec['kappa_random_std'])} "
                        f"({rec['hvp_count']} HVPs, {rec['seconds']:.1f}s) → {folder}")  # fmt: skip
            results.append(done)
    if len(results) == 1:
        return results[0]
    return _summary(run, spec, results, out, force, wait, log)


def _targets(target: Any, levels: Any, device: str) -> list[Checkpoint]:
    """The level checkpoints to measure (module docstring): with ``"all"``, every trained
    level whose next mask is written."""
    every = isinstance(levels, str) and levels in ("", "all")
    targets = resolve_levels(target, levels, device=device, weights_only=True, what="curvature")
    if every:
        last = targets[-1]
        targets = [t for t in targets if paths.mask(t.run.path, int(t.level) + 1).exists()]
        if not targets:
            raise LandscapeError(
                f"no level of {target} has a next mask (level_NN/mask.safetensors of the level "
                f"after it); pass --level {last.level} to prune that level by magnitude here"
            )
    return targets


def next_mask_source(run: Run, level: int) -> str:
    """Where the magnitude mask of ``level`` comes from (recorded and hashed): the run's
    next mask file, or ``"global magnitude, fraction F"`` computed here (module docstring)."""
    p = run.config.prune
    if paths.mask(run.path, level + 1).exists() and p.prune_strategy in _MAGNITUDE_RULES:
        return paths.mask(run.path, level + 1).relative_to(run.path).as_posix()
    return f"global magnitude, fraction {p.prune_fraction:g}"


def _next_mask(run: Run, level: int, source: str, state: Mapping[str, Tensor], mask: Mask) -> Mask:
    if source.endswith(".safetensors"):
        return run.mask(level + 1)
    return prune(state, mask, run.config.prune.prune_fraction, "global")


def _one(
    spec: DirectionCurvatureSpec,
    model: nn.Module,
    data: tuple[Tensor, Tensor],
    t: Checkpoint,
    source: str,
    settings: dict[str, Any],
    folder: Path,
    bar: Any,
) -> Result:
    from landscape.plotting.curvature import plot_curvature

    c = spec.curvature
    level = int(t.level)  # type: ignore[arg-type]
    run = t.run
    mask = t.mask()
    nxt = _next_mask(run, level, source, t.state, mask)
    model.load_state_dict(t.state)
    model.to(DTYPES[c.dtype])
    res = curvature_of(
        model, data, mask, nxt, random=spec.random_masks, seed=c.seed + level,
        chunk_size=c.hvp_chunk_size or None, method=c.hvp, progress=bar.update,
    )  # fmt: skip
    record = {"kind": "curvature", "title": f"{run.path.name}: level {level}",
              "run": str(run.path), "method": run.config.prune.method, "level": level,
              "weights_remaining": mask_density(mask), "next_remaining": mask_density(nxt),
              "next_mask": source, "prune_strategy": run.config.prune.prune_strategy,
              **res.to_dict(), "settings": settings, **stamp()}  # fmt: skip
    w = Writer(folder)
    w.arrays({"kappa_random": list(res.kappa_random), "quad_random": list(res.quad_random),
              "norm_random": list(res.norm_random),
              "magnitude": [res.kappa_magnitude, res.quad_magnitude,
                            res.norm_magnitude]})  # fmt: skip
    w.figure("curvature.png", lambda: plot_curvature(record))
    w.text("report.md", _report(record))
    return w.finish(record)


def summary_headers() -> tuple[str, ...]:
    """The headers of :func:`summary_rows`."""
    return ("level", "density", "next density", "κ magnitude", "κ random (mean ± std)",
            "magnitude/random", "random flatter", "‖Δ‖ magnitude", "‖Δ‖ random")  # fmt: skip


def summary_rows(records: Sequence[Mapping[str, Any]]) -> list[tuple]:
    """One row per level result (:func:`summary_headers`)."""
    rows = []
    for r in records:
        ratio = r.get("kappa_ratio")
        nr = r["norm_random"]
        rows.append((r["level"], f"{r['weights_remaining']:.4f}", f"{r['next_remaining']:.4f}",
                     sig(r["kappa_magnitude"]),
                     plus_minus(r["kappa_random_mean"], r["kappa_random_std"]),
                     "—" if ratio is None else f"{ratio:.4f}",
                     f"{r['random_flatter']}/{len(r['kappa_random'])}",
                     sig(r["norm_magnitude"]), sig(sum(nr) / len(nr))))  # fmt: skip
    return rows


def _report(rec: Mapping[str, Any]) -> str:
    s = rec["settings"]
    lines = [f"# Curvature of the pruning direction — {rec['title']}", "",
             f"κ = ΔᵀHΔ/‖Δ‖² with Δ = m⊙w − w at w^({rec['level']}), H the training-loss "
             f"Hessian over {rec['num_samples']} {s['split']} samples (fixed, unaugmented, "
             f"BatchNorm in eval mode), all {rec['num_params']} parameters, {s['dtype']} "
             f"[PAUL §3.3]. Magnitude mask: {rec['next_mask']}; {len(rec['kappa_random'])} "
             f"random masks removing the same {rec['num_removed']} of the {rec['num_kept']} kept "
             f"weights (seed {s['seed']} + level).",
             "", format_table(summary_headers(), summary_rows([rec]), markdown=True), "",
             "Random κ: " + ", ".join(sig(k) for k in rec["kappa_random"]), "",
             "![κ magnitude vs random](curvature.png)", "",
             "Settings: `" + json.dumps(s, sort_keys=True) + "`", ""]  # fmt: skip
    return "\n".join(lines)


def _summary(
    run: Run,
    spec: DirectionCurvatureSpec,
    results: Sequence[Result],
    out: str | Path | None,
    force: bool,
    wait: bool,
    log: Log,
) -> Result:
    from landscape.plotting.curvature import plot_curvature_levels

    keep = ("level", "weights_remaining", "next_remaining", "next_mask", "kappa_magnitude",
            "kappa_random", "kappa_random_mean", "kappa_random_std", "kappa_ratio",
            "random_flatter", "norm_magnitude", "norm_random", "weight_norm", "num_kept",
            "num_removed", "hvp_count", "seconds")  # fmt: skip

    def build(settings: dict[str, Any], records: list[dict[str, Any]]):
        s = records[0]["settings"]
        body = {"title": f"{run.path.name}: curvature of the pruning direction",
                "num_samples": records[0]["num_samples"], "split": s["split"],
                "dtype": s["dtype"], "random_masks": spec.random_masks,
                "level_settings": {k: v for k, v in s.items() if k not in ("weights", "next_mask")},
                "levels": [{k: r.get(k) for k in keep} for r in records]}  # fmt: skip
        md = [f"# Curvature of the pruning direction across levels — {run.path.name}", "",
              f"κ = ΔᵀHΔ/‖Δ‖² [PAUL §3.3], training loss over {body['num_samples']} "
              f"{s['split']} samples, {s['dtype']}; {spec.random_masks} random masks per level.",
              "", format_table(summary_headers(), summary_rows(records), markdown=True), "",
              "![κ against level](levels.png)", "",
              "Settings: `" + json.dumps(settings, sort_keys=True) + "`", ""]  # fmt: skip
        return body, md

    return levels_summary(run, "curvature-levels", results, build, plot_curvature_levels,
                          out=out, force=force, wait=wait, log=log)  # fmt: skip
