"""Paul et al. Fig. 2 and Fig. 3 on MNIST-1D: connectivity of IMP-WR levels, rewind step 0 vs later.

Trains two IMP-WR runs of the 1-D CNN (BatchNorm) that differ only in the rewind
step τ — 0 (the non-matching control of [PAUL]) and 200 steps (5 epochs) — then
draws, for each: the error along the path through successive level solutions
with the barrier matrix (Fig. 2), and the plane through w^(L), m_{L+1} ⊙ w^(L),
w^(L+1) (Fig. 3). Every figure goes to figures/ with the JSON it was drawn from.

    python3 analysis_scripts/connectivity_mnist1d.py

Re-running reuses finished runs and analyses (run directories and analysis
folders are named by the hash of their settings).
"""

import os
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from landscape.checkpoint import load_json, save_json
from landscape.cli import main as landscape
from landscape.plotting.connectivity import plot_connectivity, plot_path
from landscape.plotting.slices import plot_slices

# ----------------------------------------------------------------------------- settings
PRESET = "cnn1d-mnist1d"  # the MLP preset shows ~0 barriers everywhere (PERF_NOTES.md)
REWIND_STEPS = (0, 200)  # τ: 0 = rewind to init (non-matching control), 200 steps = 5 epochs
LEVELS = 5  # levels 0..5: density 1.0 → 0.33
POINTS = 11  # points per path segment, ends included (SPEC §3)
BN_POLICY = "recompute"  # re-estimate BatchNorm at every point (SPEC §3 default)
SLICE_LEVEL = 2  # Fig. 3 plane: w^(2), m_3 ⊙ w^(2), w^(3)
GRID = 21  # slice grid points per axis
SLICE_TRAIN_SAMPLES = 1000  # the slice's train loss is measured on the first 1000 samples
ROOT = Path(os.environ.get("LANDSCAPE_ROOT", "runs")) / "connectivity_mnist1d"
FIGURES = Path("figures")
# ---------------------------------------------------------------------------------------


def find(run: Path, level: int, kind: str, **settings) -> Path:
    """The result.json of ``kind`` at ``level`` whose recorded settings include ``settings``."""
    for path in sorted((run / f"level_{level:02d}" / "analysis").glob(f"{kind}_*/result.json")):
        recorded = load_json(path)["settings"]
        if all(recorded.get(k) == v for k, v in settings.items()):
            return path
    raise FileNotFoundError(f"no {kind} result with {settings} in {run}")


FIGURES.mkdir(exist_ok=True)
path_results = {}
for tau in REWIND_STEPS:
    run = ROOT / f"cnn1d_tau{tau}"
    # 1. IMP-WR: train level 0 from w_τ, prune 20% globally, rewind to m ⊙ w_τ, repeat.
    landscape(["prune", "--method", "imp-wr", "--preset", PRESET, "--rewind-step", str(tau),
               "--levels", str(LEVELS), "--out", str(run), "--quiet"])  # fmt: skip
    landscape(["show", str(run)])

    # 2. Fig. 2: path through successive level solutions + barrier matrix (test error).
    assert landscape(["connectivity", str(run), "--points", str(POINTS), "--bn-policy", BN_POLICY,
                      "--quiet"]) == 0  # fmt: skip
    result = find(run, 0, "connectivity", points=POINTS, bn_policy=BN_POLICY, split="test",
                  levels=list(range(LEVELS + 1)), eval_samples=0)  # fmt: skip
    rec = load_json(result)
    rec["title"] = f"IMP-WR, 1-D CNN on MNIST-1D, rewind step τ = {tau}: {BN_POLICY} BN"
    save_json(FIGURES / f"connectivity_cnn1d_tau{tau}.json", rec)
    fig, _ = plot_connectivity(FIGURES / f"connectivity_cnn1d_tau{tau}.json")
    fig.savefig(FIGURES / f"connectivity_cnn1d_tau{tau}.png", dpi=150)
    plt.close(fig)
    path_results[tau] = FIGURES / f"connectivity_cnn1d_tau{tau}.json"

    # 3. Fig. 3: the plane through w^(L), its projection m_{L+1} ⊙ w^(L), and w^(L+1).
    assert landscape(["slice", str(run), "--level", str(SLICE_LEVEL), "--grid", str(GRID),
                      "--bn-policy", BN_POLICY, "--eval-samples", str(SLICE_TRAIN_SAMPLES),
                      "--quiet"]) == 0  # fmt: skip
    result = find(run, SLICE_LEVEL, "slice", plane="level", grid=GRID, bn_policy=BN_POLICY,
                  eval_samples=SLICE_TRAIN_SAMPLES)  # fmt: skip
    name = f"slice_cnn1d_tau{tau}_level{SLICE_LEVEL}"
    shutil.copyfile(result, FIGURES / f"{name}.json")
    rec = load_json(FIGURES / f"{name}.json")
    rec["title"] = f"τ = {tau}: plane of level {SLICE_LEVEL} → {SLICE_LEVEL + 1}"
    save_json(FIGURES / f"{name}.json", rec)
    fig, _ = plot_slices(FIGURES / f"{name}.json")
    fig.savefig(FIGURES / f"{name}.png", dpi=150)
    plt.close(fig)

# 4. The contrast of [PAUL Fig. 2 left]: both paths on one axis.
fig, ax = plt.subplots(figsize=(6.5, 3.4), layout="constrained")
for tau, color in zip(REWIND_STEPS, ("tab:red", "tab:blue")):
    plot_path(path_results[tau], ax=ax)
    ax.lines[-2].set(color=color, label=f"τ = {tau}")
    ax.lines[-1].set(color=color, label="_")
ax.legend(frameon=False)
ax.set_title("IMP-WR path through level solutions, 1-D CNN on MNIST-1D")
fig.savefig(FIGURES / "connectivity_cnn1d_rewind_contrast.png", dpi=150)
plt.close(fig)
for tau in REWIND_STEPS:
    rec = load_json(path_results[tau])
    print(f"τ = {tau}: successive-level error barriers "
          + ", ".join(f"{s['error_barrier']:.3f}" for s in rec["segments"]))  # fmt: skip
