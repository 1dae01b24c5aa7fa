"""[ZIMMER] multi-phase IMP per retraining schedule, and BIMP against IMP at equal budgets.

Part A (schedules): for every seed, the dense MLP of preset ``mlp-mnist1d`` (36 epochs,
step schedule) is pruned in J = 5 phases to 95% sparsity (each phase removes 45% of the
remaining weights) with ``--method imp``, each phase retrained for E_p epochs with one of
FT, LRW, SLR, CLR, LLR, ALLR; E_p = 2 (short) and 8 (long). One curve of test accuracy
against density per schedule.

Part B (equal budgets): J = 4 phases to 90% sparsity; a total budget of B epochs, counted
as dense epochs plus every retraining epoch:

- IMP-FT, IMP-LLR, IMP-ALLR: the full 36-epoch dense run, then 4 phases of E_p epochs,
  B = 36 + 4·E_p;
- BIMP, same split: ``--method bimp --budget-epochs B --retrain-epochs 4·E_p``, dense for
  36 epochs with a linear decay to 0, then 4 ALLR phases of E_p epochs;
- BIMP, ~half: ``--budget-epochs B --retrain-epochs R`` with R = B/2 rounded down to a
  multiple of 4 (20, 24, 36 epochs): the budget split about evenly between the dense
  phase and the ALLR phases.

FT and LRW coincide when E_p is at most 6 epochs (the dense schedule's last 6 epochs run at
its final LR, so replaying them is fine-tuning): FT is drawn thick, LRW dashed on top.

with E_p = 1, 4, 10 (B = 40, 52, 76). Writes ``figures/zimmer_phases_mnist1d.json`` and
``.png`` (mean ± sample std over seeds). Run from the repository root:

    python3 analysis_scripts/zimmer_phases_mnist1d.py [--seeds 0,1,2] [--root runs/zimmer]
    python3 analysis_scripts/zimmer_phases_mnist1d.py --preset cnn1d-mnist1d \
        --out figures/zimmer_phases_cnn1d_mnist1d          # the 1-D CNN with BatchNorm
    python3 analysis_scripts/zimmer_phases_mnist1d.py --seeds 0,1,2,3,4 --test-samples 10000

``--test-samples N`` evaluates on N generated MNIST-1D test samples instead of the
package's 1,000 (docs/science.md "Test-set size"; training is unchanged, so the same
seeds train the same networks); the output then defaults to ``<out>_test<N>``, so the
committed 1,000-sample record is never overwritten.

Runs land in ``--root``; a repeated call reuses every finished run.
"""

import argparse
import datetime
import statistics
import time
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from script_args import command_line

from landscape import jobs
from landscape.hparams import PRESETS, RunConfig
from landscape.io import level_metrics, save_json

# ----------------------------------------------------------------------------- settings
PRESET = "mlp-mnist1d"  # 40-100-100-10 MLP, 36 epochs, lr 0.1 → 0.01 → 0.001
DENSE_EPOCHS = 36
SCHEDULES = ["ft", "lrw", "slr", "clr", "llr", "allr"]
A_PHASES, A_GOAL, A_EPOCHS = 5, 0.95, [2, 8]  # part A: J, goal sparsity, E_p
B_PHASES, B_GOAL, B_EPOCHS = 4, 0.9, [1, 4, 10]  # part B: J, goal sparsity, E_p
FIGURES = Path("figures")
NAME = "zimmer_phases_mnist1d"
# ---------------------------------------------------------------------------------------

parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
parser.add_argument("--seeds", default="0,1,2", help="seeds (init and data order)")
parser.add_argument("--root", default="runs/zimmer", help="where the runs go")
parser.add_argument("--preset", default=PRESET, choices=("mlp-mnist1d", "cnn1d-mnist1d"),
                    help="dense recipe (both: 36 epochs, step schedule)")  # fmt: skip
parser.add_argument("--out", default=None,
                    help=f"output path without extension (default: {FIGURES / NAME}, "
                    "with _test<N> appended under --test-samples N)")  # fmt: skip
parser.add_argument("--test-samples", type=int, default=0,
                    help="generated MNIST-1D test samples (0: the package's 1,000)")  # fmt: skip
args = parser.parse_args()
PRESET = args.preset
OUT = Path(args.out or FIGURES / NAME)
if args.test_samples:
    OUT = OUT.with_name(f"{OUT.name}_test{args.test_samples}")
seeds = [int(s) for s in args.seeds.split(",")]
torch.set_num_threads(1)
t0 = time.time()
base = RunConfig().replace(**PRESETS[PRESET]).replace(threads=1, test_samples=args.test_samples)


def run_rows(seed, **kw):
    run = jobs.prune(base.replace(seed=seed, data_seed=seed, **kw), root=args.root, quiet=True)
    return [{"level": r["level"], "density": r["density"], "test_accuracy": 1 - r["test_error"],
             "eta0": r.get("eta0")} for r in level_metrics(run)]  # fmt: skip


def ms(vals):
    return {"values": vals, "mean": statistics.mean(vals),
            "std": statistics.stdev(vals) if len(vals) > 1 else 0.0}  # fmt: skip


def curve(rows_per_seed):
    """Per level: density and test accuracy mean ± std over seeds."""
    n = len(rows_per_seed[0])
    return [{"level": rows_per_seed[0][i]["level"], "density": rows_per_seed[0][i]["density"],
             "test_accuracy": ms([r[i]["test_accuracy"] for r in rows_per_seed]),
             "eta0": ms([r[i]["eta0"] for r in rows_per_seed])
             if rows_per_seed[0][i]["eta0"] is not None else None}  # ALLR's start LR
            for i in range(n)]  # fmt: skip


# ---- part A: schedules -------------------------------------------------------------------
part_a = {}
for ep in A_EPOCHS:
    for sched in SCHEDULES:
        rows = [run_rows(s, method="imp", levels=A_PHASES, goal_sparsity=A_GOAL,
                         retrain_schedule=sched, retrain_epochs=ep) for s in seeds]  # fmt: skip
        part_a[f"{sched}_E{ep}"] = {"schedule": sched, "epochs_per_phase": ep, "curve": curve(rows)}
    print(f"part A, E_p = {ep} done ({time.time() - t0:.0f} s)", flush=True)

# ---- part B: equal budgets ---------------------------------------------------------------
part_b = {}
for ep in B_EPOCHS:
    budget = DENSE_EPOCHS + B_PHASES * ep
    half = (budget // 2) // B_PHASES * B_PHASES
    variants = {
        "IMP-FT": dict(method="imp", retrain_schedule="ft", retrain_epochs=ep),
        "IMP-LLR": dict(method="imp", retrain_schedule="llr", retrain_epochs=ep),
        "IMP-ALLR": dict(method="imp", retrain_schedule="allr", retrain_epochs=ep),
        "BIMP (same split)": dict(method="bimp", budget_epochs=budget,
                                  retrain_epochs=B_PHASES * ep),
        "BIMP (~half retraining)": dict(method="bimp", budget_epochs=budget, retrain_epochs=half),
    }  # fmt: skip
    for name, kw in variants.items():
        rows = [run_rows(s, levels=B_PHASES, goal_sparsity=B_GOAL, **kw) for s in seeds]
        dense = DENSE_EPOCHS if kw["method"] == "imp" else budget - kw["retrain_epochs"]
        part_b[f"{name}_B{budget}"] = {
            "variant": name, "budget_epochs": budget, "dense_epochs": dense,
            "retrain_epochs_total": budget - dense, "settings": kw, "curve": curve(rows),
            "final": ms([r[-1]["test_accuracy"] for r in rows]),
        }  # fmt: skip
    print(f"part B, B = {budget} done ({time.time() - t0:.0f} s)", flush=True)

out = {
    "preset": PRESET, "seeds": seeds, "dense_epochs": DENSE_EPOCHS,
    "part_a": {"phases": A_PHASES, "goal_sparsity": A_GOAL, "epochs_per_phase": A_EPOCHS,
               "runs": part_a},
    "part_b": {"phases": B_PHASES, "goal_sparsity": B_GOAL, "epochs_per_phase": B_EPOCHS,
               "runs": part_b},
    "torch": torch.__version__, "date": datetime.date.today().isoformat(),
    "test_samples": args.test_samples or 1000,
    "command": command_line(),
    "seconds": time.time() - t0,
}  # fmt: skip
OUT.parent.mkdir(exist_ok=True)
save_json(OUT.with_suffix(".json"), out)

fig, axes = plt.subplots(1, len(A_EPOCHS) + 1, figsize=(5 * (len(A_EPOCHS) + 1), 4.2))
for ax, ep in zip(axes, A_EPOCHS):
    for k, sched in enumerate(SCHEDULES):
        c = part_a[f"{sched}_E{ep}"]["curve"]
        ax.errorbar([100 * r["density"] for r in c],
                    [100 * r["test_accuracy"]["mean"] for r in c],
                    yerr=[100 * r["test_accuracy"]["std"] for r in c], marker="o", ms=3,
                    capsize=2, color=f"C{k}", label=sched.upper(),
                    lw=3.5 if sched == "ft" else 1.2, ls="--" if sched == "lrw" else "-",
                    zorder=1 if sched == "ft" else 2)  # fmt: skip
    ax.set_title(f"IMP, {A_PHASES} phases to {100 * A_GOAL:.0f}% sparsity, {ep} epochs per phase")
    ax.set_xscale("log")
    ax.set_xticks([100, 54.9, 30.2, 16.6, 9.1, 5])
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.invert_xaxis()
    ax.set_xlabel("weights remaining (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(frameon=False, fontsize=8)
ax = axes[-1]
names = list(dict.fromkeys(v["variant"] for v in part_b.values()))
budgets = sorted({v["budget_epochs"] for v in part_b.values()})
for k, name in enumerate(names):
    ys = [part_b[f"{name}_B{b}"]["final"] for b in budgets]
    ax.errorbar([b + (k - 2) * 0.6 for b in budgets], [100 * y["mean"] for y in ys],
                yerr=[100 * y["std"] for y in ys], marker="os^Dv"[k], ms=5, capsize=3,
                label=name)  # fmt: skip
ax.set_xticks(budgets)
ax.set_xlabel("total budget B (dense + retraining epochs)")
ax.set_ylabel(f"test accuracy at {100 * B_GOAL:.0f}% sparsity (%)")
ax.set_title(f"equal budgets, {B_PHASES} phases to {100 * B_GOAL:.0f}% sparsity")
ax.legend(frameon=False, fontsize=8)
fig.suptitle(f"{PRESET}: [ZIMMER] schedules and BIMP, mean ± std over {len(seeds)} seeds "
             f"(torch {torch.__version__})")  # fmt: skip
fig.tight_layout()
fig.savefig(OUT.with_suffix(".png"), dpi=150)
print(f"wrote {OUT}.png in {time.time() - t0:.0f} s")
