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
    python3 analysis_scripts/hessian_overlap_mnist1d.py --replot   # redraw from the JSON

A repeated call reuses the finished runs and analyses; ``--replot`` only redraws the two
mean ± std figures from ``hessian_overlap_mnist1d.json`` (no run folders needed, the seed-0
copies are left as they are).
"""

import json
import shutil
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter
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


def _replot_option(parser) -> None:
    parser.add_argument("--replot", action="store_true",
                        help="redraw the figures from the JSON, computing nothing")  # fmt: skip


args = options(__doc__, PRESET, "hessian_overlap", extra=_replot_option)
FIG = args.figures
spec = HessianSpec(top_k=TOP_K, trace=TRACE, probes=PROBES, samples=SAMPLES, masked=True,
                   groups="layer", overlap=True)  # fmt: skip


def stack(values):
    a = np.array(values, dtype=float)
    return {"mean": a.mean(0).tolist(), "std": a.std(0, ddof=1).tolist() if len(a) > 1 else
            [0.0] * a.shape[1], "seeds": a.tolist()}  # fmt: skip


def compute() -> tuple[dict, dict]:
    """The runs, every level's spectrum (eigenvectors saved, per layer) and the overlaps."""
    t0 = time.perf_counter()
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

    n_levels = LEVELS + 1
    remaining = [100 * r["weights_remaining"] for r in summaries["imp-wr"][0]["levels"]]
    out = {"preset": args.preset, "seeds": args.seeds, "top_k": TOP_K, "levels": LEVELS,
           "weights_remaining": remaining, "settings": summaries["imp-wr"][0]["settings"]}  # fmt: skip
    for method, sums in summaries.items():
        mats = [np.array(s["overlap"]["overlap"], dtype=float) for s in sums]
        out[f"{method}_successive"] = stack([np.diag(m, 1) for m in mats])
        out[f"{method}_vs_level0"] = stack([m[0] for m in mats])
        out[f"{method}_chance"] = stack([np.diag(np.array(s["overlap"]["chance"], dtype=float), 1)
                                         for s in sums])  # fmt: skip
    cross, control, control_chance = [], [], []
    for i, _ in enumerate(args.seeds):
        imp = summaries["imp-wr"][i].children
        other = summaries["imp-wr"][(i + 1) % len(args.seeds)].children
        # chance k/|K| on the weights both seeds keep (unrelated masks: a small intersection)
        pair = [hessian_overlap([imp[L], other[L]]) for L in range(n_levels)]
        control.append([p["overlap"][0, 1] for p in pair])
        control_chance.append([p["chance"][0, 1] for p in pair])
        if "swamp" in METHODS:
            swamp = summaries["swamp"][i].children
            cross.append(
                [hessian_overlap([imp[L], swamp[L]])["overlap"][0, 1] for L in range(n_levels)]
            )
    out["imp-wr_vs_other_seed"] = stack(control)
    out["imp-wr_vs_other_seed_chance"] = stack(control_chance)
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
    out.update(torch=torch.__version__, command="python3 analysis_scripts/hessian_overlap_mnist1d.py",
               date=time.strftime("%Y-%m-%d", time.gmtime()),
               seconds=time.perf_counter() - t0)  # fmt: skip
    save_json(FIG / "hessian_overlap_mnist1d.json", out)
    return out, summaries


def percent_axis(ax) -> None:
    """Log axis of the weights remaining, ticks as plain percentages (100 … 20), inverted."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator([100, 80, 60, 40, 30, 20, 15, 10]))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    ax.invert_xaxis()


def draw(out: dict) -> None:
    """The overlaps, and each layer's curvature, mean ± std over seeds (from ``out`` only)."""
    x, k, n_seeds = np.array(out["weights_remaining"]), out["top_k"], len(out["seeds"])
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 3.9), layout="constrained")
    panels = [
        (axes[0], [("imp-wr_successive", "IMP-WR", "C0"), ("swamp_successive", "SWAMP", "C1"),
                   ("imp-wr_chance", "chance k / |kept by both|", "0.6")], x[1:],
         "level L+1 against level L (same run)", "weights remaining at level L+1 (%)"),
        (axes[1], [("imp-wr_vs_level0", "IMP-WR", "C0"), ("swamp_vs_level0", "SWAMP", "C1")], x,
         "level L against level 0 (dense, same run)", "weights remaining at level L (%)"),
        (axes[2], [("imp-wr_vs_swamp", "IMP-WR vs SWAMP, same seed", "C2"),
                   ("imp-wr_vs_other_seed", "seed s vs seed s+1 (not aligned)", "0.3"),
                   ("imp-wr_vs_other_seed_chance", "chance k / |kept by both|", "0.6")], x,
         "two networks at the same level", "weights remaining (%)"),
    ]  # fmt: skip
    for ax, lines, xs, title, xlabel in panels:
        for key, label, color in [line for line in lines if line[0] in out]:
            m, s = np.array(out[key]["mean"]), np.array(out[key]["std"])
            dashed = key.endswith("chance")
            ax.errorbar(xs, m, yerr=None if dashed else s, marker="" if dashed else "o", ms=3,
                        capsize=2, ls="--" if dashed else "-", color=color, label=label)  # fmt: skip
        percent_axis(ax)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"top-{k} eigenspace overlap")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize=7, loc="center right")
    fig.suptitle(f"Overlap ‖Q_iᵀQ_j‖²_F / k of top-{k} Hessian eigenspaces on the weights both "
                 f"keep ({out['preset']}, kept-weight Hessian, mean ± std over {n_seeds} "
                 "seeds)", fontsize=9)  # fmt: skip
    fig.savefig(FIG / "hessian_overlap_mnist1d.png", dpi=150)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.2, 4.0), layout="constrained")
    layers = [(key, row) for key, row in out["layers"].items() if key.startswith("imp-wr/")]
    for c, (key, row) in enumerate(layers):
        m, s = np.array(row["top"]["mean"]), np.array(row["top"]["std"])
        ax.errorbar(x, m, yerr=s, marker="o", ms=3, capsize=2, color=f"C{c}",
                    label=f"layer {c + 1} of {len(layers)} (module {key.split('/', 1)[1]})")  # fmt: skip
    percent_axis(ax)  # linear y: the values span less than a factor of 2
    ax.set_xlabel("weights remaining (%)")
    ax.set_ylabel("top eigenvalue of the layer's Hessian block")
    ax.grid(alpha=0.3, which="both")
    ax.legend(frameon=False, fontsize=7)
    ax.set_title(f"Per-layer curvature across IMP-WR levels\n({out['preset']}, kept weights, "
                 f"mean ± std over {n_seeds} seeds)", fontsize=9)  # fmt: skip
    fig.savefig(FIG / "hessian_layers_mnist1d.png", dpi=150)
    plt.close(fig)


if args.replot:
    draw(json.loads((FIG / "hessian_overlap_mnist1d.json").read_text()))
    print(f"redrew {FIG}/hessian_overlap_mnist1d.png, hessian_layers_mnist1d.png from the JSON")
    raise SystemExit(0)
out, summaries = compute()
draw(out)

first = summaries["imp-wr"][0].folder
shutil.copyfile(first / "overlap.png", FIG / "hessian_overlap_mnist1d_seed0.png")
shutil.copyfile(first / "layers.png", FIG / "hessian_layers_mnist1d_seed0.png")
print(f"wrote {FIG}/hessian_overlap_mnist1d.png, hessian_layers_mnist1d.png (+ _seed0, .json)")
