"""[PAUL] Fig. 3 in the paul-mnist1d regime: planes at an early level, at the edge of
matching and past it, with the set linearly connected to w^(L) outlined.

For the τ = 40 IMP-WR runs of ``regime_mnist1d.py`` (same root, same runs; trained here
if missing), the plane through w^(L), its projection m_{L+1} ⊙ w^(L) and w^(L+1) for
L = 1 (early), 7 (the last level that matches for two of three seeds) and 10 (past it);
the matching contour is the dense error + ε and the dashed outline the matching points
reached from w^(L) on a straight path that stays matching, with ε the standard deviation of the dense test
error over the seeds, as [PAUL] does. Writes ``figures/slices_paul_mnist1d.png`` (seed
0) and ``.json`` (every seed: the connected and matching fractions of each plane). Run
from the repository root, after ``regime_mnist1d.py``:

    python3 analysis_scripts/slices_paul_mnist1d.py [--seeds 0,1,2]

About 1 minute per plane on a 2-core CPU (one thread).
"""

import statistics
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from script_args import base_config, options

from landscape import jobs
from landscape.io import level_metrics, save_json
from landscape.plotting.slices import plot_slice
from landscape.specs import EngineSpec, SliceSpec

# ----------------------------------------------------------------------------- settings
PRESET = "paul-mnist1d"
LEVELS = (1, 7, 10)  # early, at the edge of matching, past it
GRID = 17  # points per axis
SAMPLES = 1000  # each split measured on its first 1000 samples; BatchNorm from 1000
# ---------------------------------------------------------------------------------------

args = options(__doc__, PRESET, "regime_mnist1d")
seeds, ROOT = args.seeds, args.root
OUT = args.figures / "slices_paul_mnist1d"
t0 = time.time()
runs = {}
for seed in seeds:
    cfg = base_config(args)
    runs[seed] = jobs.prune(cfg.replace(seed=seed, data_seed=seed), root=ROOT, quiet=True)
dense = [level_metrics(runs[s])[0]["test_error"] for s in seeds]
eps = statistics.stdev(dense) if len(dense) > 1 else 0.01
engine = EngineSpec(eval_samples=SAMPLES, bn_samples=SAMPLES)
results = {}
for seed in seeds:
    for level in LEVELS:
        spec = SliceSpec(level=level, grid=GRID, tolerance=eps, engine=engine)
        results[seed, level] = jobs.slice(runs[seed], spec, quiet=True, log=lambda _: None).record
    print(f"seed {seed} done ({time.time() - t0:.0f} s)")

out = {"preset": args.preset, "seeds": seeds, "levels": list(LEVELS), "epsilon": eps,
       "dense_test_error": dense, "torch": torch.__version__, "seconds": time.time() - t0,
       "command": "python3 analysis_scripts/slices_paul_mnist1d.py", "planes": {}}  # fmt: skip
for level in LEVELS:
    recs = [results[s, level] for s in seeds]
    out["planes"][str(level)] = {
        "connected_fraction": [r["connected_fraction"] for r in recs],
        "matching_fraction": [r["matching_fraction"] for r in recs],
        "test_error_next": [r["marks"][2]["test_error"] for r in recs],
        "test_error_projection": [r["marks"][1]["test_error"] for r in recs],
    }
fig, axes = plt.subplots(1, len(LEVELS), figsize=(6.2 * len(LEVELS), 6.4), layout="constrained")
for ax, level in zip(axes, LEVELS):
    plot_slice(results[seeds[0], level], "test_error", ax)
    ax.set_title(f"level {level} → {level + 1}", fontsize=9)
fig.suptitle(f"{args.preset}, τ = 40, seed {seeds[0]}: test error; ε = {eps:.4f} "
             f"(std of the dense error over {len(seeds)} seeds)", fontsize=10)  # fmt: skip
OUT.parent.mkdir(exist_ok=True)
fig.savefig(OUT.with_suffix(".png"), dpi=130)
save_json(OUT.with_suffix(".json"), out)
print(f"wrote {OUT}.png in {time.time() - t0:.0f} s")
