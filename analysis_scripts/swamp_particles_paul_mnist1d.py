"""[SWAMP] particle-count ablation in the paul-mnist1d regime: N = 1, 2, 4, 8 particles.

SWAMP on preset ``paul-mnist1d`` (1-D CNN + BN, lr 0.4, rewind to τ = 40) with the
settings of ``swamp_vs_imp.py --preset paul-mnist1d --swa-lr 0`` (SWA over the last
quarter of each level at the rate the schedule has reached there), N particles per
level, 6 levels (26.2% of the weights), 3 seeds; test accuracy of the averaged network
and the mean of its particles at every level. The N = 4 runs are those of
``swamp_vs_imp.py`` (SWAMP's ``levels`` is not part of the run's name, so its first 6
levels are reused). Writes ``figures/swamp_particles_paul_mnist1d.png`` and ``.json``.
Run from the repository root:

    python3 analysis_scripts/swamp_particles_paul_mnist1d.py --root /tmp/swamp_paul

``--rewind-step 200 --levels 2 --name swamp_particles_paul_mnist1d_tau200`` runs the
ablation from τ = 200, past the measured stability onset (docs/results.md), with the
N = 4 runs of ``swamp_vs_imp.py --rewind-step 200`` in the same ``--root``.
Runs land in ``--root``; a repeated call reuses every finished level.
"""

import datetime
import statistics
import time

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from script_args import base_config, command_line, options, paired_bounds

from landscape import jobs, paths
from landscape.io import level_metrics, save_json
from landscape.runs import run_dir_of

# ----------------------------------------------------------------------------- settings
PRESET = "paul-mnist1d"
PARTICLES = (1, 2, 4, 8)
LEVELS = 6  # 0.8^6 = 26.2% of the weights
SWAMP = dict(method="swamp", swa_start=0.75, swa_lr=0.0, particle_mode="vectorized")
# ---------------------------------------------------------------------------------------


def extra(parser) -> None:
    parser.add_argument(
        "--rewind-step", default=None, help="rewind point τ (default: the preset's)"
    )
    parser.add_argument("--levels", type=int, default=LEVELS)
    parser.add_argument("--name", default="swamp_particles_paul_mnist1d", help="output file name")
    parser.add_argument("--particles", default=",".join(map(str, PARTICLES)),
                        help="the particle counts N (1 must be among them)")  # fmt: skip


args = options(__doc__, PRESET, "swamp_vs_imp", extra=extra)
seeds = args.seeds
LEVELS = args.levels
PARTICLES = tuple(int(n) for n in args.particles.split(","))
if 1 not in PARTICLES:  # every comparison is against N = 1
    raise SystemExit(f"--particles {args.particles}: include 1 (every N is compared with N = 1)")
OUT = args.figures / args.name
t0 = time.time()
acc: dict[int, list[list[float]]] = {n: [] for n in PARTICLES}
pacc: dict[int, list[list[float]]] = {n: [] for n in PARTICLES}
density: list[float] = []
for seed in seeds:
    base = base_config(args)
    base = base.replace(levels=LEVELS, seed=seed, data_seed=seed, **SWAMP)
    if args.rewind_step is not None:
        base = base.replace(rewind_step=str(args.rewind_step))
    for n in sorted(PARTICLES, key=lambda n: n == 4):  # N = 4 last: swamp_vs_imp.py's runs
        t = time.time()
        cfg = base.replace(particles=n)
        run = run_dir_of(cfg, root=args.root)
        if not all(paths.metrics(run, lv).exists() for lv in range(LEVELS + 1)):
            # (a run holding these levels already is read as it is, even while a longer
            # call of swamp_vs_imp.py is still extending it)
            run = jobs.prune(cfg, root=args.root, quiet=True)
        rows = level_metrics(run)
        rows = [r for r in rows if r["level"] <= LEVELS]  # N = 4 holds 12 levels
        acc[n].append([1 - r["test_error"] for r in rows])
        pacc[n].append([1 - statistics.mean(r["particle_test_errors"]) for r in rows])
        density = [r["density"] for r in rows]
        print(f"seed {seed} N {n} done ({time.time() - t:.0f} s, {time.time() - t0:.0f} s)",
              flush=True)  # fmt: skip


def ms(vals):
    return {"mean": statistics.mean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0}


summary = {str(n): {"average": [ms(list(v)) for v in zip(*acc[n])],
                    "particles_mean": [ms(list(v)) for v in zip(*pacc[n])]}
           for n in PARTICLES}  # fmt: skip


# Paired over seeds, in accuracy (1 = 100%): largest N − N = 1 for the average, level by level;
# for each N the average − the mean of its particles.
paired = {
    f"average_N{max(PARTICLES)}_minus_N1": [paired_bounds(a - b for a, b in zip(x, y))
                                            for x, y in zip(zip(*acc[max(PARTICLES)]), zip(*acc[1]))],
    "average_minus_particle_mean": {
        str(n): [paired_bounds(a - b for a, b in zip(x, y)) for x, y in zip(zip(*acc[n]), zip(*pacc[n]))]
        for n in PARTICLES
    },
}  # fmt: skip
out = {"preset": args.preset, "seeds": seeds, "particles": list(PARTICLES), "levels": LEVELS,
       "rewind_step": base.prune.rewind_step, "test_samples": base.data.test_samples,
       "swamp": SWAMP, "density": density,
       "test_accuracy": {str(n): acc[n] for n in PARTICLES},
       "particle_mean_test_accuracy": {str(n): pacc[n] for n in PARTICLES},
       "summary": summary, "paired": paired, "torch": torch.__version__,
       "date": datetime.date.today().isoformat(), "seconds": time.time() - t0,
       "command": command_line()}  # fmt: skip
fig, axs = plt.subplots(1, 2 if LEVELS else 1, figsize=(11 if LEVELS else 6, 4),
                        layout="constrained", squeeze=False)  # fmt: skip
a1, a2 = axs[0][0], axs[0][-1]  # one level: only the panel against N
for n in PARTICLES if LEVELS else ():
    s = summary[str(n)]["average"]
    a1.errorbar([100 * d for d in density], [100 * v["mean"] for v in s],
                yerr=[100 * v["std"] for v in s], marker="o", ms=3, capsize=2,
                label=f"N = {n}")  # fmt: skip
for key, label, style in (("average", "averaged network", "o-"),
                          ("particles_mean", "mean of its particles", "s--")):  # fmt: skip
    for lvl, color in ((0, "C7"), (LEVELS, "C3"))[: 2 if LEVELS else 1]:
        v = [summary[str(n)][key][lvl] for n in PARTICLES]
        a2.errorbar(PARTICLES, [100 * x["mean"] for x in v], yerr=[100 * x["std"] for x in v],
                    fmt=style, color=color, capsize=3,
                    label=f"{label}, {100 * density[lvl]:.1f}% of the weights")  # fmt: skip
if LEVELS:
    a1.set_xscale("log")
    a1.set_xticks([round(100 * d, 1) for d in density])
    a1.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    a1.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    a1.invert_xaxis()
    a1.set_xlabel("weights remaining (%)")
    a1.set_ylabel("averaged network: test accuracy (%)")
    a1.legend(frameon=False)
a2.set_xscale("log", base=2)
a2.set_xticks(PARTICLES, [str(n) for n in PARTICLES])
a2.set_xlabel("particles N")
a2.set_ylabel("test accuracy (%)")
a2.legend(frameon=False, fontsize=8)
fig.suptitle(f"SWAMP particle count, {args.preset}, τ = {base.prune.rewind_step}, "
             f"{len(seeds)} seeds (torch {torch.__version__})",
             fontsize=10)  # fmt: skip
OUT.parent.mkdir(exist_ok=True)
fig.savefig(OUT.with_suffix(".png"), dpi=150)
save_json(OUT.with_suffix(".json"), out)
print(f"wrote {OUT}.png in {time.time() - t0:.0f} s")
