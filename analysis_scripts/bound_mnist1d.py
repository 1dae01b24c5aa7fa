"""The flatness bound's prediction against the empirical one-shot ratio, level by level.

An IMP-WR run of the MNIST-1D MLP per seed; at levels 0, 2, 4 and 6 the predicted
maximal pruning ratio p*(L) for magnitude and random masks (docs/science.md, the
flatness bound; ε = the dense training loss), and the empirical one: prune w^(L)
one-shot by each ratio, retrain from the rewind point, keep the largest ratio whose
network stays matching (test error ≤ w^(L)'s + 0.01) and linearly connected to
w^(L). Writes ``figures/bound_vs_empirical_mnist1d.png`` and ``.json``. Run from the
repository root:

    python3 analysis_scripts/bound_mnist1d.py [--seeds 0,1,2]

About 3 minutes per seed on a 2-core CPU (one thread); a repeated call reuses
everything.
"""

import statistics
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from script_args import base_config, options

from landscape import jobs
from landscape.io import save_json
from landscape.specs import BoundSpec, CurvatureSpec

# ----------------------------------------------------------------------------- settings
PRESET = "mlp-mnist1d"
LEVELS = (0, 2, 4, 6)  # where the bound is checked
RATIOS = "0.2,0.4,0.5,0.6,0.7,0.8,0.9"  # one-shot ratios tried
SAMPLES = 2000  # Hessian samples (the first 2000 training samples)
# ---------------------------------------------------------------------------------------

args = options(__doc__, PRESET, "bound_mnist1d")
seeds, ROOT = args.seeds, args.root
OUT = args.figures / "bound_vs_empirical_mnist1d"
t0 = time.time()
# trace_method="slq": the estimator this figure was made with (16 × 80 Gauss rules), so a
# repeated call reuses its results; the default since 2026-12-07 is "averaged".
spec = BoundSpec(empirical=True, ratios=RATIOS, trace_method="slq",
                 curvature=CurvatureSpec(samples=SAMPLES))  # fmt: skip
per_seed = []
for seed in seeds:
    cfg = base_config(args)
    cfg = cfg.replace(seed=seed, data_seed=seed, levels=max(LEVELS))
    run = jobs.prune(cfg, root=ROOT, quiet=True)
    rows = {}
    for level in LEVELS:
        rec = jobs.bound(run, spec, levels=[level], quiet=True, log=lambda _: None).record
        rows[level] = {"predicted": rec["predicted"], "empirical": rec["empirical_max"],
                       "connected": rec["connected_max"]}  # fmt: skip
    per_seed.append(rows)
    print(f"seed {seed} done ({time.time() - t0:.0f} s)")

out = {"preset": args.preset, "seeds": seeds, "levels": list(LEVELS), "ratios": RATIOS,
       "tolerance": spec.tolerance, "torch": torch.__version__, "seconds": time.time() - t0,
       "command": "python3 analysis_scripts/bound_mnist1d.py", "per_seed": per_seed}  # fmt: skip
fig, ax = plt.subplots(figsize=(6, 4))
for kind, color in (("magnitude", "C0"), ("random", "C3")):
    pred = [[r[lv]["predicted"][kind] for r in per_seed] for lv in LEVELS]
    # the largest ratio both matching and linearly connected to w^(L); none passes: 0
    emp = [[min(r[lv]["empirical"][kind] or 0.0, r[lv]["connected"][kind] or 0.0)
            for r in per_seed] for lv in LEVELS]  # fmt: skip
    for values, style, what in ((pred, "-", "predicted p*"), (emp, "--", "empirical")):
        mean = [statistics.mean(v) for v in values]
        sd = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in values]
        ax.errorbar(LEVELS, mean, yerr=sd, color=color, ls=style, marker="o", ms=3, capsize=2,
                    label=f"{kind}: {what}")  # fmt: skip
    out[f"{kind}_predicted"] = pred
    out[f"{kind}_empirical"] = emp
ax.axhline(0.2, color="k", lw=0.8, ls=":", label="ratio the run used")
ax.set_xlabel("level L")
ax.set_ylabel("largest one-shot pruning ratio")
ax.set_ylim(-0.12, 1.0)
ax.set_title(f"{args.preset}, IMP-WR, {len(seeds)} seeds, mean ± std (torch {torch.__version__})",
             fontsize=9)  # fmt: skip
ax.legend(frameon=False, fontsize=7, loc="upper right", ncol=2)
fig.tight_layout()
OUT.parent.mkdir(exist_ok=True)
fig.savefig(OUT.with_suffix(".png"), dpi=150)
save_json(OUT.with_suffix(".json"), out)
print(f"wrote {OUT}.png in {time.time() - t0:.0f} s")
