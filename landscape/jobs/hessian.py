"""``hessian(target, spec)``: the Hessian spectrum report of one or several networks.

Top-k eigenvalues (Lanczos), the trace ± standard error (Hutchinson) and the
spectral density (stochastic Lanczos quadrature) of the training loss over a
fixed subset of a split (the first ``spec.samples``, no augmentation, BatchNorm in
eval mode), optionally per layer or block, and restricted to the kept weights of
the checkpoint's mask (``spec.masked``). Each network's result goes to its level's
``analysis/hessian_<digest>/`` as ``result.json`` + ``result.npz`` + ``report.md`` (+
``density.png``, ``layers.png``); with several levels a summary across them
(``hessian-levels_<digest>/`` in the first level's analysis folder) adds the top
eigenvalue and trace against sparsity. The digest covers every setting that
changes the numbers, so a repeated call reuses finished results.

Under ``torchrun`` the Hutchinson and SLQ probes are split over the ranks, and with
several levels to compute (at least one per rank) each level is measured whole on one
rank (level ``i`` on rank ``i mod R``) instead; rank 0 alone claims and writes.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from landscape import distributed, paths
from landscape.analysis.hessian import (
    Spectrum,
    overlap_matrix,
    param_groups,
    require_linearity,
    spectrum,
)
from landscape.checkpoint import load_state, save_state
from landscape.errors import LandscapeError
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
from landscape.pruning import density as mask_density
from landscape.settings import digest
from landscape.specs import HessianSpec
from landscape.tables import format_table, plus_minus, sig

__all__ = [
    "hessian",
    "hessian_overlap",
    "load_eigenvectors",
    "selected_groups",
    "summary_headers",
    "summary_rows",
    "summary_text",
]


def hessian(
    target: Any,
    spec: HessianSpec = HessianSpec(),
    *,
    levels: str | Sequence[int] | None = None,
    out: str | Path | None = None,
    force: bool = False,
    wait: bool = False,
    quiet: bool = False,
    log: Log = print,
) -> Result:
    """The spectrum report of ``target`` (any target, ``landscape.jobs.targets``).

    Args:
        levels: several levels of a run directory (``"all"``, ``"0-3"`` or a list): one
            result per level and a summary across them, returned as the summary
            :class:`Result` with the levels' results as ``children``.
        out: a folder for the results (``out/hessian_<digest>/``) instead of the default.

    Returns:
        a :class:`Result` whose record holds ``eigenvalues``, ``trace``, ``trace_stderr``,
        ``density_grid``/``density`` (when asked), ``num_kept``, ``hvp_count``, ``seconds``.
    """
    targets = resolve_levels(target, levels, device=spec.device)
    if spec.masked:  # each target's mask exists and nests, before a folder is claimed
        for t in targets:
            t.mask()
    model, data = analysis_inputs(targets[0].run, threads=spec.threads, split=spec.split,
                                  samples=spec.samples)  # fmt: skip
    if spec.trace and spec.trace_method == "exact" and spec.curvature == "hessian":
        require_linearity(model)  # before a folder is claimed
    jobs = [(t, *_where(spec, t, out)) for t in targets]
    if quiet:  # no progress bar and no line per level
        log = _silent
    with progress(total=None, desc="HVPs", unit="hvp", disable=True if quiet else None) as bar:
        if len(jobs) > 1 and distributed.shard_world()[1] > 1:
            results = _levels_on_ranks(spec, model, data, jobs, bar, force, wait, log)
        else:
            results = [_level(spec, model, data, job, bar, force, wait, log) for job in jobs]
    if len(results) == 1:
        return results[0]
    return _summary(targets[0], spec, results)


def _silent(*_: Any, **__: Any) -> None:
    """The log of a quiet call."""


def _where(spec: HessianSpec, t: Checkpoint, out: str | Path | None) -> tuple[dict[str, Any], Path]:
    """The hashed settings of ``t``'s result and its folder."""
    settings = spec.hashed(t.ident)
    key = digest(settings)
    return settings, Path(out) / f"hessian_{key}" if out else t.result_dir("hessian", key)


def _level(
    spec: HessianSpec,
    model: nn.Module,
    data: tuple[Tensor, Tensor],
    job: tuple[Checkpoint, dict[str, Any], Path],
    bar: Any,
    force: bool,
    wait: bool,
    log: Log,
) -> Result:
    """One level's result: reused, or measured (probes split over ranks) and written."""
    t, settings, folder = job
    with claim(folder, settings, force=force, wait=wait, log=log) as done:
        if done is None:
            bar.set_description(f"HVPs ({t.label})")
            done = _write(spec, t, settings, folder, *_measure(spec, model, data, t, bar))
            _log_done(log, t, done)
    return done


def _log_done(log: Log, t: Checkpoint, done: Result) -> None:
    rec = done.record
    # "cached" is how the products were computed (the cached gradient graph), not a reused
    # result: reuse says "reusing the finished result", so the method is named as one.
    log(f"{t.label}: {rec['hvp_count']['total']} Hessian-vector products "
        f"(HVP method {rec['hvp_method']}) in {rec['seconds']['total']:.1f}s → {done.folder}")  # fmt: skip


def _levels_on_ranks(
    spec: HessianSpec,
    model: nn.Module,
    data: tuple[Tensor, Tensor],
    jobs: Sequence[tuple[Checkpoint, dict[str, Any], Path]],
    bar: Any,
    force: bool,
    wait: bool,
    log: Log,
) -> list[Result]:
    """Several levels under ``torchrun``: rank 0 claims every level's folder (finished ones
    are reused); with at least as many levels to compute as ranks, level ``i`` of them is
    measured whole on rank ``i mod R`` (the one-process numbers) and rank 0 writes it,
    otherwise each level's probes are split over the ranks, one level after the other."""
    with contextlib.ExitStack() as held:
        found = distributed.on_primary(lambda: [
            held.enter_context(claim(folder, settings, force=force, wait=wait, log=log))
            for _, settings, folder in jobs
        ])  # fmt: skip
        todo = [i for i, done in enumerate(found) if done is None]
        if len(todo) >= distributed.shard_world()[1]:
            mine = []
            for k in distributed.my_indices(len(todo)):
                t = jobs[todo[k]][0]
                bar.set_description(f"HVPs ({t.label})")
                with distributed.alone():
                    record, arrays, vectors = _measure(spec, model, data, t, bar)
                mine.append((record, arrays, _to_cpu(vectors)))
            measured = dict(zip(todo, distributed.assemble(len(todo), mine)))
        else:
            measured = {i: _measure(spec, model, data, jobs[i][0], bar) for i in todo}
        results = []
        for i, (t, settings, folder) in enumerate(jobs):
            done = found[i]
            if done is None:
                done = _write(spec, t, settings, folder, *measured[i])
                _log_done(log, t, done)
            results.append(done)
        return results


def _to_cpu(vectors: list[dict[str, Tensor]] | None) -> list[dict[str, Tensor]] | None:
    return None if vectors is None else [{n: v.cpu() for n, v in vec.items()} for vec in vectors]


def _measure(
    spec: HessianSpec, model: nn.Module, data: tuple[Tensor, Tensor], t: Checkpoint, bar: Any
) -> tuple[dict[str, Any], dict[str, np.ndarray], list[dict[str, Tensor]] | None]:
    """The spectrum of ``t``: the record's numbers, the arrays and the eigenvectors (if asked)."""
    mask = t.mask() if spec.masked else None
    record, arrays, res = _analyse(spec, model, data, t.state, mask, bar)
    remaining = mask_density(mask) if mask is not None else None
    if remaining is None and not t.bare and t.level is not None:
        remaining = mask_density(t.run.mask(t.level))
    record["weights_remaining"] = remaining
    return record, arrays, res.eigenvectors if _keeps_vectors(spec) else None


def _keeps_vectors(spec: HessianSpec) -> bool:
    """The overlap across levels is computed from each level's saved eigenvectors."""
    return spec.eigenvectors or spec.overlap


def _write(
    spec: HessianSpec,
    t: Checkpoint,
    settings: dict[str, Any],
    folder: Path,
    measured: dict[str, Any],
    arrays: dict[str, np.ndarray],
    vectors: list[dict[str, Tensor]] | None,
) -> Result:
    """Write one level's result folder (rank 0 alone under torchrun); its :class:`Result`."""
    from landscape.plotting.hessian import plot_density, plot_layers

    remaining = measured.pop("weights_remaining")
    name = t.run.path.name if not t.bare else t.label
    record = {"kind": "hessian", "title": f"{name}: {_label(t)}",
              "run": None if t.bare else str(t.run.path), "level": t.level,
              "weights_remaining": remaining, **measured, "settings": settings,
              "engine": measured["settings"], **stamp()}  # fmt: skip
    w = Writer(folder)
    if vectors and w.writes:
        save_state(folder / "eigenvectors.safetensors",
                   {f"{i}/{n}": v for i, vec in enumerate(vectors) for n, v in vec.items()})  # fmt: skip
        # The mask rides along, so that two results can be compared on the weights both
        # keep without their runs (:func:`hessian_overlap`).
        kept = _mask_of(t)
        if kept:
            save_state(folder / "mask.safetensors",
                       {n: m.to(torch.uint8).cpu() for n, m in kept.items()})  # fmt: skip
    if record.get("density") is not None:
        w.figure("density.png", lambda: plot_density(record))
    if record["groups"]:
        w.figure("layers.png", lambda: plot_layers(record))
    w.text("report.md", _level_report(record))
    w.arrays(arrays)
    return w.finish(record)


def _mask_of(t: Checkpoint) -> Mapping[str, Tensor] | None:
    """The checkpoint's mask, or ``None`` where it has none (a bare file without --mask)."""
    try:
        return t.mask()
    except LandscapeError:
        return None


def _label(t: Checkpoint) -> str:
    if t.bare:
        return t.label
    return (
        f"level {t.level}"
        if t.ident == level_ident(t.level or 0) and t.level is not None
        else t.ident
    )


def _analyse(
    spec: HessianSpec,
    model: nn.Module,
    data: tuple[Tensor, Tensor],
    state: Mapping[str, Tensor],
    mask: Mapping[str, Tensor] | None,
    bar: Any,
) -> tuple[dict[str, Any], dict[str, np.ndarray], Spectrum]:
    model.load_state_dict(state)
    model.to(DTYPES[spec.dtype])
    probes = spec.probes if spec.trace else 0
    common = {
        "seed": spec.seed, "tol": spec.tol, "max_steps": spec.max_steps, "which": spec.which,
        "chunk_size": spec.chunk_size or None, "method": spec.hvp,
        "memory_budget": int(spec.memory_gb * 2**30) or None, "progress": bar.update,
        "curvature": spec.curvature, "trace_method": spec.trace_method,
    }  # fmt: skip
    res = spectrum(
        model, data, top_k=spec.top_k, trace_probes=probes, density=spec.density, mask=mask,
        eigenvectors=_keeps_vectors(spec), density_steps=spec.density_steps,
        density_probes=spec.density_probes, density_bins=spec.density_bins,
        sigma_squared=spec.sigma_squared, **common,
    )  # fmt: skip
    groups = []
    if spec.groups or spec.params:
        for name, names in selected_groups(model, spec.groups, spec.params).items():
            kept = _kept(model, names, mask)
            if kept == 0:  # a layer pruned away entirely has no Hessian block left
                groups.append({"group": name, "params": names, "num_kept": 0, "eigenvalues": [],
                               "trace": None, "trace_stderr": None})  # fmt: skip
                continue
            # the exact trace of a block sums the whole network's diagonal (no recomputation)
            g = spectrum(model, data, top_k=min(spec.top_k, kept), trace_probes=probes, mask=mask,
                         params=names, diagonal=res.diagonal, **common)  # fmt: skip
            groups.append({"group": name, "params": names, **g.to_dict(arrays=False)})
    record = res.to_dict()
    record["groups"] = groups
    arrays: dict[str, np.ndarray] = {"eigenvalues": res.eigenvalues,
                                     "eigen_residuals": res.eigen_residuals}  # fmt: skip
    if res.trace_samples is not None:
        arrays["trace_samples"] = res.trace_samples
    if res.density is not None:
        arrays.update(density_grid=res.density_grid, density=res.density,
                      slq_nodes=res.quadrature.nodes, slq_weights=res.quadrature.weights)  # fmt: skip
    return record, arrays, res


def selected_groups(model: nn.Module, by: str, regex: str) -> dict[str, list[str]]:
    """The parameter groups of ``--per-layer``/``--per-block`` (``by``), then the group of
    the parameters whose names match ``regex`` (``re.search``), named ``/regex/``.

    Raises:
        ValueError: ``regex`` matches no trainable parameter (the message lists some).
    """
    groups = param_groups(model, by) if by else {}
    if regex:
        names = [n for n, p in model.named_parameters() if p.requires_grad]
        chosen = [n for n in names if re.search(regex, n)]
        if not chosen:
            raise ValueError(
                f"--params {regex!r} matches no parameter; the names are "
                f"{', '.join(names[:8])}{', ...' if len(names) > 8 else ''}"
            )
        groups[f"/{regex}/"] = chosen
    return groups


def _kept(model: nn.Module, names: Sequence[str], mask: Mapping[str, Tensor] | None) -> int:
    params = dict(model.named_parameters())
    return sum(
        int(mask[n].sum()) if mask is not None and n in mask else params[n].numel() for n in names
    )


_CURVATURE_NAMES = {"hessian": "Hessian", "ggn": "generalised Gauss-Newton matrix",
                    "fisher": "empirical Fisher"}  # fmt: skip
_TRACE_NAMES = {"hutchinson": "Hutchinson", "hutchpp": "Hutch++", "exact": "exact diagonal"}


def _trace_how(s: Mapping[str, Any], products: int) -> str:
    """``"Hutch++, 99 products"`` or ``"exact diagonal"`` (no products, no error)."""
    method = s.get("trace_method", "hutchinson")
    return _TRACE_NAMES[method] + ("" if method == "exact" else f", {products} products")


def _matrix(settings: Mapping[str, Any]) -> str:
    """The curvature matrix a result measures, in words (Hessian unless asked otherwise)."""
    return _CURVATURE_NAMES[settings.get("curvature", "hessian")]


def _upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def _level_report(rec: Mapping[str, Any]) -> str:
    s = rec["settings"]
    lines = [f"# {_upper(_matrix(s))} spectrum — {rec['title']}", "",
             f"Training-loss {_matrix(s)} over {rec['num_samples']} {s['split']} samples (fixed, unaugmented, "
             f"BatchNorm in eval mode), {s['dtype']}, "
             + ("restricted to the kept weights (m ⊙ H ⊙ m)." if s["masked"] else "all parameters."),
             ""]  # fmt: skip
    rows: list[tuple[str, Any]] = [
        ("parameters", rec["num_params"]),
        (
            "operator dimension: "
            + ("kept parameters, biases included" if s["masked"] else "all parameters"),
            rec["num_kept"],
        ),
    ]
    if rec.get("weights_remaining") is not None:
        rows.append(("density (prunable weights remaining)", f"{rec['weights_remaining']:.4f}"))
    rows += [(f"λ_{i + 1}", sig(v)) for i, v in enumerate(rec["eigenvalues"])]
    if rec["eigenvalues"]:
        rows.append(
            ("eigenvalues converged (rel. tol)", f"{rec['eigen_converged']} ({s['tol']:g})")
        )
    if rec["trace"] is not None:
        rows.append((f"trace ({_trace_how(s, rec['trace_probes'])})",
                     plus_minus(rec["trace"], rec["trace_stderr"])))  # fmt: skip
    hv, sec = rec["hvp_count"], rec["seconds"]
    rows += [(f"{stage}: HVPs / seconds", f"{hv[stage]} / {sec[stage]:.2f}")
             for stage in ("eigenvalues", "trace", "density") if stage in hv]  # fmt: skip
    rows.append(("total: HVPs / seconds", f"{hv['total']} / {sec['total']:.2f}"))
    rows.append(("HVP method", rec["hvp_method"]))
    lines += [format_table(("quantity", "value"), rows, markdown=True), ""]
    if rec.get("density") is not None:
        lines += ["![spectral density](density.png)", ""]
    if rec.get("groups"):
        lines += [f"## Per {s['groups'] or 'group'}", ""]
        lines += [format_table(group_headers(rec), group_rows(rec), markdown=True),
                  "", "![per-group curvature](layers.png)", ""]  # fmt: skip
    lines += ["Settings: `" + json.dumps(s, sort_keys=True) + "`", ""]
    return "\n".join(lines)


def dimension_header(masked: bool) -> str:
    """The column of the operator's dimension, named by what it counts: every parameter,
    or (``--masked``) the parameters the mask keeps, biases and other unpruned tensors
    included (``bound``'s "kept prunable weights" leaves those out)."""
    return "dim: kept params" if masked else "dim: all params"


def summary_rows(records: Sequence[Mapping[str, Any]], k: int) -> list[tuple]:
    """One row per result: level, density, dimension, λ_1..λ_k, trace, HVPs, seconds."""
    rows = []
    for r in records:
        eig = [sig(v) for v in r["eigenvalues"]] + ["—"] * (k - len(r["eigenvalues"]))
        rows.append((r["level"] if r.get("level") is not None else r["title"],
                     "—" if r.get("weights_remaining") is None else f"{r['weights_remaining']:.4f}",
                     r["num_kept"], *eig[:k], plus_minus(r["trace"], r["trace_stderr"]),
                     r["hvp_count"]["total"], f"{r['seconds']['total']:.1f}"))  # fmt: skip
    return rows


def group_headers(rec: Mapping[str, Any]) -> tuple[str, ...]:
    """The headers of :func:`group_rows`."""
    return (rec["settings"]["groups"] or "group", dimension_header(rec["settings"]["masked"]), "λ_max",
            "trace ± s.e.")  # fmt: skip


def group_rows(rec: Mapping[str, Any]) -> list[tuple]:
    """One row per layer or block of a result with ``groups``."""
    return [(g["group"] or "(root)", g["num_kept"],
             sig(g["eigenvalues"][0]) if g["eigenvalues"] else "—",
             plus_minus(g["trace"], g["trace_stderr"])) for g in rec["groups"]]  # fmt: skip


def summary_text(res: Result, k: int) -> str:
    """The printed summary of a hessian result: a row per level, and the per-group table."""
    records = [c.record for c in res.children] or [res.record]
    masked = records[0]["settings"]["masked"]
    lines = ["", format_table(summary_headers(k, masked), summary_rows(records, k))]
    if res.children:
        lines.append(f"across levels → {res.folder}")
    elif res.record.get("groups"):
        lines += ["", format_table(group_headers(res.record), group_rows(res.record))]
    return "\n".join(lines)


def summary_headers(k: int, masked: bool = False) -> tuple[str, ...]:
    """The headers of :func:`summary_rows` (density: the prunable weights' remaining share)."""
    return ("level", "density", dimension_header(masked), *(f"λ_{i + 1}" for i in range(k)),
            "trace ± s.e.", "HVPs", "seconds")  # fmt: skip


def _summary(first: Checkpoint, spec: HessianSpec, results: Sequence[Result]) -> Result:
    from landscape.plotting.hessian import plot_layer_levels, plot_levels, plot_overlap

    run = first.run
    records = [r.record for r in results]
    levels = [r["level"] for r in records]
    settings = {**spec.hashed("levels"), "kind": "hessian-levels", "levels": levels}
    if spec.overlap:
        settings["overlap"] = True
    folder = paths.analysis_dir(run.path, levels[0], "hessian-levels", digest(settings))
    keep = ("level", "weights_remaining", "num_params", "num_kept", "num_samples", "eigenvalues",
            "eigen_converged", "trace", "trace_stderr", "trace_probes", "hvp_count", "seconds",
            "hvp_method")  # fmt: skip
    rows = [{k: r.get(k) for k in keep} for r in records]
    for row, r in zip(rows, records):
        if r.get("groups"):
            row["groups"] = [{k: g.get(k) for k in ("group", "num_kept", "eigenvalues", "trace",
                                                    "trace_stderr")} for g in r["groups"]]  # fmt: skip
    record = {"kind": "hessian-levels", "title": f"{run.path.name}: {_matrix(settings)} across levels",
              "run": str(run.path), "settings": settings, "levels": rows, **stamp()}  # fmt: skip
    arrays: dict[str, np.ndarray] = {}
    # rank 0 alone writes, and alone reads the levels' eigenvectors back
    overlap = spec.overlap and distributed.is_primary()
    if overlap:
        over = hessian_overlap(results)
        arrays = {f"overlap_{k}": v for k, v in over.items()}
        record["overlap"] = {k: _nan_free(v) for k, v in over.items()}
        record["overlap"]["successive"] = [
            _num(over["overlap"][i, i + 1]) for i in range(len(results) - 1)
        ]
    k, s = spec.top_k, records[0]["settings"]
    md = [f"# {_upper(_matrix(s))} spectrum across levels — {run.path.name}", "",
          f"Training-loss {_matrix(s)} over {records[0]['num_samples']} {s['split']} samples, {s['dtype']}, "
          + ("kept weights only (m ⊙ H ⊙ m)" if s["masked"] else "all parameters")
          + f"; top-{k} by Lanczos (rel. tol {s['tol']:g})"
          + (f", trace by {_trace_how(s, s['trace_probes'])}" if s["trace_probes"] else "")
          + ".", "",
          format_table(summary_headers(k, s["masked"]), summary_rows(records, k), markdown=True), "",
          "![top eigenvalue and trace against sparsity](levels.png)", ""]  # fmt: skip
    has_groups = any(r.get("groups") for r in rows)
    if has_groups:
        md += [f"## Per {s.get('groups') or 'group'}, against the level", "",
               format_table(*_group_table(rows, s["masked"]), markdown=True), "",
               "![per-group top eigenvalue and trace against sparsity](layers.png)", ""]  # fmt: skip
    if overlap:
        md += _overlap_md(record)
    md += ["Settings: `" + json.dumps(settings, sort_keys=True) + "`", ""]
    with Writer(folder) as w:
        w.figure("levels.png", lambda: plot_levels(record))
        if has_groups:
            w.figure("layers.png", lambda: plot_layer_levels(record))
        if overlap:
            w.figure("overlap.png", lambda: plot_overlap(record))
        if arrays:
            w.arrays(arrays)
        w.text("report.md", "\n".join(md))
        done = w.finish(record)
    return Result(done.record, done.folder, children=tuple(results))


def _num(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def _nan_free(a: np.ndarray) -> list[list[float | None]]:
    return [[_num(v) for v in row] for row in a]


def _group_table(
    rows: Sequence[Mapping[str, Any]], masked: bool
) -> tuple[tuple[str, ...], list[tuple]]:
    """Headers and rows of the per-group table across levels: a row per (level, group)."""
    out = []
    for r in rows:
        remaining = r.get("weights_remaining")
        for g in r.get("groups") or []:
            out.append((r["level"], "—" if remaining is None else f"{remaining:.4f}",
                        g["group"] or "(root)", g["num_kept"],
                        sig(g["eigenvalues"][0]) if g["eigenvalues"] else "—",
                        plus_minus(g["trace"], g["trace_stderr"])))  # fmt: skip
    return ("level", "density", "group", dimension_header(masked), "λ_max", "trace ± s.e."), out


def _overlap_md(record: Mapping[str, Any]) -> list[str]:
    over, rows = record["overlap"], record["levels"]
    names = [str(r["level"]) for r in rows]
    cells = [(names[i], *("—" if v is None else f"{v:.3f}" for v in row))
             for i, row in enumerate(over["overlap"])]  # fmt: skip
    return ["## Overlap of the top-k eigenspaces", "",
            "‖Q_iᵀ Q_j‖²_F / k: the mean squared cosine of the principal angles between the "
            "top-k eigenspaces of levels i and j, on the weights both keep (1: the same "
            "subspace; two random subspaces give k / kept).", "",
            format_table(("level", *names), cells, markdown=True), "",
            "![overlap of the top-k eigenspaces across levels](overlap.png)", ""]  # fmt: skip


def load_eigenvectors(
    result: Result | str | Path,
) -> tuple[list[dict[str, Tensor]], dict[str, Tensor] | None]:
    """The eigenvectors a hessian result saved (``--eigenvectors`` or ``--overlap``) and the
    mask of the weights its network keeps (``None`` where it had none).

    Raises:
        LandscapeError: the result saved no eigenvectors.
    """
    folder = result.folder if isinstance(result, Result) else Path(result)
    if folder.name == "result.json":
        folder = folder.parent
    path = folder / "eigenvectors.safetensors"
    if not path.exists():
        raise LandscapeError(
            f"{folder} has no eigenvectors.safetensors: re-run `landscape hessian` with "
            "--eigenvectors (or --overlap) for it"
        )
    vectors: dict[int, dict[str, Tensor]] = {}
    inline: dict[str, Tensor] = {}  # an early format kept the mask here as "mask/<name>"
    for key, t in load_state(path).items():
        head, _, name = key.partition("/")
        if head == "mask":
            inline[name] = t.bool()
        else:
            vectors.setdefault(int(head), {})[name] = t
    mask = inline or None
    if (folder / "mask.safetensors").exists():
        mask = {n: m.bool() for n, m in load_state(folder / "mask.safetensors").items()}
    return [vectors[i] for i in sorted(vectors)], mask


def hessian_overlap(results: Sequence[Result | str | Path]) -> dict[str, np.ndarray]:
    """The overlap of the top-k eigenspaces of every pair of hessian results (docs/science.md).

    The results may belong to any runs of one architecture (successive levels of a run,
    or e.g. SWAMP's and IMP-WR's solutions at the same sparsity); each must have saved its
    eigenvectors. Each pair is compared on the weights both networks keep
    (:func:`~landscape.analysis.hessian.overlap.eigenspace_overlap`).

    Returns:
        ``{"overlap", "raw", "chance": n × n arrays}``.

    Example:
        >>> from landscape.specs import HessianSpec
        >>> a = hessian("runs/swamp_ab12", HessianSpec(eigenvectors=True), levels=[4])
        >>> b = hessian("runs/imp-wr_cd34", HessianSpec(eigenvectors=True), levels=[4])
        >>> hessian_overlap([a, b])["overlap"][0, 1]  # doctest: +SKIP
    """
    loaded = [load_eigenvectors(r) for r in results]
    return overlap_matrix([v for v, _ in loaded], [m for _, m in loaded])
