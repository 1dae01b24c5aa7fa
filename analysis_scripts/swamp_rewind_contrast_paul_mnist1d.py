"""SWAMP from before and after the stability onset: paired differences per level [SWAMP Fig. 3].

Reads the JSON of ``swamp_vs_imp.py`` for several rewind points (e.g. τ = 200, past the
onset of linear mode connectivity measured in docs/results.md, and τ = 40, before it) and
draws, level by level, the paired differences over seeds with their 95% t intervals:
SWAMP's averaged network − IMP-WR, and the average − the mean of its own particles (test
error, percentage points; below zero: the first is better). Computes nothing new.

    python3 analysis_scripts/swamp_rewind_contrast_paul_mnist1d.py \\
        figures/swamp_paul_mnist1d_tau200.json figures/swamp_paul_mnist1d_tau40_test10k.json \\
        --out figures/swamp_rewind_contrast_paul_mnist1d
"""

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("inputs", nargs="+", help="swamp_vs_imp.py JSON files, one per τ")
parser.add_argument("--out", default="figures/swamp_rewind_contrast_paul_mnist1d")
parser.add_argument("--preset", default=None,
                    help="only a check: every input must be of this preset (default: any)")  # fmt: skip
args = parser.parse_args()

fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained", sharey=True)
keys = (("swamp_minus_imp_wr_error", "SWAMP (average) − IMP-WR"),
        ("average_minus_particle_mean_error", "SWAMP's average − mean of its particles"))  # fmt: skip
densities: set[float] = set()
for j, path in enumerate(args.inputs):
    with open(path) as fh:
        r = json.load(fh)
    s = r["settings"]
    if args.preset and s["preset"] != args.preset:
        raise SystemExit(f"{path} is of preset {s['preset']!r}, not --preset {args.preset}")
    x = [100 * row["density"] for row in r["levels"]]
    densities |= {round(v, 1) for v in x}
    for ax, (key, title) in zip(axes, keys):
        m = [100 * row[key][0] for row in r["levels"]]
        lo = [100 * (row[key][0] - row[key][1]) for row in r["levels"]]
        hi = [100 * (row[key][2] - row[key][0]) for row in r["levels"]]
        ax.errorbar([v * (1 + 0.02 * j) for v in x], m, yerr=[lo, hi], marker="os^"[j % 3],
                    capsize=3, color=f"C{j}",
                    label=f"τ = {s['rewind_step']} ({len(s['seeds'])} seeds)")  # fmt: skip
        ax.set_title(title, fontsize=10)
for ax in axes:
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xticks(sorted(densities), [f"{t:g}" for t in sorted(densities)])
    ax.minorticks_off()
    ax.set_xlim(max(densities) * 1.12, min(densities) / 1.12)  # decreasing to the right
    ax.set_xlabel("weights remaining (%)")
    ax.legend(frameon=False, fontsize=8)
axes[0].set_ylabel("test error difference (percentage points)\nmean over seeds, 95% t interval")
fig.suptitle(f"{r['settings']['preset']}: paired differences per level (below 0: the first is "
             "better)", fontsize=10)  # fmt: skip
fig.savefig(f"{args.out}.png", dpi=150)
print(f"wrote {args.out}.png")
