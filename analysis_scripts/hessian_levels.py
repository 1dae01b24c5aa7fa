"""The Hessian spectrum at every level of an IMP-WR MNIST-1D run → figures/hessian_*.

Trains an IMP-WR run of the MNIST-1D MLP (10 levels × 20%, density 1.0 → 0.11),
then, at each level's solution w^(L) and restricted to the weights its mask keeps,
measures the training-loss Hessian over the 4000 training samples: the top-5
eigenvalues (Lanczos), the trace ± standard error (Hutchinson, 100 probes) and
the spectral density (SLQ). Writes to figures/:

- ``hessian_levels.png`` / ``.json``: top eigenvalue and trace against sparsity;
- ``hessian_densities.png`` / ``.json``: the densities of four levels, overlaid;
- ``hessian_report.md``: the table across levels and every level's own report.

Run from the repository root (no flags; change the settings block below instead):

    python3 analysis_scripts/hessian_levels.py

About a minute on a 2-core CPU: the eleven MLP levels train in about a second each,
the Hessians take 3-4 s a level. The run goes to
``$LANDSCAPE_ROOT/hessian_levels/imp-wr_mlp-mnist1d`` (default ``runs/hessian_levels/…``);
a repeated call reuses the finished run and analyses.
"""

import json
import shutil

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from script_args import base_config, options

from landscape import jobs
from landscape.io import save_json
from landscape.plotting.hessian import plot_density
from landscape.specs import HessianSpec

# ----------------------------------------------------------------------------- settings
PRESET = "mlp-mnist1d"  # the CPU default: 40-100-100-10 MLP on MNIST-1D
LEVELS = 10  # levels 0..10: 20% of the remaining weights pruned per level
TOP_K = 5  # eigenvalues by Lanczos, relative error bound 1e-3
PROBES = 100  # Hutchinson probes for the trace
SAMPLES = 4096  # the first N training samples (MNIST-1D has 4000: all of them)
MASKED = True  # kept coordinates only: m ⊙ H ⊙ m, the Hessian of the pruned network
DENSITY_LEVELS = (0, 3, 6, 10)  # densities overlaid in one figure (all eleven are unreadable)
# ---------------------------------------------------------------------------------------

args = options(__doc__, PRESET, "hessian_levels", seeds=None)
ROOT, FIGURES = args.root, args.figures

# 1. IMP-WR: train, prune 20% globally by magnitude, rewind to m ⊙ w_τ, repeat.
cfg = base_config(args).replace(method="imp-wr", levels=LEVELS)
run = jobs.prune(cfg, out=ROOT / f"imp-wr_{args.preset}", quiet=True)

# 2. The Hessian report at every level: one result per level (.children) and a summary.
spec = HessianSpec(top_k=TOP_K, trace=True, probes=PROBES, density=True, samples=SAMPLES,
                   masked=MASKED)  # fmt: skip
summary = jobs.hessian(run, spec, levels="all", quiet=True)
levels = summary.children

# 3. Collect into figures/: the summary, the overlaid densities, one Markdown report.
shutil.copyfile(summary.folder / "levels.png", FIGURES / "hessian_levels.png")
save_json(FIGURES / "hessian_levels.json", summary.record)

fig, ax = plt.subplots(figsize=(6.5, 4.0), layout="constrained")
cmap = plt.get_cmap("viridis")
shown = [r.record for r in levels if r["level"] in DENSITY_LEVELS]
for i, rec in enumerate(shown):
    label = f"L{rec['level']}: {100 * rec['weights_remaining']:.0f}%"
    plot_density({**rec, "eigenvalues": [], "title": ""}, ax=ax, label=label)
    ax.lines[-1].set_color(cmap(0.9 * i / max(1, len(shown) - 1)))
ax.set_title(
    f"Hessian eigenvalue density at four IMP-WR levels ({args.preset}, kept weights)", fontsize=9
)
ax.legend(frameon=False, fontsize=7, title="level: weights remaining", title_fontsize=7)
fig.savefig(FIGURES / "hessian_densities.png", dpi=150)
densities = {rec["level"]: {"weights_remaining": rec["weights_remaining"],
                            "sigma": rec["density_sigma"], "grid": rec["density_grid"],
                            "density": rec["density"]} for rec in shown}  # fmt: skip
(FIGURES / "hessian_densities.json").write_text(
    json.dumps({"settings": summary["settings"], "run": str(run), "levels": densities}) + "\n"
)

report = [(summary.folder / "report.md").read_text().replace("levels.png", "hessian_levels.png"),
          "![densities](hessian_densities.png)", ""]  # fmt: skip
for r in levels:
    text = (r.folder / "report.md").read_text().replace("# Hessian", "## Hessian", 1)
    report.append(text.replace("![spectral density](density.png)", ""))
(FIGURES / "hessian_report.md").write_text("\n".join(report))
print(f"wrote {FIGURES}/hessian_levels.png, hessian_densities.png, hessian_report.md")
