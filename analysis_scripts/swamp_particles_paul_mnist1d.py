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
from script_args import base_config, options

from landscape import jobs
from landscape.io import level_metrics, save_json

# ----------------------------------------------------------------------------- settings
PRESET = "paul-mnist1d"
PARTICLES = (1, 2, 4, 8)
LEVELS = 6  # 0.8^6 = 26.2% of the weights
SWAMP = dict(method="swamp", swa_start=0.75, swa_lr=0.0, particle_mode="vectorized")
# ---------------------------------------------------------------------------------------

args = options(__doc__, PRESET, "swamp_vs_imp")
seeds = args.seeds
OUT = args.figures / "swamp_particles_paul_mnist1d"
t0 = time.time()
acc: dict[int, list[list[float]]] = {n: [] for n in PARTICLES}
pacc: dict[int, list[list[float]]] = {n: [] for n in PARTICLES}
density: list[float] = []
for seed in seeds:
    base = base_config(args)
    base = base.replace(levels=LEVELS, seed=seed, data_seed=seed, **SWAMP)
    for n in PARTICLES:
        t = time.time()
        rows = level_metrics(jobs.prune(base.replace(particles=n), root=args.root, quiet=True))
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
out = {"preset": args.preset, "seeds": seeds, "particles": list(PARTICLES), "levels": LEVELS,
       "swamp": SWAMP, "density": density,
       "test_accuracy": {str(n): acc[n] for n in PARTICLES},
       "particle_mean_test_accuracy": {str(n): pacc[n] for n in PARTICLES},
       "summary": summary, "torch": torch.__version__,
       "date": datetime.date.today().isoformat(), "seconds": time.time() - t0,
       "command": "python3 analysis_scripts/swamp_particles_paul_mnist1d.py --root /tmp/swamp_paul"}  # fmt: skip
fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
for n in PARTICLES:
    s = summary[str(n)]["average"]
    a1.errorbar([100 * d for d in density], [100 * v["mean"] for v in s],
                yerr=[100 * v["std"] for v in s], marker="o", ms=3, capsize=2,
                label=f"N = {n}")  # fmt: skip
for key, label, style in (("average", "averaged network", "o-"),
                          ("particles_mean", "mean of its particles", "s--")):  # fmt: skip
    for lvl, color in ((0, "C7"), (LEVELS, "C3")):
        v = [summary[str(n)][key][lvl] for n in PARTICLES]
        a2.errorbar(PARTICLES, [100 * x["mean"] for x in v], yerr=[100 * x["std"] for x in v],
                    fmt=style, color=color, capsize=3,
                    label=f"{label}, {100 * density[lvl]:.1f}% of the weights")  # fmt: skip
a1.set_xscale("log")
a1.set_xticks([100, 80, 64, 51.2, 41, 32.8, 26.2])
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
fig.suptitle(f"SWAMP particle count, {args.preset}, {len(seeds)} seeds (torch {torch.__version__})",
             fontsize=10)  # fmt: skip
OUT.parent.mkdir(exist_ok=True)
fig.savefig(OUT.with_suffix(".png"), dpi=150)
save_json(OUT.with_suffix(".json"), out)
print(f"wrote {OUT}.png in {time.time() - t0:.0f} s")
