"""[SWAMP] particle-count ablation on MNIST-1D: N = 1, 2, 4, 8 particles per level.

SWAMP on the MNIST-1D MLP (preset ``mlp-mnist1d``, 8 levels to 16.8% of the weights,
SWA over the last quarter of each level at the rate the schedule has reached there)
with N particles per level, for each N and seed; test accuracy of the averaged network
at every level. Writes ``figures/swamp_particles_mnist1d.png`` and ``.json``. Run from
the repository root:

    python3 analysis_scripts/swamp_particles_mnist1d.py [--seeds 0,1,2]

About 5 minutes per seed on a 2-core CPU (one thread; N = 8 costs 8 IMP runs).
"""

import statistics
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from script_args import base_config, command_line, options

from landscape import jobs
from landscape.io import level_metrics, save_json

# ----------------------------------------------------------------------------- settings
PRESET = "mlp-mnist1d"
PARTICLES = (1, 2, 4, 8)
LEVELS = 8  # 0.8^8 = 16.8% of the weights
# ---------------------------------------------------------------------------------------

args = options(__doc__, PRESET, "swamp_particles_mnist1d")
seeds, ROOT = args.seeds, args.root
OUT = args.figures / "swamp_particles_mnist1d"
t0 = time.time()
acc: dict[int, list[list[float]]] = {n: [] for n in PARTICLES}
density: list[float] = []
for seed in seeds:
    base = base_config(args)
    base = base.replace(method="swamp", levels=LEVELS, seed=seed, data_seed=seed,
                        particle_mode="vectorized")  # fmt: skip
    for n in PARTICLES:
        rows = level_metrics(jobs.prune(base.replace(particles=n), root=ROOT, quiet=True))
        acc[n].append([1 - r["test_error"] for r in rows])
        density = [r["density"] for r in rows]
    print(f"seed {seed} done ({time.time() - t0:.0f} s)")

out = {"preset": args.preset, "seeds": seeds, "particles": list(PARTICLES), "levels": LEVELS,
       "density": density, "test_accuracy": {str(n): acc[n] for n in PARTICLES},
       "torch": torch.__version__, "seconds": time.time() - t0,
       "command": command_line()}  # fmt: skip
fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
for n in PARTICLES:
    per_level = list(zip(*acc[n]))
    mean = [100 * statistics.mean(v) for v in per_level]
    sd = [100 * statistics.stdev(v) if len(v) > 1 else 0.0 for v in per_level]
    a1.errorbar([100 * d for d in density], mean, yerr=sd, marker="o", ms=3, capsize=2,
                label=f"N = {n}")  # fmt: skip
final = [[100 * run[-1] for run in acc[n]] for n in PARTICLES]
a2.errorbar(PARTICLES, [statistics.mean(f) for f in final],
            yerr=[statistics.stdev(f) if len(f) > 1 else 0.0 for f in final], marker="o",
            capsize=3)  # fmt: skip
a1.set_xscale("log")
a1.invert_xaxis()
a1.set_xlabel("weights remaining (%)")
a1.set_ylabel("test accuracy (%, mean ± std)")
a1.legend(frameon=False)
a2.set_xscale("log", base=2)
a2.set_xticks(PARTICLES, [str(n) for n in PARTICLES])
a2.set_xlabel("particles N")
a2.set_ylabel(f"test accuracy at {100 * density[-1]:.1f}% of the weights (%)")
fig.suptitle(f"SWAMP particle count, {args.preset}, {len(seeds)} seeds (torch {torch.__version__})",
             fontsize=10)  # fmt: skip
OUT.parent.mkdir(exist_ok=True)
fig.savefig(OUT.with_suffix(".png"), dpi=150)
save_json(OUT.with_suffix(".json"), out)
print(f"wrote {OUT}.png in {time.time() - t0:.0f} s")
