"""``landscape hessian CKPT_OR_RUN_DIR``: the Hessian spectrum report (SPEC §5).

Top-k eigenvalues (Lanczos), the trace ± standard error (Hutchinson) and the
spectral density (stochastic Lanczos quadrature) of the training loss over a fixed
subset of the training split (the first ``--samples``, no augmentation, BatchNorm
in eval mode), optionally per layer and restricted to the kept weights of the
level's mask. Each level's result goes to
``level_NN/analysis/hessian_<hash>/`` as ``result.json`` + ``result.npz`` +
``report.md`` + ``density.png``; with ``--all-levels`` a summary across levels
(``hessian-levels_<hash>/`` in the first level's analysis folder) adds the top
eigenvalue and trace against sparsity. The hash covers every setting that changes
the numbers, so re-running the same command reuses finished levels.

A user's own model: ``landscape hessian model.pt --model pkg.module:factory --data
mnist1d`` (a state dict of tensors; ``--mask FILE`` for ``--masked``).
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from landscape import paths
from landscape.analysis.hessian import METHODS, Spectrum, param_groups, spectrum
from landscape.checkpoint import (
    atomic_write_text,
    check_state_fits,
    load_state,
    save_json,
    save_state,
)
from landscape.cli._common import format_table, progress
from landscape.cli._results import (
    existing_result,
    file_digest,
    save_figure,
    settings_digest,
    stamp,
    write_result,
)
from landscape.data import load_data
from landscape.devices import configure_threads, resolve_device
from landscape.errors import CheckpointError, LandscapeError
from landscape.models import create_model
from landscape.pruning import check_mask
from landscape.pruning import density as mask_density
from landscape.runs import Run, open_run

VERB = "hessian"
HELP = "Hessian spectrum of the training loss: top eigenvalues, trace, density (SPEC §5)"
DESCRIPTION = __doc__.split("\n\n", 1)[1].replace("``", "")
ORDER = 60

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "ckpt", metavar="CKPT_OR_RUN_DIR",
        help="a run directory, a level_NN directory, a weights file in a run directory, or a "
        "state-dict file with --model and --data",
    )  # fmt: skip
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--level", type=int, default=None, metavar="L",
                       help="level of a run directory (default: the last trained one)")  # fmt: skip
    which.add_argument("--all-levels", action="store_true",
                       help="every trained level, plus top eigenvalue and trace against sparsity")  # fmt: skip
    g = parser.add_argument_group("what to compute")
    g.add_argument("--top-k", type=int, default=5, metavar="K",
                   help="top eigenvalues by Lanczos (0: skip; default 5)")  # fmt: skip
    g.add_argument("--trace", action="store_true", help="Hutchinson trace ± standard error")
    g.add_argument("--probes", type=int, default=100, metavar="N",
                   help="Rademacher probes of the trace (default 100)")  # fmt: skip
    g.add_argument("--density", action="store_true",
                   help="spectral density by stochastic Lanczos quadrature")  # fmt: skip
    g.add_argument("--density-steps", type=int, default=100, metavar="M",
                   help="Lanczos steps per density probe (default 100, as PyHessian)")  # fmt: skip
    g.add_argument("--density-probes", type=int, default=1, metavar="N",
                   help="density probes averaged (default 1, as PyHessian)")  # fmt: skip
    g.add_argument("--density-bins", type=int, default=1000, metavar="B",
                   help="grid points of the density (default 1000)")  # fmt: skip
    g.add_argument("--sigma-squared", type=float, default=1e-5, metavar="X",
                   help="Gaussian kernel variance relative to the spectrum's width (default 1e-5)")  # fmt: skip
    g.add_argument("--per-layer", action="store_true",
                   help="also the top-k (and trace) of each layer's own Hessian block")  # fmt: skip
    g.add_argument("--per-block", action="store_true",
                   help="also per top-level block (e.g. a ResNet stage) instead of per layer")  # fmt: skip
    g.add_argument("--masked", action="store_true",
                   help="restrict to the kept weights of the level's mask: m ⊙ H ⊙ m")  # fmt: skip
    g.add_argument("--eigenvectors", action="store_true",
                   help="also save the top-k eigenvectors (eigenvectors.safetensors)")  # fmt: skip
    d = parser.add_argument_group("data and accuracy")
    d.add_argument("--samples", type=int, default=4096, metavar="N",
                   help="the first N samples of the split (fixed, unaugmented; default 4096; 0: all)")  # fmt: skip
    d.add_argument("--split", choices=("train", "test"), default="train",
                   help="whose loss (default train)")  # fmt: skip
    d.add_argument("--tol", type=float, default=1e-3, metavar="X",
                   help="relative error bound of the eigenvalues (default 1e-3)")  # fmt: skip
    d.add_argument("--max-steps", type=int, default=100, metavar="M",
                   help="the most Lanczos steps for the eigenvalues (default 100)")  # fmt: skip
    d.add_argument("--which", choices=("largest", "smallest", "magnitude"), default="largest",
                   help="which end of the spectrum --top-k means (default largest)")  # fmt: skip
    d.add_argument("--seed", type=int, default=0, help="seed of the random vectors (default 0)")
    d.add_argument("--dtype", choices=sorted(_DTYPES), default="float32",
                   help="precision of the products (default float32)")  # fmt: skip
    e = parser.add_argument_group("speed (same numbers)")
    e.add_argument("--hvp", choices=METHODS, default="auto",
                   help="Hessian-vector products: cached graph, double backward, forward-over-reverse, "
                   "or auto (measure; default)")  # fmt: skip
    e.add_argument("--chunk-size", type=int, default=0, metavar="N",
                   help="samples per pass (default 0: automatic by device)")  # fmt: skip
    e.add_argument("--memory-gb", type=float, default=0.0, metavar="GB",
                   help="memory the cached graph may take (default 0: 40%% of free memory)")  # fmt: skip
    e.add_argument(
        "--device", default="auto", help="cpu, cuda, cuda:N or auto (default: the run's)"
    )
    e.add_argument("--threads", type=int, default=0, metavar="N",
                   help="CPU threads for torch (default 0: auto, 1 for models under 100k parameters)")  # fmt: skip
    u = parser.add_argument_group("a user's own model (a bare state-dict checkpoint)")
    u.add_argument("--model", default="", help="model name or package.module:factory")
    u.add_argument("--data", default="", help="data set for the model's input shape and the loss")
    u.add_argument("--data-root", default="", help="where the data set is cached or found")
    u.add_argument("--mask", default="", help="mask file (safetensors/torch) for --masked")
    u.add_argument("--out", default="", help="output folder (default: beside the checkpoint)")
    parser.add_argument("--force", action="store_true", help="recompute even if the result exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


# --------------------------------------------------------------------------- targets


@dataclass
class _Target:
    """One network to analyse: its state, mask, where results go, and how it is named."""

    label: str
    ident: str  # what the weights are, in the hashed settings
    state: dict[str, Tensor]
    mask: dict[str, Tensor] | None
    folder_for: Any  # digest -> Path
    level: int | None = None


def _targets(args: argparse.Namespace) -> tuple[nn.Module, Any, list[_Target], Run | None]:
    """The model skeleton, the data set, and the networks named by CKPT and --level."""
    p = Path(args.ckpt)
    if args.model:
        return _bare_target(args, p)
    if p.is_file():
        run_dir = next((q for q in p.parents if paths.config(q).exists()), None)
        if run_dir is None:
            raise LandscapeError(
                f"{p} is not inside a run directory, so its architecture is unknown; pass "
                "--model (name or package.module:factory) and --data for a bare state dict"
            )
        if args.all_levels or args.level is not None:
            raise ValueError(
                "--level/--all-levels select levels of a run directory; pass the run directory"
            )
        run = open_run(run_dir, args.device)
        level = (
            int(p.parent.name[6:])
            if p.parent.name[6:].isdigit() and p.parent.name.startswith("level_")
            else None
        )
        mask = run.mask(level) if (args.masked and level is not None) else None
        if args.masked and level is None:
            raise LandscapeError(f"{p} is not in a level folder, so it has no mask; drop --masked")
        rel = p.relative_to(run_dir).as_posix()

        folder = functools.partial(paths.result_dir, run_dir, level, "hessian")
        return run.model(), run.data, [_Target(rel, rel, run.load(p), mask, folder, level)], run
    if p.is_dir() and p.name.startswith("level_") and not paths.config(p).exists():
        if args.all_levels or args.level is not None:
            raise ValueError(
                f"{p} is one level already; pass its run directory {p.parent} for --level/--all-levels"
            )
        run, levels = open_run(p.parent, args.device), [int(p.name[6:])]
    else:
        run = open_run(p, args.device)
        have = run.levels()
        if not have:
            raise CheckpointError(f"{p} has no trained level yet; run the runner first")
        if args.all_levels:
            levels = have
        elif args.level is not None:
            if args.level not in have:
                raise LandscapeError(
                    f"level {args.level} has no weights in {p} (trained levels: {have}); pick one of them"
                )
            levels = [args.level]
        else:
            levels = [have[-1]]
    targets = [
        _Target(
            f"level {lv}", paths.weights(run.path, lv).relative_to(run.path).as_posix(),
            run.weights(lv), run.mask(lv) if args.masked else None,
            (lambda d, lv=lv: paths.analysis_dir(run.path, lv, "hessian", d)), lv,
        )
        for lv in levels
    ]  # fmt: skip
    return run.model(), run.data, targets, run


def _bare_target(args: argparse.Namespace, p: Path):
    if not args.data:
        raise LandscapeError(
            "--model needs --data too: the data set gives the model its input shape and classes "
            "and the loss its samples (e.g. --data mnist1d)"
        )
    if not p.is_file():
        raise CheckpointError(f"{p} is not a file; pass a state-dict checkpoint with --model")
    if args.all_levels or args.level is not None:
        raise ValueError("--level/--all-levels need a run directory, not a bare checkpoint")
    device = resolve_device(args.device)
    data = load_data(args.data, args.data_root, device=str(device))
    model = create_model(args.model, data.in_shape, data.num_classes).to(device)
    state = load_state(p, device)
    check_state_fits(state, model.state_dict(), p)
    mask = None
    if args.masked:
        if not args.mask:
            raise LandscapeError("a bare checkpoint has no mask: pass --mask FILE with --masked")
        mask = {k: v.bool() for k, v in load_state(Path(args.mask), device).items()}
        check_mask(mask, model, args.mask)
    ident = f"{p.name}@{file_digest(p)}|model={args.model}|data={args.data}"
    if args.mask:
        ident += f"|mask={file_digest(Path(args.mask))}"
    out = Path(args.out) if args.out else p.parent / f"{p.stem}_analysis"
    return model, data, [_Target(p.name, ident, state, mask, lambda d: out / f"hessian_{d}")], None


# --------------------------------------------------------------------------- settings


def _check(args: argparse.Namespace) -> None:
    for name in ("top_k", "samples", "chunk_size", "threads"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be ≥ 0, got {getattr(args, name)}")
    for name in ("probes", "density_steps", "density_probes", "max_steps"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be ≥ 1, got {getattr(args, name)}")
    if args.density_bins < 2:
        raise ValueError(f"--density-bins must be ≥ 2, got {args.density_bins}")
    if args.tol <= 0 or args.sigma_squared <= 0:
        raise ValueError("--tol and --sigma-squared must be positive")
    if args.per_layer and args.per_block:
        raise ValueError("choose one of --per-layer and --per-block")
    if not (args.top_k or args.trace or args.density):
        raise ValueError("nothing to compute: ask for --top-k K, --trace or --density")
    if args.mask and not args.model:
        raise ValueError(
            "--mask is for bare checkpoints (with --model); a run's levels have their masks"
        )


def _settings(args: argparse.Namespace, ident: str) -> dict[str, Any]:
    """Every setting that changes the numbers (hashed into the folder name, recorded)."""
    return {
        "kind": "hessian", "weights": ident, "split": args.split, "samples": args.samples,
        "masked": args.masked, "top_k": args.top_k, "tol": args.tol, "max_steps": args.max_steps,
        "which": args.which, "trace_probes": args.probes if args.trace else 0,
        "density": {"steps": args.density_steps, "probes": args.density_probes,
                    "bins": args.density_bins, "sigma_squared": args.sigma_squared}
        if args.density else None,
        "groups": "layer" if args.per_layer else "block" if args.per_block else None,
        "seed": args.seed, "dtype": args.dtype, "eigenvectors": args.eigenvectors,
        "loss": "cross_entropy", "bn_mode": "eval",
    }  # fmt: skip


def _analyse(
    args: argparse.Namespace, model: nn.Module, data: tuple[Tensor, Tensor], t: _Target, bar
) -> tuple[dict[str, Any], dict[str, np.ndarray], Spectrum]:
    dtype = _DTYPES[args.dtype]
    model.load_state_dict(t.state)
    model.to(dtype)
    common = {
        "seed": args.seed, "tol": args.tol, "max_steps": args.max_steps, "which": args.which,
        "chunk_size": args.chunk_size or None, "method": args.hvp,
        "memory_budget": int(args.memory_gb * 2**30) or None, "progress": bar.update,
    }  # fmt: skip
    res = spectrum(
        model, data, top_k=args.top_k, trace_probes=args.probes if args.trace else 0,
        density=args.density, mask=t.mask, eigenvectors=args.eigenvectors,
        density_steps=args.density_steps, density_probes=args.density_probes,
        density_bins=args.density_bins, sigma_squared=args.sigma_squared, **common,
    )  # fmt: skip
    groups = []
    by = "layer" if args.per_layer else "block" if args.per_block else None
    if by:
        for name, names in param_groups(model, by).items():
            kept = _kept(model, names, t.mask)
            if kept == 0:  # a layer pruned away entirely has no Hessian block left
                groups.append({"group": name, "params": names, "num_kept": 0, "eigenvalues": [],
                               "trace": None, "trace_stderr": None})  # fmt: skip
                continue
            g = spectrum(
                model, data, top_k=min(args.top_k, kept),
                trace_probes=args.probes if args.trace else 0, mask=t.mask, params=names, **common,
            )  # fmt: skip
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


def _kept(model: nn.Module, names: Sequence[str], mask: Mapping[str, Tensor] | None) -> int:
    params = dict(model.named_parameters())
    return sum(
        int(mask[n].sum()) if mask is not None and n in mask else params[n].numel() for n in names
    )


# --------------------------------------------------------------------------- output


def _fmt_pm(value: float | None, err: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.5g} ± {err:.2g}" if err is not None else f"{value:.5g}"


def _level_report(rec: Mapping[str, Any]) -> str:
    s = rec["settings"]
    lines = [f"# Hessian spectrum — {rec['title']}", "",
             f"Training-loss Hessian over {rec['num_samples']} {s['split']} samples (fixed, unaugmented, "
             f"BatchNorm in eval mode), {s['dtype']}, "
             + ("restricted to the kept weights (m ⊙ H ⊙ m)." if s["masked"] else "all parameters."),
             ""]  # fmt: skip
    rows = [
        ("parameters", rec["num_params"]),
        ("kept coordinates (operator dimension)", rec["num_kept"]),
    ]
    if rec.get("weights_remaining") is not None:
        rows.append(("prunable weights remaining", f"{100 * rec['weights_remaining']:.2f}%"))
    for i, v in enumerate(rec["eigenvalues"]):
        rows.append((f"λ_{i + 1}", f"{v:.6g}"))
    if rec["eigenvalues"]:
        rows.append(
            ("eigenvalues converged (rel. tol)", f"{rec['eigen_converged']} ({s['tol']:g})")
        )
    if rec["trace"] is not None:
        rows.append(
            (f"trace ({rec['trace_probes']} probes)", _fmt_pm(rec["trace"], rec["trace_stderr"]))
        )
    hv, sec = rec["hvp_count"], rec["seconds"]
    for stage in ("eigenvalues", "trace", "density"):
        if stage in hv:
            rows.append((f"{stage}: HVPs / seconds", f"{hv[stage]} / {sec[stage]:.2f}"))
    rows.append(("total: HVPs / seconds", f"{hv['total']} / {sec['total']:.2f}"))
    rows.append(("HVP method", rec["hvp_method"]))
    lines += [format_table(("quantity", "value"), rows, markdown=True), ""]
    if rec.get("density") is not None:
        lines += ["![spectral density](density.png)", ""]
    if rec.get("groups"):
        lines += [f"## Per {s['groups']}", ""]
        grows = [(g["group"] or "(root)", g["num_kept"],
                  f"{g['eigenvalues'][0]:.5g}" if g["eigenvalues"] else "—",
                  _fmt_pm(g["trace"], g["trace_stderr"])) for g in rec["groups"]]  # fmt: skip
        lines += [format_table((s["groups"], "kept", "λ_max", "trace ± s.e."), grows, markdown=True),
                  "", "![per-group curvature](layers.png)", ""]  # fmt: skip
    lines += ["Settings: `" + json.dumps(s, sort_keys=True) + "`", ""]
    return "\n".join(lines)


def _summary_rows(records: Sequence[Mapping[str, Any]], k: int) -> list[tuple]:
    rows = []
    for r in records:
        eig = [f"{v:.5g}" for v in r["eigenvalues"]] + ["—"] * (k - len(r["eigenvalues"]))
        rows.append((r["level"] if r.get("level") is not None else r["title"],
                     "—" if r.get("weights_remaining") is None else f"{100 * r['weights_remaining']:.2f}",
                     r["num_kept"], *eig[:k], _fmt_pm(r["trace"], r["trace_stderr"]),
                     r["hvp_count"]["total"], f"{r['seconds']['total']:.1f}"))  # fmt: skip
    return rows


def _headers(k: int) -> tuple[str, ...]:
    return (
        "level",
        "remaining %",
        "kept",
        *(f"λ_{i + 1}" for i in range(k)),
        "trace ± s.e.",
        "HVPs",
        "s",
    )


def run(args: argparse.Namespace) -> int:
    _check(args)
    from landscape.plotting.hessian import plot_density, plot_layers, plot_levels

    model, dataset, targets, run_ = _targets(args)
    params = list(model.parameters())
    configure_threads(params[0].device, sum(p.numel() for p in params), args.threads)
    data = dataset.tensors(args.split, args.samples)
    name = run_.path.name if run_ is not None else Path(args.ckpt).name
    records = []
    with progress(total=None, desc="HVPs", unit="hvp", disable=True if args.quiet else None) as bar:
        for t in targets:
            settings = _settings(args, t.ident)
            folder = t.folder_for(settings_digest(settings))
            done = existing_result(folder, args.force, settings)
            if done is not None:
                records.append(done)
                continue
            bar.set_description(f"HVPs ({t.label})")
            record, arrays, res = _analyse(args, model, data, t, bar)
            remaining = mask_density(t.mask) if t.mask is not None else None
            if remaining is None and run_ is not None and t.level is not None:
                remaining = mask_density(run_.mask(t.level))
            record = {"kind": "hessian", "title": f"{name}: {t.label}", "run": str(run_.path) if run_ else None,
                      "level": t.level, "weights_remaining": remaining, **record,
                      "settings": settings, "engine": record["settings"], **stamp()}  # fmt: skip
            if args.eigenvectors and res.eigenvectors:
                save_state(folder / "eigenvectors.safetensors",
                           {f"{i}/{n}": v for i, vec in enumerate(res.eigenvectors) for n, v in vec.items()})  # fmt: skip
            folder.mkdir(parents=True, exist_ok=True)
            if record.get("density") is not None:
                save_figure(plot_density(record)[0], folder / "density.png")
            if record["groups"]:
                save_figure(plot_layers(record)[0], folder / "layers.png")
            atomic_write_text(folder / "report.md", _level_report(record))
            write_result(folder, record, arrays)
            records.append(record)
            print(f"{t.label}: {record['hvp_count']['total']} HVPs in {record['seconds']['total']:.1f}s "
                  f"({record['hvp_method']}) → {folder}")  # fmt: skip
    k = args.top_k
    print()
    print(format_table(_headers(k), _summary_rows(records, k)))
    if len(records) > 1 and run_ is not None:
        summary = _write_summary(args, run_, records, plot_levels)
        print(f"across levels → {summary}")
    if len(records) == 1 and records[0].get("groups"):
        rec = records[0]
        print()
        print(format_table((rec["settings"]["groups"], "kept", "λ_max", "trace ± s.e."),
                           [(g["group"] or "(root)", g["num_kept"],
                             g["eigenvalues"][0] if g["eigenvalues"] else "—",
                             _fmt_pm(g["trace"], g["trace_stderr"])) for g in rec["groups"]]))  # fmt: skip
    return 0


def _write_summary(
    args: argparse.Namespace, run_: Run, records: Sequence[Mapping[str, Any]], plot_levels
) -> Path:
    levels = [r["level"] for r in records]
    settings = {**_settings(args, "levels"), "kind": "hessian-levels", "levels": levels}
    folder = paths.analysis_dir(run_.path, levels[0], "hessian-levels", settings_digest(settings))
    keep = ("level", "weights_remaining", "num_params", "num_kept", "num_samples", "eigenvalues",
            "eigen_converged", "trace", "trace_stderr", "trace_probes", "hvp_count", "seconds", "hvp_method")  # fmt: skip
    rows = [{k: r.get(k) for k in keep} for r in records]
    record = {"kind": "hessian-levels", "title": f"{run_.path.name}: Hessian across levels",
              "run": str(run_.path), "settings": settings, "levels": rows, **stamp()}  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    save_figure(plot_levels(record)[0], folder / "levels.png")
    k = args.top_k
    s = records[0]["settings"]
    md = [f"# Hessian spectrum across levels — {run_.path.name}", "",
          f"Training-loss Hessian over {records[0]['num_samples']} {s['split']} samples, {s['dtype']}, "
          + ("kept weights only (m ⊙ H ⊙ m)" if s["masked"] else "all parameters")
          + f"; top-{k} by Lanczos (rel. tol {s['tol']:g})"
          + (f", trace by Hutchinson ({s['trace_probes']} probes)" if s["trace_probes"] else "") + ".", "",
          format_table(_headers(k), _summary_rows(records, k), markdown=True), "",
          "![top eigenvalue and trace against sparsity](levels.png)", "",
          "Settings: `" + json.dumps(settings, sort_keys=True) + "`", ""]  # fmt: skip
    atomic_write_text(folder / "report.md", "\n".join(md))
    save_json(folder / "result.json", record)
    return folder
