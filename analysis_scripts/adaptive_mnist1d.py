"""Adaptive pruning ratio against the fixed 20% of IMP-WR on MNIST-1D (this project's rule).

Each level L+1 of the adaptive run prunes c·p*(L) of the remaining weights, p*(L) the
flatness bound's predicted maximal ratio at w^(L) (``--prune-ratio adaptive
--adaptive-factor c``, docs/science.md); the fixed run prunes 20% a level. Test
accuracy against the weights remaining, mean ± std over seeds. Writes
``figures/adaptive_mnist1d.png`` and ``.json``. Run from the repository root:

    python3 analysis_scripts/adaptive_mnist1d.py [--seeds 0,1,2]
    python3 analysis_scripts/adaptive_mnist1d.py --seeds 0,1,2,3,4 --test-samples 10000 \
        --out adaptive_mnist1d_test10000                # the MLP with 10,000 test samples
    python3 analysis_scripts/adaptive_mnist1d.py --preset paul-mnist1d --fixed-levels 10 \
        --adaptive-levels 2 --adaptive-bound averaged --seeds 0,1,2,3,4 --figures figures \
        --out adaptive_paul_mnist1d                      # [PAUL]'s regime (1-D CNN, tau = 40)

About 2 minutes per seed on a 2-core CPU (one thread) for the MLP: the bound costs ~15 s a
level; for the CNN about 2-5 minutes a level of training, plus ~25 minutes a bound with
the slq estimator (1,280 products on 21,792 weights) or a tenth of that averaged.
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
FACTOR = 0.8  # c: prune c·p*(L) of the remaining weights at each level
ADAPTIVE_LEVELS = 5  # the adaptive run prunes far faster than 20% a level
FIXED_LEVELS = 12  # 0.8^12 = 6.9% of the weights
# ---------------------------------------------------------------------------------------


def _extra(parser) -> None:
    parser.add_argument("--fixed-levels", type=int, default=FIXED_LEVELS,
                        help=f"levels of the fixed-ratio run (default {FIXED_LEVELS})")  # fmt: skip
    parser.add_argument("--adaptive-levels", type=int, default=ADAPTIVE_LEVELS,
                        help=f"levels of the adaptive run (default {ADAPTIVE_LEVELS})")  # fmt: skip
    parser.add_argument("--test-samples", type=int, default=None,
                        help="MNIST-1D test samples (default: the preset's)")  # fmt: skip
    parser.add_argument("--adaptive-bound", default="slq", choices=("slq", "averaged"),
                        help="the bound's estimator in the adaptive run (default slq, as "
                        "before 2026-12-07; averaged is ~10x cheaper)")  # fmt: skip
    parser.add_argument("--out", default="adaptive_mnist1d",
                        help="record name under --figures (default adaptive_mnist1d)")  # fmt: skip


args = options(__doc__, PRESET, "adaptive_mnist1d", extra=_extra)
seeds, ROOT = args.seeds, args.root
OUT = args.figures / args.out
FIXED_LEVELS, ADAPTIVE_LEVELS = args.fixed_levels, args.adaptive_levels
t0 = time.time()
rows: dict[str, list[list[dict]]] = {"fixed 20%": [], f"adaptive c = {FACTOR}": []}
for seed in seeds:
    base = base_config(args)
    base = base.replace(seed=seed, data_seed=seed)
    if args.test_samples is not None:
        base = base.replace(test_samples=args.test_samples)
    fixed = jobs.prune(base.replace(levels=FIXED_LEVELS), root=ROOT, quiet=True)
    adaptive = jobs.prune(base.replace(levels=ADAPTIVE_LEVELS, prune_ratio="adaptive",
                                       adaptive_factor=FACTOR,
                                       adaptive_bound=args.adaptive_bound),
                          root=ROOT, quiet=True)  # fmt: skip
    rows["fixed 20%"].append(level_metrics(fixed))
    rows[f"adaptive c = {FACTOR}"].append(level_metrics(adaptive))
    print(f"seed {seed} done ({time.time() - t0:.0f} s)")

out = {"preset": args.preset, "seeds": seeds, "adaptive_factor": FACTOR, "torch": torch.__version__,
       "test_samples": base.data.test_samples, "adaptive_bound": args.adaptive_bound, "levels": {"fixed": FIXED_LEVELS, "adaptive": ADAPTIVE_LEVELS},
       "command": command_line(), "date": datetime.date.today().isoformat(),
       "seconds": time.time() - t0,
       "runs": {}}  # fmt: skip
fig, ax = plt.subplots(figsize=(6, 4))
for label, per_seed in rows.items():
    n = min(len(r) for r in per_seed)
    dens = [[r[i]["density"] for r in per_seed] for i in range(n)]
    acc = [[1 - r[i]["test_error"] for r in per_seed] for i in range(n)]
    mean_d = [100 * statistics.mean(d) for d in dens]
    mean_a = [100 * statistics.mean(a) for a in acc]
    sd_a = [100 * statistics.stdev(a) if len(a) > 1 else 0.0 for a in acc]
    out["runs"][label] = {"density": dens, "test_accuracy": acc,
                          "p_star": [[r[i].get("p_star") for r in per_seed] for i in range(n)],
                          "prune_ratio_used": [[r[i].get("prune_ratio_used") for r in per_seed]
                                               for i in range(n)]}  # fmt: skip
    ax.errorbar(mean_d, mean_a, yerr=sd_a, marker="o", ms=3, capsize=2, label=label)
ax.set_xscale("log")
ax.set_xticks(
    [
        t
        for t in (100, 50, 30, 20, 10, 5, 3)
        if t >= 0.8 * min(min(ln.get_xdata()) for ln in ax.lines)
    ]
)
ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
ax.invert_xaxis()
ax.set_xlabel("weights remaining (%, mean over seeds)")
ax.set_ylabel("test accuracy (%, mean ± std)")
ax.set_title(
    f"{args.preset}, IMP-WR, {len(seeds)} seeds, {base.data.test_samples or 1000} test "
    f"samples\nbound: {args.adaptive_bound} (torch {torch.__version__})",  # two lines: fits 6 in
    fontsize=9,
)
ax.legend(frameon=False)
fig.tight_layout()
OUT.parent.mkdir(exist_ok=True)
fig.savefig(OUT.with_suffix(".png"), dpi=150)
save_json(OUT.with_suffix(".json"), out)
print(f"wrote {OUT}.png in {time.time() - t0:.0f} s")
