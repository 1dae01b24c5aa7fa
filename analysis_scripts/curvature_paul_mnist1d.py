"""[PAUL] §3.3 curvature of the pruning direction in the paul-mnist1d regime (3 seeds).

For each seed, the IMP-WR run of preset ``paul-mnist1d`` (1-D CNN + BN, lr 0.4, τ = 40,
12 levels of 20%; the runs of ``regime_mnist1d.py``), then ``jobs.curvature`` at every
level whose next mask exists (levels 0–11; ``landscape curvature RUN --all-levels``):
κ = ΔᵀHΔ/‖Δ‖² of the pruning direction Δ = m ⊙ w − w of the run's own next (magnitude)
mask against 8 random masks removing as many kept weights, under the training-loss
Hessian (all 4000 training samples, float32, BatchNorm in eval mode). Drawn as mean ±
sample std over seeds: κ of both, their ratio, and ‖Δ‖.

A control the library does not have (computed here with
``landscape.analysis.curvature``'s pieces): the library's random masks are drawn over all
kept weights at once, while global magnitude pruning takes more from some layers than
from others, so κ_magnitude / κ_random mixes *which layers* with *which weights within a
layer*. The control draws 8 random masks per level that remove, in every layer, exactly
as many kept weights as the magnitude mask does there ("layer-matched random"), on the
same Hessian. Also recorded: each layer's share of the weights the magnitude mask
removes.

Writes ``figures/curvature_paul_mnist1d.json`` and ``.png``. Run from the repository root:

    LANDSCAPE_ROOT=/tmp/regime python3 analysis_scripts/curvature_paul_mnist1d.py

The runs are read from (or trained into) ``$LANDSCAPE_ROOT/regime_mnist1d``, the folder
of ``regime_mnist1d.py``; finished curvature results are reused.
"""

import datetime
import statistics
import time

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from script_args import base_config, command_line, options

from landscape import jobs
from landscape.analysis.curvature import direction_curvature, pruning_direction
from landscape.analysis.hessian.hvp import HessianOperator
from landscape.io import level_metrics, save_json
from landscape.runs import open_run
from landscape.specs import CurvatureSpec, DirectionCurvatureSpec

# ----------------------------------------------------------------------------- settings
PRESET = "paul-mnist1d"  # 1-D CNN + BN, lr 0.4, 36 epochs, rewind step 40, 12 levels
RANDOM_MASKS = 8
NAME = "curvature_paul_mnist1d"
KEYS = ("kappa_magnitude", "kappa_random_mean", "kappa_random_std", "kappa_ratio",
        "random_flatter", "norm_magnitude", "weight_norm")  # fmt: skip
CONTROL_KEYS = ("kappa_layer_matched_mean", "kappa_layer_matched_std",
                "kappa_ratio_layer_matched", "layer_matched_flatter")  # fmt: skip
CONTROL_SEED = 1000  # generator seed of the layer-matched random masks (+ level)
# ---------------------------------------------------------------------------------------


def layer_matched_masks(mask, nxt, count, seed):
    """``count`` masks inside ``mask`` removing, per tensor, as many kept weights as ``nxt``."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        new = {}
        for n, m in mask.items():
            flat = m.reshape(-1).bool().cpu()
            kept = flat.nonzero().squeeze(1)
            removed = int(flat.sum()) - int(nxt[n].bool().sum())
            f = flat.clone()
            if removed > 0:
                f[kept[torch.randperm(kept.numel(), generator=g)[:removed]]] = False
            new[n] = f.view(m.shape)
        out.append(new)
    return out


def layer_control(run_dir, levels, count):
    """κ of ``count`` layer-matched random masks per level, and the magnitude mask's
    per-layer removed counts and share of ‖Δ‖² (module docstring)."""
    run = open_run(run_dir, args.device)
    model = run.model()
    data = run.data.tensors("train", 4096)
    rows = {}
    for lv in levels:
        state = run.weights(lv)
        model.load_state_dict(state)
        mask, nxt = run.mask(lv), run.mask(lv + 1)
        op = HessianOperator(model, data)
        weights = {n: state[n] for n in mask}
        kap = []
        for m in layer_matched_masks(mask, nxt, count, CONTROL_SEED + lv):
            q, n2 = direction_curvature(op, pruning_direction(weights, mask, m))
            kap.append(q / n2)
        mag = pruning_direction(weights, mask, nxt)
        total = sum(float(d.double().pow(2).sum()) for d in mag.values())
        rows[lv] = {
            "kappa_layer_matched": kap,
            "kappa_layer_matched_mean": statistics.mean(kap),
            "kappa_layer_matched_std": statistics.stdev(kap) if len(kap) > 1 else 0.0,
            "removed_per_layer": {n: int(mask[n].sum()) - int(nxt[n].sum()) for n in mask},
            "kept_per_layer": {n: int(mask[n].sum()) for n in mask},
            "delta_sq_share_per_layer": {n: float(d.double().pow(2).sum()) / total
                                         for n, d in mag.items()},
        }  # fmt: skip
    return rows


def mean_sd(values):
    """Mean and sample std (std 0 for one value)."""
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


args = options(__doc__, PRESET, "regime_mnist1d")
seeds, ROOT, FIGURES = args.seeds, args.root, args.figures
t0 = time.time()
spec = DirectionCurvatureSpec(
    random_masks=RANDOM_MASKS, curvature=CurvatureSpec(threads=args.threads)
)
records, metrics, run_dirs = {}, {}, {}
for seed in seeds:
    base = base_config(args).replace(seed=seed, data_seed=seed)
    run = jobs.prune(base, root=ROOT, quiet=True)
    run_dirs[seed] = str(run)
    metrics[seed] = level_metrics(run)
    res = jobs.curvature(run, spec, levels="all", quiet=True, log=lambda *a, **k: None)
    records[seed] = {r["level"]: r for r in res.record["levels"]}
    control = layer_control(run, sorted(records[seed]), RANDOM_MASKS)
    for lv, row in control.items():
        row["kappa_ratio_layer_matched"] = (records[seed][lv]["kappa_magnitude"]
                                            / row["kappa_layer_matched_mean"])  # fmt: skip
        row["layer_matched_flatter"] = sum(k < records[seed][lv]["kappa_magnitude"]
                                           for k in row["kappa_layer_matched"])  # fmt: skip
        records[seed][lv].update(row)
    print(f"seed {seed} done ({time.time() - t0:.0f} s)", flush=True)

levels = sorted(set.intersection(*(set(r) for r in records.values())))
out = {
    "preset": args.preset, "method": "imp-wr", "rewind_step": 40, "seeds": seeds,
    "random_masks": RANDOM_MASKS, "samples": "all 4000 training samples (4096 requested)",
    "split": "train", "dtype": "float32", "bn_mode": "eval",
    "torch": torch.__version__, "date": datetime.date.today().isoformat(),
    "command": command_line(),
    "runs": {f"seed{s}": d for s, d in run_dirs.items()},
    "levels": levels,
    "weights_remaining": [records[seeds[0]][lv]["weights_remaining"] for lv in levels],
    "test_error": {f"seed{s}": [r["test_error"] for r in metrics[s]] for s in seeds},
    "per_seed": {f"seed{s}": {k: [records[s][lv][k] for lv in levels] for k in
                              (*KEYS, *CONTROL_KEYS, "kappa_random", "norm_random",
                                         "kappa_layer_matched", "removed_per_layer",
                                         "kept_per_layer", "delta_sq_share_per_layer",
                                         "seconds")}
                 for s in seeds},
    "mean": {}, "std": {},
}  # fmt: skip
for s in seeds:
    out["per_seed"][f"seed{s}"]["norm_random_mean"] = [
        statistics.mean(records[s][lv]["norm_random"]) for lv in levels
    ]
for key in (*KEYS, *CONTROL_KEYS, "norm_random_mean"):
    stats = [mean_sd([out["per_seed"][f"seed{s}"][key][i] for s in seeds])
             for i in range(len(levels))]  # fmt: skip
    out["mean"][key] = [m for m, _ in stats]
    out["std"][key] = [d for _, d in stats]
out["random_flatter_total"] = {
    f"seed{s}": sum(out["per_seed"][f"seed{s}"]["random_flatter"]) for s in seeds
}
out["layer_matched_flatter_total"] = {
    f"seed{s}": sum(out["per_seed"][f"seed{s}"]["layer_matched_flatter"]) for s in seeds
}
out["control"] = {"what": "layer-matched random masks (per tensor as many removed as the "
                          "magnitude mask), computed in this script", "seed": CONTROL_SEED,
                  "masks": RANDOM_MASKS}  # fmt: skip
out["seconds"] = time.time() - t0
save_json(FIGURES / f"{NAME}.json", out)

dens = [100 * d for d in out["weights_remaining"]]
m, sd = out["mean"], out["std"]
fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(15, 4.2))
# κ spans three decades: the log panels draw the mean over seeds (line) and every seed
# (faint markers) instead of ± std bars, which would cross zero; the JSON has mean and std.
series = (("kappa_magnitude", "C0", "o", "magnitude (the run's next mask)"),
          ("kappa_random_mean", "C3", "s", f"random (mean of {RANDOM_MASKS} masks)"),
          ("kappa_layer_matched_mean", "C2", "D", "random, layer-matched (control)"))  # fmt: skip
for key, color, mk, label in series:
    a1.plot(dens, m[key], color=color, marker=mk, ms=3, label=label)
    for s in seeds:
        a1.plot(dens, out["per_seed"][f"seed{s}"][key], color=color, marker=mk, ms=2.5, lw=0,
                alpha=0.35)  # fmt: skip
a1.set_yscale("log")
a1.set_ylabel("κ = ΔᵀHΔ / ‖Δ‖² (mean; seeds faint)")
for key, color, mk, label in (("kappa_ratio", "k", "o", "vs random"),
                              ("kappa_ratio_layer_matched", "C2", "D",
                               "vs layer-matched random")):  # fmt: skip
    a2.plot(dens, m[key], color=color, marker=mk, ms=3, label=f"{label} (mean)")
    for s in seeds:
        a2.plot(dens, out["per_seed"][f"seed{s}"][key], color=color, marker=mk, ms=2.5, lw=0.6,
                alpha=0.3)  # fmt: skip
a2.set_yscale("log")
a2.axhline(1, color="k", ls=":", lw=1)
a2.set_ylabel("κ magnitude / mean κ random (seeds faint)")
a3.errorbar(dens, m["norm_magnitude"], yerr=sd["norm_magnitude"], color="C0", marker="o", ms=3,
            capsize=2, label="magnitude")  # fmt: skip
a3.errorbar(dens, m["norm_random_mean"], yerr=sd["norm_random_mean"], color="C3", marker="s",
            ms=3, capsize=2, label="random (mean)")  # fmt: skip
a3.set_ylabel("‖Δ‖ (mean ± std over seeds)")
for ax in (a1, a2, a3):
    ax.set_xscale("log")
    ax.set_xticks([100, 50, 25, 12.5, 8.6])
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.invert_xaxis()
    ax.set_xlabel("weights remaining at level L (%)")
    ax.legend(frameon=False, fontsize=8)
fig.suptitle(f"{args.preset}, IMP-WR τ = 40: curvature of the pruning direction, "
             f"{len(seeds)} seeds (torch {torch.__version__})")  # fmt: skip
fig.tight_layout()
fig.savefig(FIGURES / f"{NAME}.png", dpi=150)
print(f"wrote {FIGURES / NAME}.png in {time.time() - t0:.0f} s")
