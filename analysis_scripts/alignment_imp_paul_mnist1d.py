"""Are different seeds' IMP solutions one basin modulo permutation, and do their masks
overlap more once the units are aligned? (paul-mnist1d regime, τ = 0 and τ = 200)

Entezari et al. (2022) conjecture that SGD solutions are linearly connected once the
permutation symmetry of hidden units is accounted for; Ainsworth et al. (2023) find this
for wide enough networks. For IMP, the sparse re-basin question is whether the winning
tickets of different seeds are one solution up to a permutation — then aligning the units
should both remove the barrier between seeds and raise the overlap of their masks.

For each rewind step τ ∈ {0, 200} (initialisation; five epochs, past the onset of
stability at one epoch in this regime) three IMP-WR runs of preset ``paul-mnist1d``
(1-D CNN + BatchNorm, lr 0.4), seeds 0, 1, 2 (initialisation and data order); at every
level the runs share, ``jobs.connectivity_across`` with weight matching and with
activation matching: for each pair of seeds the error barrier of the straight path between
the two level-L solutions (test split, 11 points, BatchNorm statistics recomputed at every
point — REPAIR for BatchNorm networks), raw and aligned, and the masks' IoU before and
after aligning.

Writes ``figures/alignment_imp_paul_mnist1d.json`` and ``.png``. Run from the repository
root:

    LANDSCAPE_ROOT=/tmp/align_runs python3 analysis_scripts/alignment_imp_paul_mnist1d.py --levels 12

(runs go to ``$LANDSCAPE_ROOT/alignment_paul_mnist1d``; finished levels and results are
reused; ``--levels`` is the last level trained and compared; ``--replot`` redraws the figure
from the JSON, computing nothing).
"""

import datetime
import json
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from script_args import base_config, command_line, mean_sd, options, paired_interval

from landscape import jobs, paths
from landscape.io import level_metrics, save_json
from landscape.runs import run_dir_of
from landscape.specs import ConnectivitySpec

# ----------------------------------------------------------------------------- settings
PRESET = "paul-mnist1d"  # 1-D CNN + BN, lr 0.4, 36 epochs, levels of 20%
REWIND_STEPS = (0, 200)  # initialisation; five epochs (40 steps an epoch), past the onset
METHODS = ("weight", "activation")
POINTS = 11
NAME = "alignment_imp_paul_mnist1d"
# ---------------------------------------------------------------------------------------


def extra(p):
    p.add_argument("--levels", type=int, default=12, help="last IMP level (default 12)")
    p.add_argument("--replot", action="store_true",
                   help="redraw the figure from the JSON, computing nothing")  # fmt: skip


def off_diagonal(m):
    return [m[i][j] for i in range(len(m)) for j in range(i + 1, len(m))]


def paired(a, b):
    """Mean of a − b over the pairs, with a 95% t interval (the pairs share seeds: indicative)."""
    d = [x - y for x, y in zip(a, b)]
    m, half = paired_interval(d)
    return {"mean": m, "ci95": [m - half, m + half]}


args = options(__doc__, PRESET, "alignment_paul_mnist1d", extra=extra)
seeds, ROOT, FIGURES = args.seeds, args.root, args.figures
t0 = time.time()


def compute() -> dict:
    """Train (or reuse) the runs, compare the seeds level by level, write the JSON."""
    out = {
        "preset": args.preset, "method": "imp-wr", "rewind_steps": list(REWIND_STEPS),
        "seeds": seeds, "levels_requested": args.levels, "points": POINTS, "split": "test",
        "bn_policy": "recompute", "torch": torch.__version__,
        "date": datetime.date.today().isoformat(),
        "command": command_line(),
        "per_tau": {},
    }  # fmt: skip
    for tau in REWIND_STEPS:
        runs = []
        for seed in seeds:
            cfg = base_config(args).replace(seed=seed, data_seed=seed, rewind_step=str(tau),
                                            levels=args.levels)  # fmt: skip
            run = run_dir_of(cfg, root=ROOT)
            if not set(range(args.levels + 1)) <= set(paths.levels(run)):  # else: read, not locked
                run = jobs.prune(cfg, root=ROOT, quiet=True)
            runs.append(run)
        # one result per level and method, so that a call with more levels reuses the earlier ones
        levels = list(range(args.levels + 1))
        recs = {(m, lv): jobs.connectivity_across(runs, ConnectivitySpec(levels=str(lv),
                                                                         points=POINTS, align=m),
                                                  quiet=True).record
                for lv in levels for m in METHODS}  # fmt: skip
        per_level = {}
        for lv in levels:
            raw = recs[METHODS[0], lv]["per_level"][0]
            d = {"density": raw["density"],
                 "test_error": {f"seed{s}": level_metrics(r)[lv]["test_error"]
                                for s, r in zip(seeds, runs)},
                 "error_barrier_raw": off_diagonal(raw["error_matrix_raw"]),
                 "loss_barrier_raw": off_diagonal(raw["loss_matrix_raw"]),
                 "mask_iou_raw": off_diagonal(raw["mask_iou_raw"])}  # fmt: skip
            for m in METHODS:
                p = recs[m, lv]["per_level"][0]
                d[f"error_barrier_{m}"] = off_diagonal(p["error_matrix_aligned"])
                d[f"loss_barrier_{m}"] = off_diagonal(p["loss_matrix_aligned"])
                d[f"mask_iou_{m}"] = off_diagonal(p["mask_iou_aligned"])
                d["distance_raw"] = off_diagonal(p["distance_raw"])
                d[f"distance_{m}"] = off_diagonal(p["distance_aligned"])
                d[f"raw_minus_{m}_error_barrier"] = paired(d["error_barrier_raw"],
                                                           d[f"error_barrier_{m}"])  # fmt: skip
                d[f"{m}_minus_raw_mask_iou"] = paired(d[f"mask_iou_{m}"], d["mask_iou_raw"])
            for key in [
                k2 for k2 in d if k2.startswith(("error_barrier", "mask_iou", "loss_barrier"))
            ]:
                d[f"{key}_mean_sd"] = mean_sd(d[key])
            per_level[str(lv)] = d
        out["per_tau"][str(tau)] = {"runs": [str(r) for r in runs], "levels": levels,
                                    "per_level": per_level,
                                    "seconds": {f"{m} level {lv}": recs[m, lv]["seconds"]
                                                for m, lv in recs}}  # fmt: skip
        print(f"tau {tau} done ({time.time() - t0:.0f} s)", flush=True)
    out["seconds"] = time.time() - t0
    save_json(FIGURES / f"{NAME}.json", out)
    return out


out = json.loads((FIGURES / f"{NAME}.json").read_text()) if args.replot else compute()
seeds = out["seeds"]

fig, axes = plt.subplots(2, len(REWIND_STEPS), figsize=(5.5 * len(REWIND_STEPS), 7.5),
                         squeeze=False, sharey="row")  # fmt: skip
styles = {"raw": ("k", "o", "raw"), "weight": ("C0", "s", "weight matching"),
          "activation": ("C1", "^", "activation matching")}  # fmt: skip
for col, tau in enumerate(REWIND_STEPS):
    d = out["per_tau"][str(tau)]
    lv = d["levels"]
    for row, (what, ylabel) in enumerate((("error_barrier", "test error barrier between seeds"),
                                          ("mask_iou", "mask IoU between seeds"))):  # fmt: skip
        ax = axes[row, col]
        for key, (color, marker, name) in styles.items():
            vals = [d["per_level"][str(v)][f"{what}_{key}_mean_sd"] for v in lv]
            ax.errorbar(lv, [v[0] for v in vals], yerr=[v[1] for v in vals], color=color,
                        marker=marker, ms=4, capsize=2, label=name)  # fmt: skip
        if what == "mask_iou":  # two independent random masks of density p: p / (2 - p)
            dens = [d["per_level"][str(v)]["density"] for v in lv]
            ax.plot(lv, [q / (2 - q) for q in dens], color="0.5", ls=":",
                    label="independent random masks")  # fmt: skip
        ax.set_xticks(lv)
        ax.set_xlabel("IMP level (density 0.8^level)")
        ax.set_ylabel(f"{ylabel}\n(mean ± std over {len(seeds)} pairs)")
        ax.set_title(f"τ = {tau}")
        ax.set_ylim(bottom=0)
        ax.legend(frameon=False, fontsize=8)
fig.suptitle(f"{out['preset']}, IMP-WR, {len(seeds)} seeds: barriers and mask overlap between "
             f"seeds, raw and aligned (torch {torch.__version__}, {out['date']})", fontsize=10)  # fmt: skip
fig.tight_layout()
fig.savefig(FIGURES / f"{NAME}.png", dpi=150)
print(f"wrote {FIGURES / NAME}.png in {time.time() - t0:.0f} s")
