"""The Hessian spectrum at every level of an IMP-WR MNIST-1D run (SPEC §5) → figures/hessian_*.

Trains an IMP-WR run of the MNIST-1D MLP (10 levels × 20%, density 1.0 → 0.11),
then, at each level's solution w^(L) and restricted to the weights its mask keeps,
measures the training-loss Hessian over the 4000 training samples: the top-5
eigenvalues (Lanczos), the trace ± standard error (Hutchinson, 100 probes) and
the spectral density (SLQ). Writes to figures/:

- ``hessian_levels.png`` / ``.json``: top eigenvalue and trace against sparsity;
- ``hessian_densities.png`` / ``.json``: the densities of four levels, overlaid;
- ``hessian_report.md``: the table across levels and every level's own report.

    python3 analysis_scripts/hessian_levels.py

Re-running reuses the finished run and analyses (folders are named by settings hashes).
"""

import json
import os
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from landscape.checkpoint import load_json, save_json
from landscape.cli import main as landscape
from landscape.plotting.hessian import plot_density

# ----------------------------------------------------------------------------- settings
PRESET = "mlp-mnist1d"  # the CPU default: 40-100-100-10 MLP on MNIST-1D
LEVELS = 10  # levels 0..10: 20% of the remaining weights pruned per level
TOP_K = 5  # eigenvalues by Lanczos, relative error bound 1e-3
PROBES = 100  # Hutchinson probes for the trace
SAMPLES = 4096  # the first N training samples (MNIST-1D has 4000: all of them)
MASKED = True  # kept coordinates only: m ⊙ H ⊙ m, the Hessian the bound of SPEC §6 needs
DENSITY_LEVELS = (0, 3, 6, 10)  # densities overlaid in one figure (all eleven are unreadable)
ROOT = Path(os.environ.get("LANDSCAPE_ROOT", "runs")) / "hessian_levels"
FIGURES = Path("figures")
# ---------------------------------------------------------------------------------------

run = ROOT / f"imp-wr_{PRESET}"
FIGURES.mkdir(exist_ok=True)

# 1. IMP-WR: train, prune 20% globally by magnitude, rewind to m ⊙ w_τ, repeat.
landscape(["prune", "--method", "imp-wr", "--preset", PRESET, "--levels", str(LEVELS),
           "--out", str(run), "--quiet"])  # fmt: skip

# 2. The Hessian report at every level (one result folder per level, one summary).
args = ["hessian", str(run), "--all-levels", "--top-k", str(TOP_K), "--trace",
        "--probes", str(PROBES), "--density", "--samples", str(SAMPLES), "--quiet"]  # fmt: skip
landscape(args + (["--masked"] if MASKED else []))

# 3. Collect into figures/: the summary, the overlaid densities, one Markdown report.
(summary,) = sorted((run / "level_00" / "analysis").glob("hessian-levels_*/result.json"))
record = load_json(summary)
shutil.copyfile(summary.parent / "levels.png", FIGURES / "hessian_levels.png")
save_json(FIGURES / "hessian_levels.json", record)

settings = {k: v for k, v in record["settings"].items() if k not in ("kind", "levels", "weights")}
levels = []
for row in record["levels"]:
    folder = run / f"level_{row['level']:02d}" / "analysis"
    for path in sorted(folder.glob("hessian_*/result.json")):
        rec = load_json(path)
        if all(rec["settings"].get(k) == v for k, v in settings.items()):
            levels.append((path.parent, rec))
            break

fig, ax = plt.subplots(figsize=(6.5, 4.0), layout="constrained")
cmap = plt.get_cmap("viridis")
shown = [(folder, rec) for folder, rec in levels if rec["level"] in DENSITY_LEVELS]
for i, (_, rec) in enumerate(shown):
    plot_density({**rec, "eigenvalues": [], "title": ""}, ax=ax,
                 label=f"L{rec['level']}: {100 * rec['weights_remaining']:.0f}%")  # fmt: skip
    ax.lines[-1].set_color(cmap(0.9 * i / max(1, len(shown) - 1)))
ax.set_title(
    f"Hessian eigenvalue density at four IMP-WR levels ({PRESET}, kept weights)", fontsize=9
)
ax.legend(frameon=False, fontsize=7, title="level: weights remaining", title_fontsize=7)
fig.savefig(FIGURES / "hessian_densities.png", dpi=150)
dens = {rec["level"]: {"weights_remaining": rec["weights_remaining"], "sigma": rec["density_sigma"],
                       "grid": rec["density_grid"], "density": rec["density"]} for _, rec in shown}  # fmt: skip
(FIGURES / "hessian_densities.json").write_text(
    json.dumps({"settings": record["settings"], "run": str(run), "levels": dens}) + "\n"
)

report = [(summary.parent / "report.md").read_text().replace("levels.png", "hessian_levels.png"),
          "![densities](hessian_densities.png)", ""]  # fmt: skip
for folder, _rec in levels:
    text = (folder / "report.md").read_text().replace("# Hessian", "## Hessian", 1)
    report.append(text.replace("![spectral density](density.png)", ""))
(FIGURES / "hessian_report.md").write_text("\n".join(report))
print(f"wrote {FIGURES}/hessian_levels.png, hessian_densities.png, hessian_report.md")
