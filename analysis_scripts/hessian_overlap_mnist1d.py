"""Does the sharp subspace survive pruning? Top-k Hessian eigenspaces across IMP-WR and SWAMP
levels, and each layer's curvature against sparsity → figures/hessian_overlap_mnist1d*.

For every seed, an IMP-WR run of the MNIST-1D MLP (8 levels × 20%, down to 17% of the
weights, the settings of ``swamp_vs_imp.py``; with ``"swamp"`` in METHODS a SWAMP run too);
at each level's solution, restricted to the weights its mask keeps, the top-5 eigenvectors
of the training-loss Hessian over the 4000 training samples, and each layer's own top-5
(``landscape hessian RUN --all-levels --masked --per-layer --overlap``; TRACE adds each
layer's trace). Then the overlap ‖Q_iᵀQ_j‖²_F / k of two top-k eigenspaces on the weights
both keep (docs/science.md §9.1), for

- successive levels of one run (L, L+1) and each level against level 0;
- as a control, IMP-WR seed s against IMP-WR seed s+1 at the same level (unrelated networks);
- with SWAMP: IMP-WR against SWAMP at the same level (same seed, same sparsity).

Writes to figures/: ``hessian_overlap_mnist1d.png`` / ``.json`` (mean ± std over seeds),
``hessian_layers_mnist1d.png`` (each layer's top eigenvalue, mean ± std over seeds), and
seed 0's own ``landscape hessian`` figures as ``hessian_overlap_mnist1d_seed0.png`` and
``hessian_layers_mnist1d_seed0.png``.

Run from the repository root:

    python3 analysis_scripts/hessian_overlap_mnist1d.py            # 3 seeds, CPU

A repeated call reuses the finished runs and analyses.
"""

import shutil
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from script_args import base_config, options

from landscape import jobs
from landscape.io import save_json
from landscape.jobs.hessian import hessian_overlap
from landscape.specs import HessianSpec

# ----------------------------------------------------------------------------- settings
PRESET = "mlp-mnist1d"  # the CPU default: 40-100-100-10 MLP on MNIST-1D
LEVELS = 8  # levels 0..8: 20% of the remaining weights pruned per level, down to 17%
TOP_K = 5  # eigenvectors by Lanczos (relative error bound 1e-3)
TRACE = False  # also each layer's trace (Hutchinson, PROBES products): ~6x the products
PROBES = 100
SAMPLES = 4096  # the first N training samples (MNIST-1D has 4000: all of them)
METHODS = ("imp-wr",)  # add "swamp" for the IMP-WR-against-SWAMP panel (4 particles each)
SWAMP = dict(method="swamp", particles=4, swa_start=0.75, swa_lr=0.05, particle_mode="vectorized")
# ---------------------------------------------------------------------------------------

args = options(__doc__, PRESET, "hessian_overlap")
FIG = args.figures
spec = HessianSpec(top_k=TOP_K, trace=TRACE, probes=PROBES, samples=SAMPLES, masked=True,
                   groups="layer", overlap=True)  # fmt: skip

# 1. The runs and every level's spectrum (eigenvectors saved, per layer).
summaries: dict[str, list] = {m: [] for m in METHODS}
for seed in args.seeds:
    for method, extra in (("imp-wr", {"method": "imp-wr"}), ("swamp", SWAMP)):
        if method not in METHODS:
            continue
        t = time.perf_counter()
        cfg = base_config(args).replace(levels=LEVELS, seed=seed, data_seed=seed, **extra)
        run = jobs.prune(cfg, root=args.root, quiet=True)
        summaries[method].append(jobs.hessian(run, spec, levels="all", quiet=True))
        print(f"seed {seed} {method:6s} {run}  {time.perf_counter() - t:.0f}s", flush=True)

# 2. The overlaps.
n_levels = LEVELS + 1
remaining = [100 * r["weights_remaining"] for r in summaries["imp-wr"][0]["levels"]]


def stack(values):
    a = np.array(values, dtype=float)
    return {"mean": a.mean(0).tolist(), "std": a.std(0, ddof=1).tolist() if len(a) > 1 else
            [0.0] * a.shape[1], "seeds": a.tolist()}  # fmt: skip


out = {"preset": args.preset, "seeds": args.seeds, "top_k": TOP_K, "levels": LEVELS,
       "weights_remaining": remaining, "settings": summaries["imp-wr"][0]["settings"]}  # fmt: skip
for method, sums in summaries.items():
    mats = [np.array(s["overlap"]["overlap"], dtype=float) for s in sums]
    out[f"{method}_successive"] = stack([np.diag(m, 1) for m in mats])
    out[f"{method}_vs_level0"] = stack([m[0] for m in mats])
    out[f"{method}_chance"] = stack([np.diag(np.array(s["overlap"]["chance"], dtype=float), 1)
                                     for s in sums])  # fmt: skip
cross, control = [], []
for i, _ in enumerate(args.seeds):
    imp = summaries["imp-wr"][i].children
    other = summaries["imp-wr"][(i + 1) % len(args.seeds)].children
    control.append([hessian_overlap([imp[L], other[L]])["overlap"][0, 1] for L in range(n_levels)])
    if "swamp" in METHODS:
        swamp = summaries["swamp"][i].children
        cross.append(
            [hessian_overlap([imp[L], swamp[L]])["overlap"][0, 1] for L in range(n_levels)]
        )
out["imp-wr_vs_other_seed"] = stack(control)
if cross:
    out["imp-wr_vs_swamp"] = stack(cross)
layer_rows = {}
for method, sums in summaries.items():
    for name in [g["group"] for g in sums[0]["levels"][0]["groups"]]:
        tops = []
        for s in sums:
            gs = [next(g for g in r["groups"] if g["group"] == name) for r in s["levels"]]
            tops.append([g["eigenvalues"][0] if g["eigenvalues"] else np.nan for g in gs])
        layer_rows[f"{method}/{name}"] = {"top": stack(tops)}
out["layers"] = layer_rows
save_json(FIG / "hessian_overlap_mnist1d.json", out)

# 3. Figures: the overlaps, and each layer's curvature, mean ± std over seeds.
x = np.array(remaining)
fig, axes = plt.subplots(1, 3, figsize=(13.5, 3.8), layout="constrained")
panels = [
    (axes[0], [("imp-wr_successive", "IMP-WR", "C0"), ("swamp_successive", "SWAMP", "C1"),
               ("imp-wr_chance", "chance (k / kept)", "0.5")], x[1:],
     "level L+1 against level L", "weights remaining at level L+1 (%)"),
    (axes[1], [("imp-wr_vs_level0", "IMP-WR", "C0"), ("swamp_vs_level0", "SWAMP", "C1")], x,
     "level L against level 0 (dense)", "weights remaining at level L (%)"),
    (axes[2], [("imp-wr_vs_swamp", "IMP-WR vs SWAMP, same seed", "C2"),
               ("imp-wr_vs_other_seed", "IMP-WR vs IMP-WR, next seed", "0.4")], x,
     "two networks at the same level", "weights remaining (%)"),
]  # fmt: skip
for ax, lines, xs, title, xlabel in panels:
    for key, label, color in [line for line in lines if line[0] in out]:
        m, s = np.array(out[key]["mean"]), np.array(out[key]["std"])
        ax.errorbar(xs, m, yerr=s, marker="o", ms=3, capsize=2, color=color, label=label)
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"top-{TOP_K} eigenspace overlap")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(frameon=False, fontsize=7)
fig.suptitle(f"Overlap ‖Q_iᵀQ_j‖²_F / k of top-{TOP_K} Hessian eigenspaces on the weights both "
             f"keep ({args.preset}, kept-weight Hessian, mean ± std over {len(args.seeds)} "
             "seeds)", fontsize=9)  # fmt: skip
fig.savefig(FIG / "hessian_overlap_mnist1d.png", dpi=150)

fig, ax = plt.subplots(figsize=(5.8, 3.8), layout="constrained")
for c, (key, row) in enumerate(k for k in layer_rows.items() if k[0].startswith("imp-wr/")):
    m, s = np.array(row["top"]["mean"]), np.array(row["top"]["std"])
    ax.errorbar(x, m, yerr=s, marker="o", ms=3, capsize=2, color=f"C{c}",
                label=f"layer {key.split('/', 1)[1]}")  # fmt: skip
ax.set_xscale("log")
ax.set_yscale("log")
ax.invert_xaxis()
ax.set_xlabel("weights remaining (%)")
ax.set_ylabel("top Hessian eigenvalue of the layer's block")
ax.grid(alpha=0.3, which="both")
ax.legend(frameon=False, fontsize=7)
fig.suptitle(f"Per-layer curvature across IMP-WR levels ({args.preset}, kept weights, mean ± std "
             f"over {len(args.seeds)} seeds)", fontsize=9)  # fmt: skip
fig.savefig(FIG / "hessian_layers_mnist1d.png", dpi=150)

first = summaries["imp-wr"][0].folder
shutil.copyfile(first / "overlap.png", FIG / "hessian_overlap_mnist1d_seed0.png")
shutil.copyfile(first / "layers.png", FIG / "hessian_layers_mnist1d_seed0.png")
print(f"wrote {FIG}/hessian_overlap_mnist1d.png, hessian_layers_mnist1d.png (+ _seed0, .json)")
