"""Paul et al. Fig. 2 and Fig. 3 on MNIST-1D: connectivity of IMP-WR levels, rewind step 0 vs 200.

Trains two IMP-WR runs of the 1-D CNN (BatchNorm) that differ only in the rewind
step τ — 0 (the non-matching control of [PAUL]) and 200 steps (5 epochs) — then,
for each: the error along the path through successive level solutions with the
barrier matrix (Fig. 2), and the plane through w^(L), m_{L+1} ⊙ w^(L), w^(L+1)
(Fig. 3). Writes to figures/, every figure with the JSON it was drawn from:

- ``connectivity_cnn1d_tau{0,200}.png`` / ``.json``: path and barrier matrix;
- ``slice_cnn1d_tau{0,200}_level2.png`` / ``.json``: the plane of level 2 → 3;
- ``connectivity_cnn1d_rewind_contrast.png``: both paths on one axis.

Run from the repository root (no flags; change the settings block below instead):

    python3 analysis_scripts/connectivity_mnist1d.py

About 2.5 minutes on an idle 2-core CPU (the two IMP-WR runs share one dense network);
the committed figures took about 12 minutes on a shared 2-core CPU, ~9 of them for the
two IMP-WR runs. Runs go to
``$LANDSCAPE_ROOT/connectivity_mnist1d`` (default ``runs/connectivity_mnist1d``); a
repeated call reuses every finished run and analysis.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from script_args import base_config, options

from landscape import jobs
from landscape.io import level_metrics, load_json, save_json
from landscape.plotting.connectivity import plot_connectivity, plot_path
from landscape.plotting.slices import plot_slices
from landscape.specs import ConnectivitySpec, EngineSpec, SliceSpec

# ----------------------------------------------------------------------------- settings
PRESET = "cnn1d-mnist1d"  # the MLP preset shows ~0 barriers everywhere (README, "Connectivity")
REWIND_STEPS = (0, 200)  # τ: 0 = rewind to init (non-matching control), 200 steps = 5 epochs
LEVELS = 5  # levels 0..5: density 1.0 → 0.33
POINTS = 11  # points per path segment, ends included
BN_POLICY = "recompute"  # re-estimate BatchNorm at every point (the default)
SLICE_LEVEL = 2  # Fig. 3 plane: w^(2), m_3 ⊙ w^(2), w^(3)
GRID = 21  # slice grid points per axis
SLICE_SAMPLES = 1000  # the slice measures each split on its first 1000 samples
# ---------------------------------------------------------------------------------------

args = options(__doc__, PRESET, "connectivity_mnist1d", seeds=None)
ROOT, FIGURES = args.root, args.figures
path_json = {}
for tau in REWIND_STEPS:
    # 1. IMP-WR: train level 0, prune 20% globally, rewind to m ⊙ w_τ, repeat.
    cfg = base_config(args)
    cfg = cfg.replace(method="imp-wr", rewind_step=str(tau), levels=LEVELS)
    run = jobs.prune(cfg, out=ROOT / f"cnn1d_tau{tau}", quiet=True)
    print(f"\nimp-wr run {run}  (τ = {tau})")
    for m in level_metrics(run):
        print(f"  level {m['level']}: density {m['density']:.3f}, test error {m['test_error']:.4f}")

    # 2. Fig. 2: path through successive level solutions + barrier matrix (test error).
    spec = ConnectivitySpec(levels=f"0-{LEVELS}", points=POINTS,
                            engine=EngineSpec(bn_policy=BN_POLICY))  # fmt: skip
    res = jobs.connectivity(run, spec, quiet=True)
    name = f"connectivity_cnn1d_tau{tau}"
    title = f"IMP-WR, 1-D CNN on MNIST-1D, rewind step τ = {tau}: {BN_POLICY} BN"
    save_json(FIGURES / f"{name}.json", {**res.record, "title": title})
    fig, _ = plot_connectivity(FIGURES / f"{name}.json")
    fig.savefig(FIGURES / f"{name}.png", dpi=150)
    plt.close(fig)
    path_json[tau] = FIGURES / f"{name}.json"

    # 3. Fig. 3: the plane through w^(L), its projection m_{L+1} ⊙ w^(L), and w^(L+1).
    engine = EngineSpec(bn_policy=BN_POLICY, eval_samples=SLICE_SAMPLES)
    spec = SliceSpec(plane="level", level=SLICE_LEVEL, grid=GRID, engine=engine)
    res = jobs.slice(run, spec, quiet=True)
    name = f"slice_cnn1d_tau{tau}_level{SLICE_LEVEL}"
    title = f"τ = {tau}: plane of level {SLICE_LEVEL} → {SLICE_LEVEL + 1}"
    save_json(FIGURES / f"{name}.json", {**res.record, "title": title})
    fig, _ = plot_slices(FIGURES / f"{name}.json")
    fig.savefig(FIGURES / f"{name}.png", dpi=150)
    plt.close(fig)

# 4. The contrast of [PAUL Fig. 2 left]: both paths on one axis.
fig, ax = plt.subplots(figsize=(6.5, 3.4), layout="constrained")
for tau, color in zip(REWIND_STEPS, ("tab:red", "tab:blue")):
    plot_path(path_json[tau], ax=ax)
    ax.lines[-2].set(color=color, label=f"τ = {tau}")  # the path
    ax.lines[-1].set(color=color, label="_")  # its level solutions
ax.legend(frameon=False)
ax.set_title("IMP-WR path through level solutions, 1-D CNN on MNIST-1D")
fig.savefig(FIGURES / "connectivity_cnn1d_rewind_contrast.png", dpi=150)
plt.close(fig)

for tau in REWIND_STEPS:
    barriers = ", ".join(f"{s['error_barrier']:.3f}" for s in load_json(path_json[tau])["segments"])
    print(f"τ = {tau}: successive-level error barriers {barriers}")
