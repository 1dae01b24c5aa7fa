"""Sharpness of IMP-WR, IMP-LRR, IMP-FT and SWAMP across sparsity (paul-mnist1d, 3 seeds).

For each seed, four runs of preset ``paul-mnist1d`` (1-D CNN + BN, lr 0.4, τ = 40, 20% a
level): IMP-WR, IMP-LRR and IMP-FT sharing one dense network, and SWAMP (4 particles, SWA
over the last quarter at the rate the schedule has reached, ``--swa-lr 0``, as
``swamp_curvature_paul_mnist1d.py``). At the levels of ``--measure`` (the same density in
every run), ``jobs.sharpness`` (``landscape sharpness RUN --level L``) on the kept weights:

- worst-case rise within ‖δ‖ ≤ ρ (projected gradient ascent from SAM's step),
- average-case rise under Gaussian δ with E‖δ‖² = ρ² (antithetic pairs),
- the same two in adaptive coordinates δ = |w| ⊙ ε (Kwon et al. 2021; Andriushchenko
  et al. 2023), which do not change when a layer in front of BatchNorm is rescaled,

and, with ``--hessian``, ``jobs.hessian`` (top eigenvalue and Hutchinson trace of m ⊙ H ⊙ m)
on the same samples, so that each worst case can be held against ½ λ_max ρ² and each
average against ρ² tr/(2d), the second-order predictions. Mean ± sample std over seeds, and
each method's paired difference from IMP-WR (same seed, same density) with a 95% t-interval.

Writes ``figures/sharpness_paul_mnist1d.json`` and ``.png``. Run from the repository root:

    python3 analysis_scripts/sharpness_paul_mnist1d.py --root /tmp/sharp_paul

The committed figure: levels 0 and 1 of runs trained to level 1 (the defaults), no
``--hessian`` — what a shared 2-core machine allowed in one session. A missing run is trained
first (IMP ≈ 15 s a level, SWAMP ≈ 40 s a level on one free core); results go to each
level's ``analysis/`` folder and a repeated call reuses them. ``--replot`` redraws the figure
from the JSON, computing nothing.
"""

import datetime
import json
import statistics
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter
from script_args import base_config, command_line, options, paired_interval

from landscape import jobs
from landscape.io import file_digest, level_metrics, save_json
from landscape.specs import HessianSpec, SharpnessSpec

# ----------------------------------------------------------------------------- settings
PRESET = "paul-mnist1d"
SWAMP = dict(method="swamp", particles=4, swa_start=0.75, swa_lr=0.0, particle_mode="vectorized")
METHODS = {"imp-wr": dict(method="imp-wr"), "imp-lrr": dict(method="imp-lrr"),
           "imp-ft": dict(method="imp-ft"), "swamp": SWAMP}  # fmt: skip
LABELS = {"imp-wr": "IMP-WR", "imp-lrr": "IMP-LRR", "imp-ft": "IMP-FT", "swamp": "SWAMP"}
# Plain ρ in weight units, adaptive ρ in units of |w|; each measure is drawn at the radius
# where it neither vanishes nor saturates (worst case at the small ρ, average at the large).
SPEC = SharpnessSpec(radii="0.1,1", adaptive_radii="0.05,0.5", pairs=4, steps=8, samples=1024,
                     threads=1)  # fmt: skip
HESSIAN = HessianSpec(top_k=1, trace=True, probes=10, masked=True, samples=1024, threads=1)
DRAWN = (("worst", 0.1, "worst case, ‖δ‖ ≤ 0.1"), ("average", 1.0, "average case, E‖δ‖² = 1"),
         ("adaptive_worst", 0.05, "adaptive worst, ‖δ/|w|‖ ≤ 0.05"),
         ("adaptive_average", 0.5, "adaptive average, E‖δ/|w|‖² = 0.25"))  # fmt: skip
NAME = "sharpness_paul_mnist1d"
# ---------------------------------------------------------------------------------------


def _extra(p):
    p.add_argument("--levels", type=int, default=1, help="levels each run is trained to")
    p.add_argument("--measure", default="0,1", help="levels measured (all runs)")
    p.add_argument("--hessian", action="store_true",
                   help="also λ_max and the trace of m⊙H⊙m at the measured levels")  # fmt: skip
    p.add_argument("--replot", action="store_true",
                   help="redraw the figure from the JSON, computing nothing")  # fmt: skip


args = options(__doc__, PRESET, "sharpness_paul_mnist1d", extra=_extra)
seeds, FIGURES = args.seeds, args.figures
MEASURED = [int(v) for v in args.measure.split(",")]
t0 = time.time()


def compute() -> dict:
    """Train (or reuse) the runs, measure every level, write the JSON."""
    per_run: dict = {m: {} for m in METHODS}
    density: dict = {}
    runs: dict = {}
    for seed in seeds:
        for method, extra in METHODS.items():
            cfg = base_config(args).replace(levels=args.levels, seed=seed, data_seed=seed, **extra)
            run = jobs.prune(cfg, root=args.root, quiet=True)
            runs[f"seed{seed}_{method}"] = str(run)
            metrics = {m["level"]: m for m in level_metrics(run)}
            # IMP-LRR's and IMP-FT's level 0 is IMP-WR's (the shared dense network): measured once
            shared = method in ("imp-lrr", "imp-ft") and 0 in MEASURED
            levels = [lv for lv in MEASURED if not (shared and lv == 0)]
            sharp = jobs.sharpness(run, SPEC, levels=levels, quiet=True, log=lambda *a: None)
            hrec = {}
            if args.hessian:
                hess = jobs.hessian(run, HESSIAN, levels=levels, quiet=True, log=lambda *a: None)
                hrec = {c.record["level"]: c.record for c in hess.children or (hess,)}
            rows = {}
            if shared:
                wr = Path(runs[f"seed{seed}_imp-wr"])
                same = file_digest(run / "level_00/weights.safetensors") == file_digest(
                    wr / "level_00/weights.safetensors"
                )
                assert same, f"{run} level 0 is not IMP-WR's dense network"
                rows[0] = per_run["imp-wr"][seed][0]
            for child in sharp.children or (sharp,):
                r = child.record
                lv = r["level"]
                density[lv] = r["weights_remaining"]
                row = {"test_error": metrics[lv]["test_error"], "loss": r["loss"],
                       "num_kept": r["num_kept"], "kept_norm": r["kept_norm"],
                       "seconds": r["seconds"]}  # fmt: skip
                for key, rho, _ in DRAWN:
                    radii = r["adaptive_radii"] if key.startswith("adaptive") else r["radii"]
                    row[key] = r[key][radii.index(rho)]
                if hrec:  # the second-order predictions at the drawn plain radii
                    row["lambda_max"], row["trace"] = hrec[lv]["eigenvalues"][0], hrec[lv]["trace"]
                    row["worst_quadratic"] = 0.5 * row["lambda_max"] * DRAWN[0][1] ** 2
                    row["average_quadratic"] = (
                        DRAWN[1][1] ** 2 * row["trace"] / (2 * row["num_kept"])
                    )
                rows[lv] = row
            per_run[method][seed] = rows
            print(f"seed {seed} {method} done ({time.time() - t0:.0f} s)", flush=True)

    def mean_sd(values):
        return {"values": values, "mean": statistics.mean(values),
                "std": statistics.stdev(values) if len(values) > 1 else 0.0}  # fmt: skip

    def paired(method, key, level):
        """method − IMP-WR, same seed and density: mean and 95% t-interval half-width."""
        d = [per_run[method][s][level][key] - per_run["imp-wr"][s][level][key] for s in seeds]
        m, half = paired_interval(d)
        return {"values": d, "mean": m, "ci95": half}

    KEYS = [k for k, _, _ in DRAWN] + ["test_error", "loss", "kept_norm"]
    if args.hessian:
        KEYS += ["lambda_max", "trace", "worst_quadratic", "average_quadratic"]
    table = []
    for lv in MEASURED:
        row = {"level": lv, "density": density[lv]}
        for method in METHODS:
            row[method] = {k: mean_sd([per_run[method][s][lv][k] for s in seeds]) for k in KEYS}
            if method != "imp-wr":
                row[method]["minus_imp_wr"] = {k: paired(method, k, lv) for k, _, _ in DRAWN}
        table.append(row)

    out = {
        "preset": args.preset, "seeds": seeds, "levels_trained": args.levels, "measured": MEASURED,
        "swamp": SWAMP, "sharpness": SPEC.hashed("each level's weights"),
        "hessian": HESSIAN.hashed("each level's weights") if args.hessian else None,
        "drawn": [list(d) for d in DRAWN],
        "torch": torch.__version__, "date": datetime.date.today().isoformat(),
        "command": command_line(),
        "runs": runs, "table": table,
        "per_run": {m: {f"seed{s}": {str(k): v for k, v in per_run[m][s].items()} for s in seeds}
                    for m in METHODS},
        "seconds": time.time() - t0,
    }  # fmt: skip
    save_json(FIGURES / f"{NAME}.json", out)
    return out


out = json.loads((FIGURES / f"{NAME}.json").read_text()) if args.replot else compute()
table, seeds, hessian = out["table"], out["seeds"], out["hessian"] is not None

panels = [*DRAWN, ("kept_norm", None, "‖w‖ on the kept coordinates"),
          ("test_error", None, "test error (fraction)")]  # fmt: skip
if hessian:
    panels[4] = ("lambda_max", None, "top Hessian eigenvalue λ_max (kept weights)")
fig, axes = plt.subplots(2, 3, figsize=(15, 8))
x = [100 * r["density"] for r in table]
for ax, (key, _, label) in zip(axes.flat, panels):
    for k, method in enumerate(METHODS):
        m = [r[method][key]["mean"] for r in table]
        s = [r[method][key]["std"] for r in table]
        ax.errorbar([v * (1 + 0.012 * (k - 1.5)) for v in x], m, yerr=s, color=f"C{k}",
                    marker="o", ms=4, capsize=3, label=LABELS[method])  # fmt: skip
    if hessian and key == "worst":
        q = [r["imp-wr"]["worst_quadratic"]["mean"] for r in table]
        ax.plot(x, q, color="C0", ls=":", lw=1, label="IMP-WR ½λ_max ρ²")
    if hessian and key == "average":
        q = [r["imp-wr"]["average_quadratic"]["mean"] for r in table]
        ax.plot(x, q, color="C0", ls=":", lw=1, label="IMP-WR ρ² tr/(2d)")
    ax.set_xscale("log")
    if key in {k for k, _, _ in DRAWN}:  # SWAMP's dense values are ~10x the others': log y
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(x, [f"{v:.3g}" for v in x])
    ax.minorticks_off()
    ax.invert_xaxis()
    ax.set_xlabel("weights remaining (%)")
    ax.set_ylabel("training-loss rise (nats)" if key in {k for k, _, _ in DRAWN} else label)
    ax.set_title(label, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=7)
fig.suptitle(f"{out['preset']}: sharpness on the kept weights, mean ± std over {len(seeds)} seeds "
             f"({out['sharpness']['samples']} training samples; torch {out['torch']}, {out['date']})")  # fmt: skip
fig.tight_layout()
fig.savefig(FIGURES / f"{NAME}.png", dpi=150)
print(f"wrote {FIGURES / NAME}.png in {time.time() - t0:.0f} s")
