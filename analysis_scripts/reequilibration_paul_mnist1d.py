"""[PAUL] §3.4 re-equilibration in the paul-mnist1d regime: IMP-WR, IMP-LRR and IMP-FT.

For each seed, three runs of preset ``paul-mnist1d`` (1-D CNN + BN, lr 0.4, 12 levels of
20%) that share one dense network: IMP-WR rewound to τ = 40 (the preset, the runs of
``regime_mnist1d.py``), IMP-LRR (keep the weights, rewind the learning-rate schedule) and
IMP-FT (keep the weights, fine-tune at the final learning rate). Then
``jobs.reequilibration`` (``landscape reequilibration WR LRR FT``) per seed, level by level:

1. "below t_L": of the weights kept at level L+1, the fraction whose magnitude after
   retraining is below t_L, the largest magnitude level L's pruning removed;
2. "overlap": the share of the next magnitude step after retraining that the projection's
   own ranking would also have removed (chance ≈ 0.20);
3. the relative projection length ρ_L with and without retraining;

drawn as mean ± sample std over seeds.

Writes ``figures/reequilibration_paul_mnist1d.json`` and ``.png``. Run from the repository
root:

    LANDSCAPE_ROOT=/tmp/regime python3 analysis_scripts/reequilibration_paul_mnist1d.py

The runs go to ``$LANDSCAPE_ROOT/regime_mnist1d``, the folder of ``regime_mnist1d.py``, so
its τ = 40 IMP-WR runs are reused; the IMP-LRR and IMP-FT runs are new (about 3 minutes
each on one thread).
"""

import datetime
import statistics
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from script_args import base_config, command_line, options

from landscape import jobs
from landscape.io import level_metrics, save_json
from landscape.specs import ReequilibrationSpec

# ----------------------------------------------------------------------------- settings
PRESET = "paul-mnist1d"  # 1-D CNN + BN, lr 0.4, 36 epochs, rewind step 40, 12 levels
METHODS = ("imp-wr", "imp-lrr", "imp-ft")
NAME = "reequilibration_paul_mnist1d"
KEYS = ("below_retrained", "below_projection", "removed_overlap", "overlap_chance",
        "projection_length", "projection_length_without_retraining",
        "median_log10_projection", "median_log10_retrained")  # fmt: skip
# ---------------------------------------------------------------------------------------


def mean_sd(values):
    """Mean and sample std of a list (None entries dropped; std 0 for one value)."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None, None
    return statistics.mean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0


args = options(
    __doc__,
    PRESET,
    "regime_mnist1d",
    extra=lambda p: p.add_argument(
        "--levels", type=int, default=12, help="levels of the IMP-LRR and IMP-FT runs"
    ),
)
seeds, ROOT, FIGURES = args.seeds, args.root, args.figures
t0 = time.time()
records, metrics, run_dirs = {}, {}, {}
for seed in seeds:
    base = base_config(args).replace(seed=seed, data_seed=seed)
    dirs = []
    for method in METHODS:
        cfg = base.replace(method=method)
        if method != "imp-wr":
            cfg = cfg.replace(levels=args.levels)
        run = jobs.prune(cfg, root=ROOT, quiet=True)
        metrics[seed, method] = level_metrics(run)
        run_dirs[seed, method] = str(run)
        dirs.append(run)
        print(f"seed {seed} {method} trained ({time.time() - t0:.0f} s)", flush=True)
    res = jobs.reequilibration(dirs, ReequilibrationSpec(), log=lambda *a, **k: None)
    records[seed] = res.record
    print(f"seed {seed} done ({time.time() - t0:.0f} s)", flush=True)

out = {
    "preset": args.preset, "methods": list(METHODS), "seeds": seeds, "levels_lrr_ft": args.levels,
    "torch": torch.__version__, "date": datetime.date.today().isoformat(),
    "command": command_line(),
    "runs": {f"seed{s}_{m}": d for (s, m), d in run_dirs.items()},
    "per_method": {},
}  # fmt: skip
for k, method in enumerate(METHODS):
    per_seed = {s: {r["level"]: r for r in records[s]["runs"][k]["levels"]} for s in seeds}
    assert all(records[s]["runs"][k]["method"] == method for s in seeds)
    levels = sorted(set.intersection(*(set(p) for p in per_seed.values())))
    entry = {"levels": levels,
             "kept_fraction": [per_seed[seeds[0]][lv]["kept_fraction"] for lv in levels],
             "test_error": {f"seed{s}": [r["test_error"] for r in metrics[s, method]]
                            for s in seeds}}  # fmt: skip
    for key in KEYS:
        rows = {f"seed{s}": [per_seed[s][lv][key] for lv in levels] for s in seeds}
        stats = [mean_sd([per_seed[s][lv][key] for s in seeds]) for lv in levels]
        entry[key] = {"per_seed": rows, "mean": [m for m, _ in stats], "std": [d for _, d in stats]}
    out["per_method"][method] = entry
out["reequilibration_seconds"] = {f"seed{s}": records[s].get("seconds") for s in seeds}
out["seconds"] = time.time() - t0
save_json(FIGURES / f"{NAME}.json", out)

fig, axes = plt.subplots(1, 4, figsize=(19, 4.2))
panels = (("below_retrained", "kept weights below t_L after retraining"),
          ("removed_overlap", "next-step overlap with the projection's ranking"),
          ("projection_length", "ρ_L with retraining (solid), without (dashed)"),
          (None, "test error (mean ± std over seeds)"))  # fmt: skip
for ax, (key, label) in zip(axes, panels):
    for method, color in zip(METHODS, ("C0", "C1", "C3")):
        e = out["per_method"][method]
        if key is None:
            errs = list(zip(*(e["test_error"][f"seed{s}"] for s in seeds)))
            x = list(range(len(errs)))
            ax.errorbar(x, [statistics.mean(c) for c in errs],
                        yerr=[statistics.stdev(c) if len(c) > 1 else 0.0 for c in errs],
                        color=color, marker="o", ms=3, capsize=2, label=method)  # fmt: skip
            continue
        x = e["levels"]
        ax.errorbar(x, e[key]["mean"], yerr=e[key]["std"], color=color, marker="o", ms=3,
                    capsize=2, label=method)  # fmt: skip
        if key == "projection_length":
            k2 = "projection_length_without_retraining"
            xs = [lv for lv, v in zip(x, e[k2]["mean"]) if v is not None]
            ys = [v for v in e[k2]["mean"] if v is not None]
            ax.plot(xs, ys, color=color, ls="--", lw=1)
        if key == "removed_overlap" and method == METHODS[0]:
            ax.plot(x, e["overlap_chance"]["mean"], color="k", ls=":", lw=1, label="chance")
    ax.set_xlabel("level L" if key is not None else "level")
    ax.set_ylabel(label)
    ax.legend(frameon=False, fontsize=8)
fig.suptitle(f"{args.preset}: re-equilibration of IMP-WR (τ = 40), IMP-LRR, IMP-FT, "
             f"{len(seeds)} seeds (mean ± sample std; torch {torch.__version__})")  # fmt: skip
fig.tight_layout()
fig.savefig(FIGURES / f"{NAME}.png", dpi=150)
print(f"wrote {FIGURES / NAME}.png in {time.time() - t0:.0f} s")
