"""[PAUL] §3.2 robustness of the pruned rewind point in the paul-mnist1d regime (3 seeds).

For each seed, the IMP-WR run of preset ``paul-mnist1d`` (1-D CNN + BN, lr 0.4, τ = 40,
12 levels of 20%; the runs of ``regime_mnist1d.py``), then ``jobs.robustness`` at levels
L = 0, 2, 7, 10 (``landscape robustness RUN --level L``): the pruned rewind point
m_{L+1} ⊙ w_τ is perturbed inside the kept subspace by r · d_L (d_L = ‖m_L ⊙ w_τ − m_{L+1} ⊙ w_τ‖, the
length of one pruning step at the rewind point), trained like level L+1 together with the
unperturbed point under other SGD noise, and the error barrier between the two solutions
is measured (11 points, test set, BatchNorm statistics recomputed at every point). Radii
0, 0.25, 0.5, 1, 2, 4; 3 perturbation seeds per run (the library default); r = 0 is the
stability test of level L+1, the baseline the perturbed barriers are compared with.

The figure shows, per level, the error barrier against r: each run's mean over its three
perturbation seeds, and the mean ± sample std of those over the training seeds.

Writes ``figures/robustness_paul_mnist1d.json`` and ``.png``. Run from the repository root:

    LANDSCAPE_ROOT=/tmp/regime python3 analysis_scripts/robustness_paul_mnist1d.py

21 trainings of 1400 steps per (seed, level), about 3 minutes on one thread; a repeated
call reuses every finished network and result.
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
from landscape.io import level_metrics, save_json
from landscape.specs import RobustnessSpec

# ----------------------------------------------------------------------------- settings
PRESET = "paul-mnist1d"  # 1-D CNN + BN, lr 0.4, 36 epochs, rewind step 40, 12 levels
# L → L+1: 100% → 80% of the weights, 64% → 51% (matching), 21% → 16.8% (into the first level
# that stops matching), 10.7% → 8.6% (past matching)
LEVELS = "0,2,7,10"
NAME = "robustness_paul_mnist1d"
# ---------------------------------------------------------------------------------------


def mean_sd(values):
    """Mean and sample std (std 0 for one value)."""
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


args = options(
    __doc__,
    PRESET,
    "regime_mnist1d",
    extra=lambda p: p.add_argument("--levels", default=LEVELS, help="levels L (comma-separated)"),
)
seeds, ROOT, FIGURES = args.seeds, args.root, args.figures
levels = [int(v) for v in args.levels.split(",")]
t0 = time.time()
spec = RobustnessSpec()
records, metrics, run_dirs, walls = {}, {}, {}, {}
for seed in seeds:
    base = base_config(args).replace(seed=seed, data_seed=seed)
    run = jobs.prune(base, root=ROOT, quiet=True)
    run_dirs[seed] = str(run)
    metrics[seed] = level_metrics(run)
    for level in levels:
        t1 = time.time()
        records[seed, level] = jobs.robustness(run, spec, level=level, quiet=True,
                                               log=lambda *a, **k: None).record  # fmt: skip
        walls[seed, level] = time.time() - t1
        print(f"seed {seed} level {level} done ({walls[seed, level]:.0f} s, "
              f"{time.time() - t0:.0f} s in all)", flush=True)  # fmt: skip

radii = records[seeds[0], levels[0]]["radii"]
out = {
    "preset": args.preset, "method": "imp-wr", "rewind_step": 40, "seeds": seeds, "levels": levels,
    "radii": radii, "perturbation_seeds_per_run": spec.seeds, "points": spec.points,
    "split": spec.split, "bn_policy": spec.engine.bn_policy,
    "torch": torch.__version__, "date": datetime.date.today().isoformat(),
    "command": command_line(),
    "runs": {f"seed{s}": d for s, d in run_dirs.items()},
    "per_level": {},
}  # fmt: skip
for level in levels:
    recs = {s: records[s, level] for s in seeds}
    run_means = {s: recs[s]["error_barrier_mean"] for s in seeds}  # per run, over its 3 seeds
    loss_means = {s: recs[s]["loss_barrier_mean"] for s in seeds}
    eb = [mean_sd([run_means[s][i] for s in seeds]) for i in range(len(radii))]
    lb = [mean_sd([loss_means[s][i] for s in seeds]) for i in range(len(radii))]
    # all 3 × 3 barriers pooled, for the spread of single measurements
    pooled = [mean_sd([b for s in seeds for b in recs[s]["error_barriers"][i]])
              for i in range(len(radii))]  # fmt: skip
    # paired by run: each radius's run mean minus the same run's r = 0 barrier
    diff = [mean_sd([run_means[s][i] - run_means[s][0] for s in seeds]) for i in range(len(radii))]
    out["per_level"][str(level)] = {
        "weights_remaining_next": metrics[seeds[0]][level + 1]["density"],
        "step_distance": {f"seed{s}": recs[s]["step_distance"] for s in seeds},
        "start_norm": {f"seed{s}": recs[s]["start_norm"] for s in seeds},
        "level_test_error_next": {f"seed{s}": metrics[s][level + 1]["test_error"] for s in seeds},
        "error_barriers": {f"seed{s}": recs[s]["error_barriers"] for s in seeds},
        "loss_barriers": {f"seed{s}": recs[s]["loss_barriers"] for s in seeds},
        "errors_perturbed": {f"seed{s}": recs[s]["errors_perturbed"] for s in seeds},
        "errors_unperturbed": {f"seed{s}": recs[s]["errors_unperturbed"] for s in seeds},
        "error_barrier_run_mean": {f"seed{s}": run_means[s] for s in seeds},
        "error_barrier_mean": [m for m, _ in eb], "error_barrier_std": [d for _, d in eb],
        "loss_barrier_mean": [m for m, _ in lb], "loss_barrier_std": [d for _, d in lb],
        "error_barrier_minus_r0_mean": [m for m, _ in diff],
        "error_barrier_minus_r0_std": [d for _, d in diff],
        "error_barrier_pooled_mean": [m for m, _ in pooled],
        "error_barrier_pooled_std": [d for _, d in pooled],
        "wall_seconds_this_call": {f"seed{s}": walls[s, level] for s in seeds},
        "train_seconds": {f"seed{s}": recs[s]["train_seconds"] for s in seeds},
    }  # fmt: skip
out["seconds"] = time.time() - t0
save_json(FIGURES / f"{NAME}.json", out)

ncols = min(2, len(levels))
nrows = (len(levels) + ncols - 1) // ncols
fig, axes = plt.subplots(nrows, ncols, figsize=(6 * ncols, 4.4 * nrows), squeeze=False)
for ax in axes.flat[len(levels) :]:
    ax.set_visible(False)
x = [max(r, 0.125) for r in radii]
for ax, level in zip(axes.flat, levels):
    d = out["per_level"][str(level)]
    for s, mk in zip(seeds, ("^", "v", "D")):
        ax.plot(x, d["error_barrier_run_mean"][f"seed{s}"], color="0.6", marker=mk, ms=3, lw=0.8,
                label=f"run seed {s} (mean of {spec.seeds})")  # fmt: skip
    ax.errorbar(x, d["error_barrier_mean"], yerr=d["error_barrier_std"], color="k", marker="o",
                ms=4, capsize=2, label="mean ± std over runs")  # fmt: skip
    m0, s0 = d["error_barrier_mean"][0], d["error_barrier_std"][0]
    ax.axhspan(m0 - s0, m0 + s0, color="C0", alpha=0.15, lw=0, label="r = 0 (stability), ± std")
    ax.axhline(0.02, color="C3", ls="--", lw=1, label="0.02 (stability threshold)")
    ax.axvline(1, color="k", ls=":", lw=1)
    ax.set_yscale("symlog", linthresh=0.02, linscale=1.5)  # linear below 0.02, log above
    ax.set_ylim(bottom=0)
    top = max(a + b for a, b in zip(d["error_barrier_mean"], d["error_barrier_std"]))
    ax.set_yticks([t for t in (0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3) if t <= 1.2 * top])
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xscale("log", base=2)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{r:g}" for r in radii])
    dl = statistics.mean(d["step_distance"].values())
    ax.set_xlabel(f"r (perturbation / d_L; d_L ≈ {dl:.2f}; 0 drawn at 1/8)")
    ax.set_ylabel("error barrier, trained perturbed ↔ unperturbed")
    ax.set_title(f"level {level} → {level + 1} ({100 * d['weights_remaining_next']:.1f}% kept)")
    if level == levels[0]:
        ax.legend(frameon=False, fontsize=7)
fig.suptitle(f"{args.preset}, IMP-WR τ = 40: robustness of the pruned rewind point, "
             f"{len(seeds)} runs × {spec.seeds} perturbation seeds (torch {torch.__version__})")  # fmt: skip
fig.tight_layout()
fig.savefig(FIGURES / f"{NAME}.png", dpi=150)
print(f"wrote {FIGURES / NAME}.png in {time.time() - t0:.0f} s")
