"""[SWAMP] flatness: the Hessian of SWAMP's solutions against IMP-WR's at matched sparsity.

Takes the IMP-WR and SWAMP runs of ``swamp_vs_imp.py --preset paul-mnist1d --levels 12
--swa-lr 0`` (same seeds, same τ = 40, same pruning fraction, so level L has the same
density in both) and measures, at levels 0, 3, 6, 9 and 12 of every seed, the
training-loss Hessian restricted to the weights the level's mask keeps (m ⊙ H ⊙ m; the
pruned weights are fixed at zero, so only the kept directions are ones the network can
move in): the top eigenvalue (Lanczos) and the trace (Hutchinson, Rademacher probes), on
the first 4096 training samples (unaugmented), BatchNorm in eval mode. For SWAMP the
network measured is the averaged one, the level's solution.

Writes ``figures/swamp_curvature_paul_mnist1d.json`` and ``.png``. Run from the
repository root, after the runs exist (a missing run is trained, ≈ 8 CPU-minutes each):

    python3 analysis_scripts/swamp_curvature_paul_mnist1d.py --root /tmp/swamp_paul
    python3 analysis_scripts/swamp_curvature_paul_mnist1d.py --root RUNS --rewind-step 200 \
        --seeds 0,1,2,3,4 --trace-method exact --name swamp_curvature_paul_mnist1d_tau200
                                          # past the stability onset; the exact trace

Results go to each level's ``analysis/`` folder; a repeated call reuses them.
"""

import dataclasses
import datetime
import statistics
import time
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from safetensors.torch import load_file
from script_args import base_config, command_line, options

from landscape import jobs
from landscape.io import level_metrics, save_json
from landscape.specs import HessianSpec

# ----------------------------------------------------------------------------- settings
PRESET = "paul-mnist1d"
LEVELS = 12  # the runs' levels (as swamp_vs_imp.py --levels 12)
MEASURED = [0, 3, 6, 9, 12]  # levels whose Hessian is measured
SWAMP = dict(method="swamp", particles=4, swa_start=0.75, swa_lr=0.0, particle_mode="vectorized")
SPEC = HessianSpec(top_k=1, trace=True, probes=50, masked=True, samples=4096, threads=1)
NAME = "swamp_curvature_paul_mnist1d"
# ---------------------------------------------------------------------------------------


def weight_norm(run, level):
    """L2 norm of the level's conv and linear weights (the tensors with ≥ 2 dimensions).

    With BatchNorm after them the loss is invariant to their scale and the Hessian in them
    scales with 1/norm², so the norm is recorded next to the curvature.
    """
    w = load_file(Path(run) / f"level_{level:02d}" / "weights.safetensors")
    return float(sum((v.double() ** 2).sum() for v in w.values() if v.dim() >= 2)) ** 0.5


def _extra(parser) -> None:
    parser.add_argument("--rewind-step", default=None, help="τ (default: the preset's, 40)")
    parser.add_argument("--trace-method", default="hutchinson", choices=("hutchinson", "exact"),
                        help="Hutchinson with 50 probes (default), or the exact trace")  # fmt: skip
    parser.add_argument("--name", default=NAME, help=f"record name (default {NAME})")


args = options(__doc__, PRESET, "swamp_vs_imp", extra=_extra)
NAME = args.name
SPEC = (
    SPEC if args.trace_method == "hutchinson" else dataclasses.replace(SPEC, trace_method="exact")
)
seeds, FIGURES = args.seeds, args.figures
t0 = time.time()
base = base_config(args).replace(levels=LEVELS)
if args.rewind_step is not None:
    base = base.replace(rewind_step=args.rewind_step)
res: dict = {"imp-wr": {}, "swamp": {}}
dens = {}
for seed in seeds:
    for method, extra in (("imp-wr", dict(method="imp-wr")), ("swamp", SWAMP)):
        run = jobs.prune(base.replace(seed=seed, data_seed=seed, **extra), root=args.root,
                         quiet=True)  # fmt: skip
        errs = {m["level"]: m["test_error"] for m in level_metrics(run)}
        dens.update({m["level"]: m["density"] for m in level_metrics(run)})
        summary = jobs.hessian(run, SPEC, levels=MEASURED, quiet=True)
        rows = {}
        for child in summary.children:
            r = child.record
            rows[r["level"]] = {"lambda_max": r["eigenvalues"][0], "trace": r["trace"],
                                "trace_stderr": r["trace_stderr"], "test_error": errs[r["level"]],
                                "hvps": r["hvp_count"]["total"],
                                "weight_norm": weight_norm(run, r["level"]),
                                "seconds": r["seconds"]["total"]}  # fmt: skip
        res[method][seed] = rows
        print(f"seed {seed} {method} done ({time.time() - t0:.0f} s)", flush=True)


def stats(method, key, level):
    vals = [res[method][s][level][key] for s in seeds]
    return {"values": vals, "mean": statistics.mean(vals),
            "std": statistics.stdev(vals) if len(vals) > 1 else 0.0}  # fmt: skip


table = []
for level in MEASURED:
    row = {"level": level, "density": dens[level]}
    for method in ("imp-wr", "swamp"):
        for key in ("lambda_max", "trace", "test_error", "weight_norm"):
            row[f"{method}_{key}"] = stats(method, key, level)
    # per-seed ratio SWAMP / IMP-WR (same seed, same density)
    for key in ("lambda_max", "trace"):
        ratios = [res["swamp"][s][level][key] / res["imp-wr"][s][level][key] for s in seeds]
        row[f"ratio_{key}"] = {"values": ratios, "mean": statistics.mean(ratios),
                               "std": statistics.stdev(ratios) if len(ratios) > 1 else 0.0}  # fmt: skip
    table.append(row)

out = {
    "preset": args.preset, "levels_measured": MEASURED, "seeds": seeds, "swamp": SWAMP,
    "hessian": {"top_k": SPEC.top_k, "trace_probes": SPEC.probes if SPEC.trace_method != "exact" else 0, "masked": SPEC.masked,
                "samples": SPEC.samples, "split": SPEC.split, "bn_mode": "eval",
                "tol": SPEC.tol, "seed": SPEC.seed, "trace_method": SPEC.trace_method},
    "rewind_step": base.prune.rewind_step, "test_samples": base.data.test_samples,
    "torch": torch.__version__, "date": datetime.date.today().isoformat(),
    "command": command_line(),
    "table": table, "per_run": {m: {f"seed{s}": {str(k): v for k, v in res[m][s].items()}
                                    for s in seeds} for m in res},
    "seconds": time.time() - t0,
}  # fmt: skip
FIGURES.mkdir(exist_ok=True)
save_json(FIGURES / f"{NAME}.json", out)

fig, axes = plt.subplots(1, 3, figsize=(14, 4))
x = [100 * r["density"] for r in table]
for method, color, label in (("imp-wr", "C3", "IMP-WR"), ("swamp", "C0", "SWAMP (average)")):
    for ax, key in zip(axes, ("lambda_max", "trace", "test_error")):
        m = [r[f"{method}_{key}"]["mean"] for r in table]
        s = [r[f"{method}_{key}"]["std"] for r in table]
        ax.errorbar(x, m, yerr=s, color=color, marker="o", ms=4, capsize=3, label=label)
for ax, lab in zip(axes, ("top Hessian eigenvalue λ_max (kept weights)",
                          "Hessian trace (kept weights, exact)" if SPEC.trace_method == "exact"
                          else f"Hessian trace (kept weights, {SPEC.probes} probes)",
                          "test error")):  # fmt: skip
    ax.set_xscale("log")
    ax.set_xticks([100, 51.2, 26.2, 13.4, 6.9])
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.invert_xaxis()
    ax.set_xlabel("weights remaining (%)")
    ax.set_ylabel(lab)
    ax.legend(frameon=False)
fig.suptitle(f"{args.preset}, τ = {base.prune.rewind_step}: curvature of SWAMP vs IMP-WR at "
             f"matched sparsity, mean ± std over {len(seeds)} seeds (torch {torch.__version__})")  # fmt: skip
fig.tight_layout()
fig.savefig(FIGURES / f"{NAME}.png", dpi=150)
print(f"wrote {FIGURES / NAME}.png in {time.time() - t0:.0f} s")
