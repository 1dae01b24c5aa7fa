"""``sharpness(target, spec)``: average-case, worst-case and adaptive sharpness of a network.

The training loss over a fixed subset of a split (the first ``spec.samples``, no
augmentation, BatchNorm in eval mode) is perturbed on the kept weights of the checkpoint's
mask (pruned weights stay 0; biases and BatchNorm move) within balls of each radius of
``spec.radii`` (plain) and ``spec.adaptive_radii`` (``δ = |w| ⊙ ε``), as
:mod:`landscape.analysis.sharpness` defines: the expected rise under Gaussian perturbations,
the rise at the ball's maximiser found by projected gradient ascent (SAM-style), and both in
adaptive coordinates (Kwon et al. 2021; Andriushchenko et al. 2023).

Each network's result goes to its level's ``analysis/sharpness_<digest>/`` (``result.json``,
``result.npz``, ``sharpness.png``, ``report.md``); several levels add a summary
``sharpness-levels_<digest>/`` in the first level's analysis folder with each measure
against the level (``levels.png``). Finished results with the same settings are reused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from landscape.analysis.sharpness import model_loss_terms
from landscape.analysis.sharpness import sharpness as sharpness_of
from landscape.errors import LandscapeError
from landscape.jobs.common import Log, levels_summary
from landscape.jobs.store import Result, Writer, claim, stamp
from landscape.jobs.targets import DTYPES, Checkpoint, analysis_inputs, resolve_levels
from landscape.progress import progress
from landscape.pruning import density as mask_density
from landscape.runs import Run
from landscape.settings import digest
from landscape.specs import SharpnessSpec
from landscape.tables import format_table, plus_minus

__all__ = ["MEASURES", "sharpness", "summary_headers", "summary_rows", "summary_text"]

#: The measures of a record, as (key, label); each is a list over its radii.
MEASURES = (("average", "average"), ("worst", "worst"),
            ("adaptive_average", "adaptive average"), ("adaptive_worst", "adaptive worst"))  # fmt: skip


def sharpness(
    target: Any,
    spec: SharpnessSpec = SharpnessSpec(),
    *,
    levels: str | int | Sequence[int] | None = None,
    out: str | Path | None = None,
    force: bool = False,
    wait: bool = False,
    quiet: bool = False,
    log: Log = print,
) -> Result:
    """Sharpness at one or several levels of a run (module docstring).

    Args:
        target: a run directory (or an open :class:`~landscape.runs.Run`), a ``level_NN``
            folder, or a checkpoint file inside a run (a particle, the rewind point: without a
            level it has no mask and every parameter moves).
        levels: with a run directory: ``None`` (the last trained level), a level, a list,
            ``"0-3"``/``"0,2"`` or ``"all"``. Several levels return the summary
            :class:`Result` with the levels' results as ``children``.
        out: a folder for the results (``out/sharpness_<digest>/``) instead of the levels'.

    Returns:
        a :class:`Result` whose record holds ``radii``, ``adaptive_radii``, ``loss`` and, per
        radius, ``average`` (± ``average_stderr``), ``worst``, ``adaptive_average``
        (± ``adaptive_average_stderr``), ``adaptive_worst``; ``weights_remaining``.
    """
    targets = resolve_levels(target, levels, device=spec.device, what="sharpness")
    run = targets[0].run
    model, data = analysis_inputs(run, threads=spec.threads, split=spec.split,
                                  samples=spec.samples)  # fmt: skip
    results = []
    total = 2 * (len(spec.radius_list()) + len(spec.adaptive_radius_list())) * len(targets)
    with progress(total=total, desc="sharpness", unit="measure",
                  disable=True if quiet else None) as bar:  # fmt: skip
        for t in targets:
            settings = spec.hashed(t.ident)
            key = digest(settings)
            folder = Path(out) / f"sharpness_{key}" if out else t.result_dir("sharpness", key)
            with claim(folder, settings, force=force, wait=wait, log=log) as done:
                if done is None:
                    done = _one(spec, model, data, t, settings, folder, bar)
                    rec = done.record
                    log(f"{t.label}: loss {rec['loss']:.4g}, worst {_last(rec, 'worst')}, "
                        f"average {_last(rec, 'average')}, adaptive worst "
                        f"{_last(rec, 'adaptive_worst')} at the largest radii "
                        f"({rec['seconds']:.1f}s) → {folder}")  # fmt: skip
                else:
                    bar.update(2 * (len(done["radii"]) + len(done["adaptive_radii"])))
            results.append(done)
    if len(results) == 1:
        return results[0]
    return _summary(run, spec, results, out, force, wait, log)


def _last(rec: Mapping[str, Any], key: str) -> str:
    return f"{rec[key][-1]:.4g}" if rec[key] else "—"


def _mask_of(t: Checkpoint) -> Any:
    """The checkpoint's mask, or ``None`` (every parameter moves) where it has none."""
    try:
        return t.mask()
    except LandscapeError:
        return None


def _one(
    spec: SharpnessSpec,
    model: Any,
    data: Any,
    t: Checkpoint,
    settings: dict[str, Any],
    folder: Path,
    bar: Any,
) -> Result:
    from landscape.plotting.sharpness import plot_sharpness

    mask = _mask_of(t)
    model.load_state_dict(t.state)
    model.to(DTYPES[spec.dtype])
    params, terms = model_loss_terms(model, data, chunk_size=spec.chunk_size)
    res = sharpness_of(
        params, terms, mask=mask, radii=spec.radius_list(),
        adaptive_radii=spec.adaptive_radius_list(), pairs=spec.pairs, steps=spec.steps,
        seed=spec.seed, progress=bar.update,
    )  # fmt: skip
    run = t.run
    record = {"kind": "sharpness", "title": f"{run.path.name}: {t.label}", "run": str(run.path),
              "method": run.config.prune.method, "level": t.level, "weights": t.ident,
              "masked": mask is not None,
              "weights_remaining": mask_density(mask) if mask is not None else 1.0,
              "num_samples": int(data[0].shape[0]), **res.to_dict(), "settings": settings,
              **stamp()}  # fmt: skip
    w = Writer(folder)
    w.arrays({k: record[k] for k in ("radii", "adaptive_radii", "average", "average_stderr",
                                     "worst", "adaptive_average", "adaptive_average_stderr",
                                     "adaptive_worst")})  # fmt: skip
    w.figure("sharpness.png", lambda: plot_sharpness(record))
    w.text("report.md", _report(record))
    return w.finish(record)


def summary_headers() -> tuple[str, ...]:
    """The headers of :func:`summary_rows`."""
    return ("level", "remaining %", "loss", "ρ", "average ± se", "worst", "adaptive ρ",
            "adaptive average ± se", "adaptive worst")  # fmt: skip


def summary_rows(records: Sequence[Mapping[str, Any]]) -> list[tuple]:
    """One row per record and radius (:func:`summary_headers`); the plain and adaptive radii
    share rows in order (a blank where one list is shorter)."""
    rows = []
    for r in records:
        n = max(len(r["radii"]), len(r["adaptive_radii"]))
        for i in range(n):
            plain = i < len(r["radii"])
            adapt = i < len(r["adaptive_radii"])
            rows.append((
                r.get("level", "") if i == 0 else "",
                f"{100 * r['weights_remaining']:.2f}" if i == 0 else "",
                f"{r['loss']:.4g}" if i == 0 else "",
                f"{r['radii'][i]:g}" if plain else "",
                plus_minus(r["average"][i], r["average_stderr"][i]) if plain else "",
                f"{r['worst'][i]:.4g}" if plain else "",
                f"{r['adaptive_radii'][i]:g}" if adapt else "",
                plus_minus(r["adaptive_average"][i], r["adaptive_average_stderr"][i])
                if adapt else "",
                f"{r['adaptive_worst'][i]:.4g}" if adapt else "",
            ))  # fmt: skip
    return rows


def _report(rec: Mapping[str, Any]) -> str:
    s = rec["settings"]
    lines = [f"# Sharpness — {rec['title']}", "",
             f"Training-loss rise within a ball of radius ρ around `{rec['weights']}`, on "
             f"{rec['num_kept']} coordinates ({'the kept weights of the mask, ' if rec['masked'] else ''}"
             f"biases and BatchNorm included), over {rec['num_samples']} {s['split']} samples "
             f"(fixed, unaugmented, BatchNorm in eval mode), {s['dtype']}. Average: "
             f"{rec['pairs']} antithetic Gaussian pairs, E‖δ‖² = ρ². Worst: {rec['steps']} "
             "projected gradient-ascent iterates from SAM's step (a lower bound of the "
             "maximum). Adaptive: δ = |w| ⊙ ε, ‖ε‖ ≤ ρ (Kwon et al. 2021; Andriushchenko et "
             f"al. 2023). Loss at the point: {rec['loss']:.6g}; ‖w‖ on those coordinates "
             f"{rec['kept_norm']:.4g}.",
             "", format_table(summary_headers(), summary_rows([rec]), markdown=True), "",
             "![sharpness against ρ](sharpness.png)", "",
             "Settings: `" + json.dumps(s, sort_keys=True) + "`", ""]  # fmt: skip
    return "\n".join(lines)


def _summary(
    run: Run,
    spec: SharpnessSpec,
    results: Sequence[Result],
    out: str | Path | None,
    force: bool,
    wait: bool,
    log: Log,
) -> Result:
    from landscape.plotting.sharpness import plot_sharpness_levels

    keep = ("level", "weights_remaining", "loss", "radii", "adaptive_radii", "average",
            "average_stderr", "worst", "adaptive_average", "adaptive_average_stderr",
            "adaptive_worst", "num_kept", "kept_norm", "seconds")  # fmt: skip

    def build(settings: dict[str, Any], records: list[dict[str, Any]]):
        level_settings = {k: v for k, v in records[0]["settings"].items() if k != "weights"}
        body = {"title": f"{run.path.name}: sharpness across levels",
                "level_settings": level_settings,
                "levels": [{k: r.get(k) for k in keep} for r in records]}  # fmt: skip
        md = [f"# Sharpness across levels — {run.path.name}", "",
              format_table(summary_headers(), summary_rows(records), markdown=True), "",
              "![sharpness against level](levels.png)", "",
              "Settings: `" + json.dumps(level_settings, sort_keys=True) + "`", ""]  # fmt: skip
        return body, md

    return levels_summary(run, "sharpness-levels", results, build, plot_sharpness_levels,
                          out=out, force=force, wait=wait, log=log)  # fmt: skip


def summary_text(res: Result) -> str:
    """The table of a result or of a summary's levels, as the verb prints it."""
    records = [c.record for c in res.children] or [res.record]
    return format_table(summary_headers(), summary_rows(records))
