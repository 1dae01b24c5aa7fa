"""Curve against line (Garipov et al. 2018): are networks with a linear barrier joined by a
low-loss curve? In the paul-mnist1d regime at τ = 0, where the straight line has barriers.

For each seed, one IMP-WR run of the 1-D CNN at lr 0.4 rewound to initialisation (τ = 0,
the setting where successive levels have linear error barriers of 0.04–0.18,
docs/results.md), then a trained Bezier curve with one bend (``jobs.curve``, ``EPOCHS``
epochs, the run's SGD settings) next to the straight line:

1. between the dense networks of two seeds (independent initialisation and data order):
   seed pairs (0, 1), (1, 2), (2, 0);
2. between successive IMP levels L → L + 1 of each seed (levels 0 … ``LEVELS``), the bends
   kept in the union of the two masks (here level L's mask, which holds level L + 1's).

Writes ``figures/curves_mnist1d.json`` (every number below) and ``.png``. Run from the
repository root:

    python3 analysis_scripts/curves_mnist1d.py [--seeds 0,1,2]

Runs go to ``$LANDSCAPE_ROOT/curves_mnist1d`` and a repeated call reuses every finished run
and curve.
"""

import statistics
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from script_args import base_config, command_line, options

from landscape import jobs
from landscape.io import save_json
from landscape.specs import CurveSpec

# ----------------------------------------------------------------------------- settings
PRESET = "paul-mnist1d"  # 1-D CNN with BatchNorm, lr 0.4, 36 epochs a level
REWIND = "0"  # τ = 0: the linearly unstable control, where the line has barriers
LEVELS = 1  # IMP levels 0 … LEVELS: LEVELS successive pairs per seed (the shared CPU's budget)
EPOCHS = 10  # curve training (a level trains 36 epochs; 10 fit the shared CPU's budget)
SPEC = CurveSpec(kind="bezier", bends=1, epochs=EPOCHS, points=11)
T95 = {2: 4.303, 3: 3.182, 4: 2.776}  # Student t, two-sided 95%, by degrees of freedom
# ---------------------------------------------------------------------------------------

args = options(__doc__, PRESET, "curves_mnist1d")
seeds, ROOT, FIGURES = args.seeds, args.root, args.figures
t0 = time.time()
runs = {}
for seed in seeds:
    cfg = base_config(args).replace(seed=seed, data_seed=seed, rewind_step=REWIND, levels=LEVELS)
    runs[seed] = jobs.prune(cfg, root=ROOT, quiet=True)
    print(f"seed {seed}: run {runs[seed]} ({time.time() - t0:.0f} s)")


def measure(a, b) -> dict:
    t = time.time()
    rec = jobs.curve(a, b, SPEC, log=lambda m: None).record
    return {"line": rec["line"], "curve": rec["curve"], "ts": rec["ts"],
            "line_error_barrier": rec["line_error_barrier"], "error_barrier": rec["error_barrier"],
            "line_loss_barrier": rec["line_loss_barrier"], "loss_barrier": rec["loss_barrier"],
            "seconds": time.time() - t, "seconds_per_epoch": rec["seconds_per_epoch"]}  # fmt: skip


pairs = {"dense_seeds": [], "imp_levels": []}
for i, s in enumerate(seeds):
    o = seeds[(i + 1) % len(seeds)]
    pairs["dense_seeds"].append(
        {"seeds": [s, o], **measure(runs[s] / "level_00", runs[o] / "level_00")}
    )
    print(f"dense seed {s} → {o}: line {pairs['dense_seeds'][-1]['line_error_barrier']:.3f}, "
          f"curve {pairs['dense_seeds'][-1]['error_barrier']:.3f} ({time.time() - t0:.0f} s)")  # fmt: skip
for s in seeds:
    for lv in range(LEVELS):
        m = measure(runs[s] / f"level_{lv:02d}", runs[s] / f"level_{lv + 1:02d}")
        pairs["imp_levels"].append({"seed": s, "levels": [lv, lv + 1], **m})
        print(f"seed {s} level {lv} → {lv + 1}: line {m['line_error_barrier']:.3f}, "
              f"curve {m['error_barrier']:.3f} ({time.time() - t0:.0f} s)")  # fmt: skip


def interval(diffs: list[float]) -> dict:
    """Mean ± sample std and the 95% t-interval of paired differences (n = len(diffs))."""
    n = len(diffs)
    mean = statistics.mean(diffs)
    sd = statistics.stdev(diffs) if n > 1 else 0.0
    half = T95.get(n - 1, 1.96) * sd / n**0.5 if n > 1 else float("nan")
    return {"n": n, "mean": mean, "std": sd, "ci95": [mean - half, mean + half]}


summary = {}
for group, rows in pairs.items():
    if group == "imp_levels":  # pairs of one seed are not independent: one number per seed
        by_seed = {s: [r for r in rows if r["seed"] == s] for s in seeds}
        unit = [{k: statistics.mean(r[k] for r in rs) for k in
                 ("line_error_barrier", "error_barrier", "line_loss_barrier", "loss_barrier")}
                for rs in by_seed.values()]  # fmt: skip
    else:
        unit = rows
    summary[group] = {
        "unit": "seed (mean over its level pairs)" if group == "imp_levels" else "seed pair",
        **{k: [r[k] for r in unit] for k in
           ("line_error_barrier", "error_barrier", "line_loss_barrier", "loss_barrier")},
        "error_barrier_line_minus_curve": interval(
            [r["line_error_barrier"] - r["error_barrier"] for r in unit]),
        "loss_barrier_line_minus_curve": interval(
            [r["line_loss_barrier"] - r["loss_barrier"] for r in unit]),
    }  # fmt: skip

epoch_s = [s for rows in pairs.values() for r in rows for s in r["seconds_per_epoch"]]
out = {"preset": args.preset, "seeds": seeds, "rewind_step": REWIND, "levels": LEVELS,
       "curve": {"kind": SPEC.kind, "bends": SPEC.bends, "epochs": SPEC.epochs,
                 "points": SPEC.points, "lr": "the run's (0.4), Garipov's schedule",
                 "bn_policy": SPEC.engine.bn_policy, "mask_policy": SPEC.mask_policy},
       "pairs": pairs, "summary": summary, "median_curve_epoch_seconds": statistics.median(epoch_s),
       "torch": torch.__version__, "command": command_line(),
       "date": time.strftime("%Y-%m-%d", time.gmtime()), "seconds": time.time() - t0}  # fmt: skip
save_json(FIGURES / "curves_mnist1d.json", out)

# ----------------------------------------------------------------------------- figure
fig, axes = plt.subplots(2, 3, figsize=(14, 7.2))
titles = {
    "dense_seeds": "dense networks of two seeds",
    "imp_levels": "successive IMP levels, τ = 0",
}
for col, group in enumerate(("dense_seeds", "imp_levels")):
    rows = pairs[group]
    ts = np.asarray(rows[0]["ts"])
    for row, (key, what) in enumerate((("errors", "test error"), ("losses", "test loss"))):
        ax = axes[row, col]
        for path, color, name in (
            ("line", "gray", "straight line"),
            ("curve", "C0", "Bezier curve"),
        ):
            v = np.array([r[path][key] for r in rows])
            m, sd = v.mean(0), v.std(0, ddof=1)
            ax.plot(ts, m, "o-" if path == "curve" else "o--", ms=3, color=color,
                    label=f"{name} (mean ± std, {len(rows)} pairs)")  # fmt: skip
            ax.fill_between(ts, m - sd, m + sd, color=color, alpha=0.2, lw=0)
        ax.set_xlabel("t  (0: first network, 1: second)")
        ax.set_ylabel(what + (" (cross-entropy)" if key == "losses" else ""))
        ax.set_title(titles[group], fontsize=10)
        ax.legend(frameon=False, fontsize=8)
for row, (key, what) in enumerate((("error_barrier", "error barrier"),
                                   ("loss_barrier", "loss barrier"))):  # fmt: skip
    ax = axes[row, 2]
    for x0, group, color in ((0, "dense_seeds", "C3"), (2, "imp_levels", "C2")):
        for r in pairs[group]:
            ax.plot([x0, x0 + 1], [r[f"line_{key}"], r[key]], "o-", color=color, alpha=0.6, ms=4)
    ax.set_xticks([0, 1, 2, 3], ["line", "curve", "line", "curve"])
    ax.set_xlim(-0.5, 3.5)
    ax.set_xlabel("dense seed pairs (red)  ·  IMP level pairs (green)")
    ax.set_ylabel(f"{what} (one line per pair)")
    s = summary
    ax.set_title(f"line − curve: dense {s['dense_seeds'][key + '_line_minus_curve']['mean']:.3f}, "
                 f"IMP {s['imp_levels'][key + '_line_minus_curve']['mean']:.3f}", fontsize=10)  # fmt: skip
fig.suptitle(f"{args.preset}, τ = 0: trained Bezier curve (1 bend, {EPOCHS} epochs) against the "
             f"straight line, {len(seeds)} seeds (torch {torch.__version__})")  # fmt: skip
fig.tight_layout()
fig.savefig(FIGURES / "curves_mnist1d.png", dpi=150)
print(f"wrote {FIGURES / 'curves_mnist1d.png'} in {time.time() - t0:.0f} s")
