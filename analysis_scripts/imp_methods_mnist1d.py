"""IMP-WR, IMP-LRR and IMP-FT side by side on MNIST-1D, per seed, with a chosen test-set size.

The runs of docs/results.md "IMP-WR, IMP-LRR and IMP-FT side by side" (preset
``mlp-mnist1d``: 10 levels of 20% global magnitude pruning, rewind step 200, the three
methods of a seed sharing one dense run), for more seeds and a larger generated test set
(``--test-samples``, docs/science.md "Test-set size"), so the per-seed paired differences
FT − WR and FT − LRR ([ZIMMER] §4, [PAUL] §3.4) can be told from test-sample noise.
Same seed = same initialisation and data order in every arm. Writes
``figures/imp_methods_mnist1d_test<N>.{png,json}`` (N = the test-set size; 0 = the
package's own 1,000-sample split) with every seed's test accuracy per level. Run from the
repository root:

    python3 analysis_scripts/imp_methods_mnist1d.py --seeds 0,1,2,3,4 --test-samples 10000

About 15 s a run on a 2-core CPU (one thread), three runs a seed; a repeated call reuses
every finished run.
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

# ----------------------------------------------------------------------------- settings
PRESET = "mlp-mnist1d"
METHODS = ("imp-wr", "imp-lrr", "imp-ft")
# ---------------------------------------------------------------------------------------


def _extra(parser):
    parser.add_argument("--test-samples", type=int, default=10000,
                        help="generated MNIST-1D test samples (0: the package's 1,000)")  # fmt: skip


args = options(__doc__, PRESET, "imp_methods_mnist1d", seeds="0,1,2,3,4", extra=_extra)
OUT = args.figures / f"imp_methods_mnist1d_test{args.test_samples}"
t0 = time.time()
base = base_config(args).replace(test_samples=args.test_samples)
per_seed: dict[str, list[list[dict]]] = {m: [] for m in METHODS}
for seed in args.seeds:
    for m in METHODS:
        run = jobs.prune(base.replace(method=m, seed=seed, data_seed=seed), root=args.root,
                         quiet=True)  # fmt: skip
        per_seed[m].append(level_metrics(run))
    print(f"seed {seed} done ({time.time() - t0:.0f} s)", flush=True)

n_levels = min(len(r) for rows in per_seed.values() for r in rows)
test_n = {r[0].get("test_samples") for rows in per_seed.values() for r in rows}
out = {
    "preset": args.preset, "seeds": args.seeds, "test_samples": sorted(test_n),
    "torch": torch.__version__, "date": datetime.date.today().isoformat(),
    "command": command_line(),
    "seconds": time.time() - t0,
    "density": [per_seed["imp-wr"][0][i]["density"] for i in range(n_levels)],
    # runs[method]["test_accuracy"][level][seed index]: the per-seed values the paired
    # differences are taken over (seed index i is seed seeds[i] in every method)
    "runs": {m.upper(): {"test_accuracy": [[1 - r[i]["test_error"] for r in rows]
                                           for i in range(n_levels)]}
             for m, rows in per_seed.items()},
}  # fmt: skip
save_json(OUT.with_suffix(".json"), out)

fig, ax = plt.subplots(figsize=(6, 4))
for m, rec in out["runs"].items():
    acc = rec["test_accuracy"]
    mean = [100 * statistics.mean(a) for a in acc]
    sd = [100 * statistics.stdev(a) if len(a) > 1 else 0.0 for a in acc]
    ax.errorbar([100 * d for d in out["density"]], mean, yerr=sd, marker="o", ms=3, capsize=2,
                label=m)  # fmt: skip
ax.set_xscale("log")
ax.invert_xaxis()
ax.set_xlabel("weights remaining (%)")
ax.set_ylabel("test accuracy (%, mean ± std over seeds)")
ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
ax.set_title(f"{args.preset}, {len(args.seeds)} seeds, "
             f"{', '.join(f'{n:,}' for n in out['test_samples'])} test samples "
             f"(torch {torch.__version__})", fontsize=9)  # fmt: skip
ax.legend(frameon=False)
fig.tight_layout()
fig.savefig(OUT.with_suffix(".png"), dpi=150)
print(f"wrote {OUT}.png and .json in {time.time() - t0:.0f} s")
