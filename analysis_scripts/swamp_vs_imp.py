"""SWAMP against IMP-WR: test accuracy vs sparsity, particles vs their average [SWAMP §4, Fig. 3].

For every seed, one IMP-WR run and one SWAMP run with the same preset, rewind step,
levels and pruning fraction (the SWAMP run adds N particles, SWA from 75% of each
level at ``--swa-lr``). Writes ``<out>.json`` (one row per level, every seed's and
particle's test error) and draws from it ``<out>_accuracy.png`` (mean ± std over
seeds) and ``<out>_particles.png`` (each particle against the averaged network).

Run from the repository root:

    python analysis_scripts/swamp_vs_imp.py               # MNIST-1D MLP, 3 seeds, CPU: 350 s
    python analysis_scripts/swamp_vs_imp.py --preset cnn1d-mnist1d --levels 6 \\
        --out figures/swamp_cnn1d_mnist1d                  # 1-D CNN, CPU: about 28 minutes
    python analysis_scripts/swamp_vs_imp.py --preset resnet20-cifar10 --levels 10 \\
        --out figures/swamp_resnet20_cifar10 --threads 0 --data-root DIR --download   # a GPU
    python analysis_scripts/swamp_vs_imp.py --help         # every flag

The times are for a 2-core CPU, one torch thread. Runs land in ``--root`` (default
``runs/swamp_vs_imp``); a repeated call reuses every finished level and particle, so an
interrupted study resumes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date

import matplotlib

matplotlib.use("Agg")

from script_args import command_line, paired_bounds

from landscape import jobs
from landscape.hparams import PRESETS, RunConfig
from landscape.io import level_metrics, save_json
from landscape.plotting.swamp import plot_accuracy_vs_sparsity, plot_particles_vs_average

# ---- settings (each can be overridden on the command line) ----------------------------------
PRESET = "mlp-mnist1d"  # MNIST-1D MLP, rewind step 200, 36 epochs; CIFAR presets want a GPU
SEEDS = [0, 1, 2]  # initialisation and data-order seed (particle n adds 1000·n to the latter)
LEVELS = 8  # levels 0..8: down to 0.8^8 = 17% of the weights
PARTICLES = 4  # N [SWAMP default]
SWA_START, SWA_LR = 0.75, 0.05  # [SWAMP]: SWA over the last quarter of each level at 0.05
# The same algorithm and batches in every particle mode, but not the same bits: a rerun in
# another mode drifts (docs/science.md §5). On the CPU vectorised was 1.7-2x faster for the
# MNIST-1D models (bench/RESULTS.md).
MODE = "vectorized"
ROOT = "runs/swamp_vs_imp"
OUT = "figures/swamp_mnist1d"
THREADS = 1  # one torch thread: two threads on a busy 2-core machine were several times slower

parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
parser.add_argument("--preset", default=PRESET, choices=sorted(PRESETS))
parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
parser.add_argument("--levels", type=int, default=LEVELS)
parser.add_argument("--particles", type=int, default=PARTICLES)
parser.add_argument("--swa-start", type=float, default=SWA_START)
parser.add_argument("--swa-lr", type=float, default=SWA_LR)
parser.add_argument("--particle-mode", default=MODE)
parser.add_argument("--rewind-step", default=None,
                    help="rewind point τ (steps, or e.g. 5ep; default: the preset's)")  # fmt: skip
parser.add_argument("--root", default=ROOT, help="where the run directories go")
parser.add_argument("--out", default=OUT, help="output path without extension")
parser.add_argument("--threads", type=int, default=THREADS, help="torch CPU threads (0: default)")
parser.add_argument("--data-root", default="", help="where CIFAR is (or goes with --download)")
parser.add_argument("--download", action="store_true")
parser.add_argument("--device", default="auto")
args = parser.parse_args()
seeds = [int(s) for s in args.seeds.split(",")]
base = RunConfig().replace(**PRESETS[args.preset]).replace(
    levels=args.levels, device=args.device, threads=args.threads, data_root=args.data_root,
    download=args.download,
)  # fmt: skip
if args.rewind_step is not None:  # both methods rewind to the same τ
    base = base.replace(rewind_step=str(args.rewind_step))
swamp = dict(method="swamp", particles=args.particles, swa_start=args.swa_start,
             swa_lr=args.swa_lr, particle_mode=args.particle_mode)  # fmt: skip

# ---- the runs: IMP-WR and SWAMP for every seed --------------------------------------------------
t0 = time.perf_counter()
runs: dict[str, list] = {"imp-wr": [], "swamp": []}  # run directories
metrics: dict[str, list] = {"imp-wr": [], "swamp": []}  # per seed: one dict per level
for seed in seeds:
    for method, extra in (("imp-wr", dict(method="imp-wr")), ("swamp", swamp)):
        t = time.perf_counter()
        run = jobs.prune(base.replace(seed=seed, data_seed=seed, **extra), root=args.root,
                         quiet=True)  # fmt: skip
        runs[method].append(run)
        metrics[method].append({m["level"]: m for m in level_metrics(run)})
        print(f"seed {seed} {method:6s} {run}  {time.perf_counter() - t:.0f}s", flush=True)

# ---- the result: one row per level, every seed ------------------------------------------------


rows = []
for level in range(args.levels + 1):
    imp = [m[level] for m in metrics["imp-wr"]]
    sw = [m[level] for m in metrics["swamp"]]
    imp_err, sw_err = [m["test_error"] for m in imp], [m["test_error"] for m in sw]
    part_mean = [statistics.mean(m["particle_test_errors"]) for m in sw]
    rows.append({
        "level": level,
        "density": sw[0]["density"],
        "imp_wr_test_error": imp_err,
        "swamp_test_error": sw_err,
        "swamp_particle_test_errors": [m["particle_test_errors"] for m in sw],
        # paired over seeds: mean and 95% t interval [low, high] of the per-seed difference
        "swamp_minus_imp_wr_error": paired_bounds([a - b for a, b in zip(sw_err, imp_err)]),
        "average_minus_particle_mean_error": paired_bounds([a - b for a, b in zip(sw_err, part_mean)]),
    })  # fmt: skip
result = {
    "settings": {
        "preset": args.preset, "seeds": seeds, "levels": args.levels, "particles": args.particles,
        "swa_start": args.swa_start, "swa_lr": args.swa_lr, "particle_mode": args.particle_mode,
        "rewind_step": base.prune.rewind_step, "test_samples": base.data.test_samples,
        "bn_recompute": metrics["swamp"][0][0].get("bn_recompute"),
        "runs": {m: [str(r) for r in rs] for m, rs in runs.items()},
    },
    "command": command_line(),
    "date": date.today().isoformat(),
    "seconds": time.perf_counter() - t0,
    "levels": rows,
}  # fmt: skip
save_json(f"{args.out}.json", result)

# ---- the figures (drawn from the JSON just written) ---------------------------------------------
for suffix, plot in (
    ("accuracy", plot_accuracy_vs_sparsity),
    ("particles", plot_particles_vs_average),
):
    fig, _ = plot(f"{args.out}.json")
    fig.savefig(f"{args.out}_{suffix}.png", dpi=150)


# ---- a table: accuracy mean ± std over seeds ----------------------------------------------------
def cell(errors: list[float]) -> str:
    """Accuracy mean ± std (%) over seeds (sample std, n − 1; 0 for a single seed)."""
    acc = [100 * (1 - e) for e in errors]
    sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
    return f"{statistics.mean(acc):6.2f} ± {sd:4.2f}"


print(f"\n{'level':>5} {'kept %':>7} {'IMP-WR acc':>14} {'SWAMP acc':>14} {'particles acc':>14}")
for row in rows:
    parts = [statistics.mean(p) for p in row["swamp_particle_test_errors"]]
    print(f"{row['level']:5d} {100 * row['density']:7.2f} {cell(row['imp_wr_test_error']):>14} "
          f"{cell(row['swamp_test_error']):>14} {cell(parts):>14}")  # fmt: skip
print(f"\n{'level':>5} {'SWAMP − IMP-WR error [95% CI]':>34} {'average − particles [95% CI]':>34}")
for row in rows:
    d, e = row["swamp_minus_imp_wr_error"], row["average_minus_particle_mean_error"]
    print(f"{row['level']:5d} {d[0]:+10.4f} [{d[1]:+.4f}, {d[2]:+.4f}]      "
          f"{e[0]:+10.4f} [{e[1]:+.4f}, {e[2]:+.4f}]")  # fmt: skip
print(f"wrote {args.out}.json, {args.out}_accuracy.png, {args.out}_particles.png "
      f"in {time.perf_counter() - t0:.0f}s")  # fmt: skip
