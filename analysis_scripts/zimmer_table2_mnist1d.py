"""[ZIMMER] Table 2 on MNIST-1D: BIMP against pruning-stable methods at equal epoch budgets.

[ZIMMER] (Zimmer, Spiegel, Pokutta, ICLR 2023, Table 2) compares budgeted IMP with
methods that prune during training and need no retraining. Here, at 90% sparsity and a
total budget of B = 40, 52, 76 epochs (every epoch counted, dense and retraining), with
the setting of ``zimmer_phases_mnist1d.py`` part B (J = 4 phases, E_p = 1, 4, 10):

- IMP-FT, IMP-LLR: the shared 36-epoch dense network (step schedule), then 4 phases of
  E_p epochs (``--method imp``), B = 36 + 4·E_p;
- BIMP: ``--method bimp --budget-epochs B``, the dense phase with a linear decay to 0,
  then 4 ALLR phases, with about half of B for retraining (B/2 rounded down to a
  multiple of 4: 20, 24, 36 epochs; the reference of the paired differences) or with
  IMP's split (4·E_p);
- GMP (Zhu & Gupta 2017) and DPF (Lin et al. 2020): one run of B epochs with the linear
  decay of BIMP's dense phase (``--schedule linear --length Bep``), the cubic schedule
  from 10% to 75% of training, a mask update every 16 steps (the defaults of
  ``--method gmp``/``dpf``).

Per method and budget: the test accuracy of the final 10%-dense network, mean ± sample
std over the seeds (0-4), and the paired (same seed) difference to BIMP with its 95% t
interval. Writes ``figures/zimmer_table2_mnist1d.json`` and ``.png``. From the
repository root:

    LANDSCAPE_ROOT=/tmp/t2 python3 analysis_scripts/zimmer_table2_mnist1d.py
    python3 analysis_scripts/zimmer_table2_mnist1d.py --replot     # redraw from the JSON

A repeated call reuses every finished run.
"""

import datetime
import json
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from script_args import base_config, command_line, mean_sd, options, paired_interval

from landscape import jobs
from landscape.io import level_metrics, save_json

# ----------------------------------------------------------------------------- settings
PRESET = "mlp-mnist1d"  # 40-100-100-10 MLP, 36 dense epochs, lr 0.1 → 0.01 → 0.001
DENSE_EPOCHS = 36
PHASES, GOAL = 4, 0.9  # J and the final sparsity
EPOCHS_PER_PHASE = [1, 4, 10]  # IMP's E_p: budgets B = 36 + 4·E_p = 40, 52, 76
REFERENCE = "BIMP"
SEEDS = "0,1,2,3,4"  # five: with three, the 95% t interval (t = 4.30) resolves little here
NAME = "zimmer_table2_mnist1d"
# ---------------------------------------------------------------------------------------


def extra(p):
    p.add_argument("--replot", action="store_true",
                   help="redraw the figure from the JSON, computing nothing")  # fmt: skip


args = options(__doc__, PRESET, "zimmer_table2_mnist1d", seeds=SEEDS, extra=extra)
if args.preset != PRESET:
    raise SystemExit("this script's budgets are those of the MNIST-1D MLP study; no other --preset")
FIGURES, t0 = args.figures, time.time()


def variants(ep: int) -> dict[str, dict]:
    """Each method's settings at IMP's E_p (budget B = 36 + 4·E_p), and its epoch split."""
    budget = DENSE_EPOCHS + PHASES * ep
    half = (budget // 2) // PHASES * PHASES
    during = dict(schedule="linear", length=f"{budget}ep", goal_sparsity=GOAL)
    return {
        "IMP-FT": dict(method="imp", retrain_schedule="ft", retrain_epochs=ep, levels=PHASES),
        "IMP-LLR": dict(method="imp", retrain_schedule="llr", retrain_epochs=ep, levels=PHASES),
        "BIMP": dict(method="bimp", budget_epochs=budget, retrain_epochs=half, levels=PHASES),
        "BIMP, IMP's split": dict(method="bimp", budget_epochs=budget,
                                  retrain_epochs=PHASES * ep, levels=PHASES),
        "GMP": dict(method="gmp", levels=PHASES, **during),
        "DPF": dict(method="dpf", levels=PHASES, **during),
    }  # fmt: skip


def split(kw: dict, budget: int) -> str:
    """``dense + retraining`` epochs, or ``B (during training)``."""
    if kw["method"] == "imp":
        return f"{DENSE_EPOCHS} + {PHASES * kw['retrain_epochs']}"
    if kw["method"] == "bimp":
        return f"{budget - kw['retrain_epochs']} + {kw['retrain_epochs']}"
    return f"{budget} (pruning during training)"


def compute() -> dict:
    """Train (or reuse) every run; collect the final accuracies and the paired differences."""
    base = base_config(args)
    out = {"preset": PRESET, "seeds": args.seeds, "goal_sparsity": GOAL, "phases": PHASES,
           "reference": REFERENCE, "budgets": {}, "torch": torch.__version__,
           "date": datetime.date.today().isoformat(),
           "command": command_line()}  # fmt: skip
    for ep in EPOCHS_PER_PHASE:
        budget = DENSE_EPOCHS + PHASES * ep
        per: dict[str, dict] = {}
        for name, kw in variants(ep).items():
            acc, density, runs = [], [], []
            for s in args.seeds:
                run = jobs.prune(base.replace(seed=s, data_seed=s, **kw), root=args.root,
                                 quiet=True)  # fmt: skip
                last = level_metrics(run)[-1]
                acc.append(1 - last["test_error"])
                density.append(last["density"])
                runs.append(run.name)
            m, sd = mean_sd(acc)
            per[name] = {"settings": kw, "epochs": split(kw, budget), "test_accuracy": acc,
                         "mean": m, "sd": sd, "density": density, "runs": runs}  # fmt: skip
        ref = per[REFERENCE]["test_accuracy"]
        for name, row in per.items():
            if name != REFERENCE:
                d, half = paired_interval(a - b for a, b in zip(row["test_accuracy"], ref))
                row["minus_reference"] = {"mean": d, "ci95": [d - half, d + half]}
        out["budgets"][str(budget)] = per
        print(f"B = {budget} done ({time.time() - t0:.0f} s)", flush=True)
    out["seconds"] = time.time() - t0
    save_json(FIGURES / f"{NAME}.json", out)
    return out


out = json.loads((FIGURES / f"{NAME}.json").read_text()) if args.replot else compute()

budgets = sorted(out["budgets"], key=int)
names = list(out["budgets"][budgets[0]])
others = [n for n in names if n != out["reference"]]
style = {"IMP-FT": ("C7", "v"), "IMP-LLR": ("C0", "s"), "BIMP": ("k", "o"),
         "BIMP, IMP's split": ("C4", "D"), "GMP": ("C1", "^"), "DPF": ("C2", "P")}  # fmt: skip
fig, (ax_a, ax_d) = plt.subplots(1, 2, figsize=(12, 4.6))
width = 0.9 / len(names)
for k, name in enumerate(names):
    color, marker = style[name]
    xs = [i + (k - (len(names) - 1) / 2) * width for i in range(len(budgets))]
    rows = [out["budgets"][b][name] for b in budgets]
    ax_a.errorbar(xs, [100 * r["mean"] for r in rows], yerr=[100 * r["sd"] for r in rows],
                  color=color, marker=marker, ls="none", capsize=3, label=name)  # fmt: skip
for k, name in enumerate(others):
    color, marker = style[name]
    xs = [i + (k - (len(others) - 1) / 2) * width for i in range(len(budgets))]
    rows = [out["budgets"][b][name]["minus_reference"] for b in budgets]
    mid = [100 * r["mean"] for r in rows]
    err = [[100 * (r["mean"] - r["ci95"][0]) for r in rows],
           [100 * (r["ci95"][1] - r["mean"]) for r in rows]]  # fmt: skip
    ax_d.errorbar(xs, mid, yerr=err, color=color, marker=marker, ls="none", capsize=3, label=name)
ax_d.axhline(0, color="k", lw=0.8)
for ax in (ax_a, ax_d):
    ax.set_xticks(range(len(budgets)))
    ax.set_xticklabels([f"B = {b}" for b in budgets])
    ax.set_xlabel("total epoch budget (dense + retraining, or the one run)")
ax_a.set_ylabel(f"test accuracy at {100 * (1 - out['goal_sparsity']):.0f}% of the weights (%)")
ax_a.set_title(f"final accuracy, mean ± sd over {len(out['seeds'])} seeds")
ax_a.legend(frameon=False, fontsize=8, ncol=2)
ax_d.set_ylabel("method − BIMP, test accuracy (percentage points)")
ax_d.set_title("paired difference to BIMP (same seed), 95% t interval")
ax_d.legend(frameon=False, fontsize=8, ncol=2)
fig.suptitle(f"{out['preset']}: [ZIMMER] Table 2 — BIMP against IMP and pruning-stable GMP/DPF "
             f"at {100 * out['goal_sparsity']:.0f}% sparsity (torch {out['torch']}, "
             f"{out['date']})", fontsize=10)  # fmt: skip
fig.tight_layout()
fig.savefig(FIGURES / f"{NAME}.png", dpi=150)
print(f"wrote {FIGURES / NAME}.png in {time.time() - t0:.0f} s")
