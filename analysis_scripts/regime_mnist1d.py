"""Where Paul et al.'s phenomena appear on MNIST-1D: the regime of preset ``paul-mnist1d``.

For each seed, two IMP-WR runs of the 1-D CNN at lr 0.4 that differ only in the rewind
step τ (0: rewind to initialisation, the non-matching control; 40 steps = one epoch),
12 levels to 6.9% density, then:

1. matching: each level's test error against the dense error + ε, with ε the standard
   deviation of the dense test error over seeds (Paul's definition);
2. stability: the instability test of level 0 at τ = 0, 40, 200 (two copies from w_τ
   with different SGD noise, their error barrier) — its onset;
3. the error barrier between successive levels on both runs (where levels stop matching,
   a barrier should appear);
4. SWAMP against IMP-WR is not part of this script (see swamp_vs_imp.py).

Writes ``figures/regime_paul_mnist1d.json`` and ``.png``. Run from the repository root:

    python3 analysis_scripts/regime_mnist1d.py [--seeds 0,1,2]

About 5 minutes per seed on an idle 2-core CPU (one thread); runs go to
``$LANDSCAPE_ROOT/regime_mnist1d`` and a repeated call reuses every finished piece.
``--replot`` reads the JSON instead (training nothing), adds the counts of [PAUL] Fig. 2's
"barrier if and only if not matching" and Fig. 3's LCS criterion, and redraws the figure.
"""

import json
import statistics
import time

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from script_args import (
    BARRIER,
    barrier_matching_and_lcs,
    base_config,
    command_line,
    options,
    paul_epsilon,
)

from landscape import jobs
from landscape.io import level_metrics, save_json
from landscape.specs import ConnectivitySpec, InstabilitySpec

# ----------------------------------------------------------------------------- settings
PRESET = "paul-mnist1d"  # 1-D CNN, lr 0.4, 36 epochs, rewind step 40, 12 levels
REWIND_STEPS = (0, 40)  # τ = 0 (control) and one epoch
SCAN = "0,40,200"  # rewind steps of the level-0 stability scan
# ---------------------------------------------------------------------------------------


def _extra(p):
    p.add_argument("--replot", action="store_true",
                   help="redraw the figure from the JSON and add the counts, training nothing")  # fmt: skip


args = options(__doc__, PRESET, "regime_mnist1d", extra=_extra)
seeds, ROOT = args.seeds, args.root
FIGURES = args.figures
t0 = time.time()


def compute() -> dict:
    """Train (or find) the runs and measure them; the JSON's content."""
    runs, scans, paths_ = {}, {}, {}
    for seed in seeds:
        base = base_config(args)
        base = base.replace(seed=seed, data_seed=seed)
        for tau in REWIND_STEPS:
            run = jobs.prune(base.replace(rewind_step=str(tau)), root=ROOT, quiet=True)
            runs[seed, tau] = level_metrics(run)
            paths_[seed, tau] = jobs.connectivity(
                run, ConnectivitySpec(matrix=False), quiet=True
            ).record
            if tau == 0:
                scans[seed] = jobs.instability(run, InstabilitySpec(level=0, rewind_steps=SCAN),
                                               quiet=True).record  # fmt: skip
        print(f"seed {seed} done ({time.time() - t0:.0f} s)")

    dense = [runs[s, 0][0]["test_error"] for s in seeds]
    eps = paul_epsilon(dense)
    out = {"preset": args.preset, "seeds": seeds, "dense_test_error": dense, "epsilon": eps,
           "torch": torch.__version__, "command": command_line(),
           "seconds": time.time() - t0, "runs": {}}  # fmt: skip
    for (seed, tau), rows in runs.items():
        ref = statistics.mean(dense) + eps
        first_fail = next((r["level"] for r in rows if r["test_error"] > ref), None)
        out["runs"][f"seed{seed}_tau{tau}"] = {
            "density": [r["density"] for r in rows],
            "test_error": [r["test_error"] for r in rows],
            "first_level_not_matching": first_fail,
            "successive_barriers": [seg["error_barrier"] for seg in paths_[seed, tau]["segments"]],
        }
    out["instability_scan"] = {f"seed{s}": {"rewind_steps": scans[s]["rewind_steps"],
                                            "error_barriers": scans[s]["error_barriers"],
                                            "onset": scans[s]["onset"]} for s in seeds}  # fmt: skip
    return out


out = json.loads((FIGURES / "regime_paul_mnist1d.json").read_text()) if args.replot else compute()
seeds, dense, eps = out["seeds"], out["dense_test_error"], out["epsilon"]
matching_level = statistics.mean(dense) + eps
# [PAUL] Fig. 2 "zero error barrier if and only if matching", both directions, at the
# paper's threshold (ε, the std of the dense error over seeds) and at the 0.02 we use;
# [PAUL] Fig. 3's criterion per level: w^(L+1) in the LCS of w^(L) (barrier at most 0.02).
out["barrier_matching"], out["lcs"] = {}, {}
for tau in REWIND_STEPS:
    runs_ = {f"seed{s}": out["runs"][f"seed{s}_tau{tau}"] for s in seeds}
    out["barrier_matching"][str(tau)], out["lcs"][str(tau)] = barrier_matching_and_lcs(
        {n: r["test_error"] for n, r in runs_.items()},
        {n: r["successive_barriers"] for n, r in runs_.items()}, eps, matching_level,
    )  # fmt: skip
FIGURES.mkdir(exist_ok=True)
save_json(FIGURES / "regime_paul_mnist1d.json", out)

fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(14, 4))
for tau, color in zip(REWIND_STEPS, ("C3", "C0")):
    errs = [out["runs"][f"seed{s}_tau{tau}"]["test_error"] for s in seeds]
    dens = [100 * d for d in out["runs"][f"seed{seeds[0]}_tau{tau}"]["density"]]
    mean = [statistics.mean(c) for c in zip(*errs)]
    sd = [statistics.stdev(c) if len(c) > 1 else 0.0 for c in zip(*errs)]
    a1.errorbar(dens, mean, yerr=sd, color=color, marker="o", ms=3, capsize=2, label=f"τ = {tau}")
    bars = [[seg for seg in out["runs"][f"seed{s}_tau{tau}"]["successive_barriers"]] for s in seeds]
    bm = [statistics.mean(c) for c in zip(*bars)]
    bs = [statistics.stdev(c) if len(c) > 1 else 0.0 for c in zip(*bars)]
    a2.errorbar(dens[1:], bm, yerr=bs, color=color, marker="o", ms=3, capsize=2, label=f"τ = {tau}")
a1.axhline(matching_level, color="k", ls=":", lw=1, label="dense + ε (matching)")
a2.axhline(BARRIER, color="gray", ls="--", lw=1, label=f"{BARRIER} (our barrier threshold)")
a2.axhline(eps, color="k", ls=":", lw=1, label=f"ε = {eps:.4f} ([PAUL]'s threshold)")
for ax in (a1, a2):
    ax.set_xscale("log")
    ax.set_xticks([100, 50, 25, 12.5, 6.9])
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.invert_xaxis()
    ax.set_xlabel("weights remaining (%)")
    ax.legend(frameon=False, fontsize=8)
a2.set_ylim(top=a2.get_ylim()[1] * 1.35)  # room for the legend above the data
a1.set_ylabel("test error (mean ± std over seeds)")
a2.set_ylabel("error barrier, level L-1 → L")
scans = out["instability_scan"]
steps = scans[f"seed{seeds[0]}"]["rewind_steps"]
sm = [statistics.mean(c) for c in zip(*(scans[f"seed{s}"]["error_barriers"] for s in seeds))]
ss = [
    statistics.stdev(c) if len(seeds) > 1 else 0.0
    for c in zip(*(scans[f"seed{s}"]["error_barriers"] for s in seeds))
]
a3.errorbar([max(t, 1) for t in steps], sm, yerr=ss, marker="o", capsize=2)
a3.set_xscale("log")
a3.set_xlabel("rewind step τ (0 drawn at 1)")
a3.set_ylabel("instability: error barrier of level 0")
fig.suptitle(f"{out['preset']}, IMP-WR, {len(seeds)} seeds (torch {out['torch']})")
fig.tight_layout()
fig.savefig(FIGURES / "regime_paul_mnist1d.png", dpi=150)
print(f"wrote {FIGURES / 'regime_paul_mnist1d.png'} in {time.time() - t0:.0f} s")
