"""[PAUL] Fig. 2 for three rewind points in the paul-mnist1d regime.

For each seed and each rewind step τ ∈ {0, 40, 200} (initialisation, one epoch, five
epochs), one IMP-WR run of preset ``paul-mnist1d`` (1-D CNN + BN, lr 0.4, 12 levels of
20%), then ``jobs.connectivity`` with the barrier matrix:

1. the test error along the straight path through successive level solutions
   (level 0 → 1 → … → 12, 11 points per segment, BatchNorm statistics recomputed at every
   point), drawn as the mean ± sample std over seeds;
2. the error barrier between every pair of levels, averaged over seeds, one matrix per τ.

Writes ``figures/connectivity_rewind_paul_mnist1d.json`` and ``.png``. Run from the
repository root:

    LANDSCAPE_ROOT=/tmp/regime python3 analysis_scripts/connectivity_rewind_paul_mnist1d.py

``--replot`` reads the JSON instead (training nothing), adds the counts of [PAUL] Fig. 2's
"barrier if and only if not matching" and Fig. 3's LCS criterion, and redraws the figure.

The runs go to ``$LANDSCAPE_ROOT/regime_mnist1d``, the same folder as
``regime_mnist1d.py`` uses, so its τ = 0 and τ = 40 runs are reused; τ = 200 trains three
new runs (a few minutes each on one thread).
"""

import datetime
import json
import statistics
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from script_args import barrier_matching_and_lcs, base_config, command_line, options, paul_epsilon

from landscape import jobs
from landscape.io import level_metrics, save_json
from landscape.plotting._common import cell_label
from landscape.specs import ConnectivitySpec

# ----------------------------------------------------------------------------- settings
PRESET = "paul-mnist1d"  # 1-D CNN + BN, lr 0.4, 36 epochs, 12 levels of 20%
REWIND_STEPS = (0, 40, 200)  # initialisation, one epoch, five epochs (40 steps per epoch)
POINTS = 11  # points per straight segment, both ends included
NAME = "connectivity_rewind_paul_mnist1d"
# ---------------------------------------------------------------------------------------


def mean_sd(columns):
    """Mean and sample std of each column (std 0 for one seed)."""
    cols = list(zip(*columns))
    return ([statistics.mean(c) for c in cols],
            [statistics.stdev(c) if len(c) > 1 else 0.0 for c in cols])  # fmt: skip


def matrix_mean(mats):
    """Element-wise mean and sample std of square matrices (None on the diagonal kept)."""
    n = len(mats[0])
    mean = [[None] * n for _ in range(n)]
    sd = [[None] * n for _ in range(n)]
    for i in range(n):
        for j in range(n):
            vals = [m[i][j] for m in mats if m[i][j] is not None]
            if vals:
                mean[i][j] = statistics.mean(vals)
                sd[i][j] = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return mean, sd


def _extra(p):
    p.add_argument("--replot", action="store_true",
                   help="redraw the figure from the JSON and add the counts, training nothing")  # fmt: skip


args = options(__doc__, PRESET, "regime_mnist1d", extra=_extra)
seeds, ROOT = args.seeds, args.root
FIGURES = args.figures
t0 = time.time()


def compute() -> dict:
    """Train (or find) the runs and measure their paths and matrices; the JSON's content."""
    records, metrics = {}, {}
    for tau in REWIND_STEPS:
        for seed in seeds:
            base = base_config(args)
            base = base.replace(seed=seed, data_seed=seed, rewind_step=str(tau))
            run = jobs.prune(base, root=ROOT, quiet=True)
            metrics[tau, seed] = level_metrics(run)
            spec = ConnectivitySpec(points=POINTS, matrix=True)
            records[tau, seed] = jobs.connectivity(run, spec, quiet=True).record
            print(f"tau {tau} seed {seed} done ({time.time() - t0:.0f} s)", flush=True)

    out = {
        "preset": args.preset, "method": "imp-wr", "rewind_steps": list(REWIND_STEPS),
        "seeds": seeds, "points_per_segment": POINTS, "split": "test", "bn_policy": "recompute",
        "torch": torch.__version__, "date": datetime.date.today().isoformat(),
        "command": command_line(),
        "per_tau": {},
    }  # fmt: skip
    for tau in REWIND_STEPS:
        recs = [records[tau, s] for s in seeds]
        path_err = [r["path"]["errors"] for r in recs]
        succ = [[seg["error_barrier"] for seg in r["segments"]] for r in recs]
        mats = [r["error_matrix"] for r in recs]
        pm, ps = mean_sd(path_err)
        sm, ss = mean_sd(succ)
        mm, ms = matrix_mean(mats)
        levels = recs[0]["labels"]
        # largest barrier from level 0 to any level, and the largest entry of the mean matrix
        off = [mm[i][j] for i in range(len(levels)) for j in range(len(levels)) if i != j]
        out["per_tau"][str(tau)] = {
            "levels": levels,
            "density": [r["density"] for r in metrics[tau, seeds[0]]],
            "level_test_error": {f"seed{s}": [r["test_error"] for r in metrics[tau, s]]
                                 for s in seeds},
            "path_position": recs[0]["path"]["position"],
            "path_error": {f"seed{s}": e for s, e in zip(seeds, path_err)},
            "path_error_mean": pm, "path_error_std": ps,
            "successive_barriers": {f"seed{s}": b for s, b in zip(seeds, succ)},
            "successive_barriers_mean": sm, "successive_barriers_std": ss,
            "max_successive_barrier": {"mean": statistics.mean(max(b) for b in succ),
                                       "std": statistics.stdev(max(b) for b in succ)
                                       if len(seeds) > 1 else 0.0},
            "error_matrix": {f"seed{s}": m for s, m in zip(seeds, mats)},
            "error_matrix_mean": mm, "error_matrix_std": ms,
            "max_matrix_barrier_of_mean": max(off),
            "barrier_0_to_last": {"mean": mm[0][-1], "std": ms[0][-1]},
            "connectivity_seconds": [r["seconds"] for r in recs],
        }  # fmt: skip
    out["seconds"] = time.time() - t0
    return out


out = json.loads((FIGURES / f"{NAME}.json").read_text()) if args.replot else compute()
seeds = out["seeds"]
# [PAUL]'s ε: the standard deviation of the dense test error over the seeds (the three
# rewind points share one dense network per seed); a level matches at dense + ε.
dense = [out["per_tau"][str(REWIND_STEPS[0])]["level_test_error"][f"seed{s}"][0] for s in seeds]
eps = paul_epsilon(dense)
matching_level = statistics.mean(dense) + eps
out["epsilon"], out["matching_level"] = eps, matching_level
for tau in REWIND_STEPS:
    d = out["per_tau"][str(tau)]
    # [PAUL] Fig. 2 "zero error barrier if and only if matching", both directions, at the
    # paper's threshold (ε) and at the 0.02 we use; Fig. 3's criterion: w^(L+1) in the
    # linearly connected sublevel set of w^(L) (barrier at most 0.02).
    d["barrier_matching"], d["lcs"] = barrier_matching_and_lcs(
        d["level_test_error"], d["successive_barriers"], eps, matching_level
    )
FIGURES.mkdir(exist_ok=True)
save_json(FIGURES / f"{NAME}.json", out)

fig, axes = plt.subplots(2, len(REWIND_STEPS), figsize=(6 * len(REWIND_STEPS), 11.5),
                         gridspec_kw={"height_ratios": [1, 1.6]})  # fmt: skip
vmax = max(max(v for row in out["per_tau"][str(t)]["error_matrix_mean"] for v in row
               if v is not None) for t in REWIND_STEPS)  # fmt: skip
for k, tau in enumerate(REWIND_STEPS):
    d = out["per_tau"][str(tau)]
    ax = axes[0, k]
    x = d["path_position"]
    m, s = d["path_error_mean"], d["path_error_std"]
    ax.plot(x, m, color="C0", lw=1.2, label="straight path (mean ± std)")
    ax.fill_between(x, [a - b for a, b in zip(m, s)], [a + b for a, b in zip(m, s)],
                    color="C0", alpha=0.25, lw=0)  # fmt: skip
    lv = d["levels"]
    em, es = mean_sd([d["level_test_error"][f"seed{s}"] for s in seeds])
    ax.errorbar(lv, [em[i] for i in lv], yerr=[es[i] for i in lv], fmt="o", color="k", ms=3,
                capsize=2, label="level solutions")  # fmt: skip
    ax.axhline(matching_level, color="k", ls=":", lw=1, label="dense + ε (matching)")
    ax.set_xticks(lv)
    ax.set_xlabel("level on the path (0 = dense)")
    ax.set_ylabel("test error (mean ± std over seeds)")
    ax.set_title(f"τ = {tau}")
    ax.set_ylim(0, max(0.3, max(a + b for a, b in zip(m, s)) * 1.05))
    ax.legend(frameon=False, loc="upper left")
    ax = axes[1, k]
    mat = [[float("nan") if v is None else v for v in row] for row in d["error_matrix_mean"]]
    im = ax.imshow(mat, vmin=0, vmax=vmax, cmap="viridis", origin="upper")
    for i, row in enumerate(mat):
        for j, v in enumerate(row):
            if i != j and v == v:
                ax.text(j, i, cell_label(v), ha="center", va="center", fontsize=6,
                        color="w" if v < 0.6 * vmax else "k")  # fmt: skip
    ax.set_xticks(lv)
    ax.set_yticks(lv)
    ax.set_xlabel("level")
    ax.set_ylabel("level")
    ax.set_title(f"τ = {tau}: error barrier, mean of {len(seeds)} seeds")
    fig.colorbar(im, ax=ax, fraction=0.046, label="error barrier (fraction of test samples)")
fig.suptitle(f"{out['preset']}, IMP-WR: successive-level paths and barrier matrices, "
             f"{len(seeds)} seeds (torch {out['torch']})")  # fmt: skip
fig.tight_layout()
fig.savefig(FIGURES / f"{NAME}.png", dpi=150)
print(f"wrote {FIGURES / NAME}.png in {time.time() - t0:.0f} s")
