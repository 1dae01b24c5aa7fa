"""One-shot pruning: test accuracy vs retraining budget, one curve per schedule [ZIMMER §3].

Zimmer et al. (ICLR 2023, Fig. 2–3) prune a trained network once and retrain it
for a budget of E epochs with FT, LRW, SLR, CLR, LLR or ALLR; at short budgets
the schedules that raise the LR again (LLR, and ALLR with its norm-drop-scaled
η_0) beat FT and LRW on CIFAR-10. This script repeats the study: for every seed a
dense run (trained once, then shared), and for every (sparsity, budget, schedule)
an ``imp`` run with one level. It writes the mean ± std over the seeds to
``<out>.json`` and draws ``<out>.png`` from that JSON.

Run from the repository root:

    python analysis_scripts/oneshot_budget.py        # MNIST-1D MLP, CPU: 180 runs + 3 dense, 143 s
    python analysis_scripts/oneshot_budget.py --preset resnet56-cifar10 --budgets 5,10,20,30 \\
        --out figures/oneshot_cifar10_resnet56 --threads 0         # GPU; add --data-root/--download
    python analysis_scripts/oneshot_budget.py --help                # every flag

The 143 s are on a 2-core CPU with one torch thread. Runs land in ``--root`` (default
``runs/oneshot``); a repeated call reuses every finished run, so an interrupted study
resumes.
"""

from __future__ import annotations

import argparse
import ast
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import torch
from script_args import command_line

from landscape import jobs
from landscape.hparams import PRESETS, RunConfig
from landscape.io import level_metrics, load_json, save_json
from landscape.plotting.oneshot import plot_oneshot

# ---- settings (each can be overridden on the command line) ----------------------------------
PRESET = "mlp-mnist1d"  # the dense recipe; "resnet56-cifar10" is [ZIMMER]'s CIFAR-10 setting
SCHEDULES = ["ft", "lrw", "slr", "clr", "llr", "allr"]
BUDGETS = [1, 2, 4, 8, 16]  # retraining epochs after the single pruning step
SPARSITIES = [0.7, 0.9]  # one-shot goal sparsities (98%: the MLP falls to near chance)
SEEDS = [0, 1, 2]  # initialisation and data-order seed of the dense run
ROOT = "runs/oneshot"
OUT = "figures/oneshot_mnist1d"
# One thread: on a shared 2-core machine torch's default of two threads oversubscribes the cores.
THREADS = 1

parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
parser.add_argument("--preset", default=PRESET, choices=sorted(PRESETS))
parser.add_argument("--schedules", default=",".join(SCHEDULES))
parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
parser.add_argument("--sparsities", default=",".join(map(str, SPARSITIES)))
parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
parser.add_argument("--root", default=ROOT, help="where the run directories go")
parser.add_argument("--out", default=OUT, help="output path without extension (.json, .png)")
parser.add_argument("--threads", type=int, default=THREADS, help="torch CPU threads (0: default)")
parser.add_argument("--data-root", default="", help="where CIFAR is (or goes with --download)")
parser.add_argument("--download", action="store_true")
parser.add_argument("--device", default="auto")
parser.add_argument(
    "--set", action="append", default=[], metavar="FIELD=VALUE",
    help="override a preset field, e.g. --set length=8ep --set model=resnet20 (repeatable)",
)  # fmt: skip
args = parser.parse_args()
schedules = args.schedules.split(",")
budgets = [int(b) for b in args.budgets.split(",")]
sparsities = [float(s) for s in args.sparsities.split(",")]
seeds = [int(s) for s in args.seeds.split(",")]


def literal(text: str) -> object:
    """``"8"`` -> 8, ``"0.1"`` -> 0.1, ``"True"`` -> True, anything else stays a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


overrides = {k: literal(v) for k, _, v in (item.partition("=") for item in args.set)}
base = RunConfig().replace(**PRESETS[args.preset]).replace(
    **overrides, device=args.device, threads=args.threads, data_root=args.data_root,
    download=args.download,
)  # fmt: skip

# ---- the runs: one imp run (one level) per seed, sparsity, budget and schedule ------------------
t0 = time.perf_counter()
grid = [(seed, sp, b, name)
        for seed in seeds for sp in sparsities for b in budgets for name in schedules]  # fmt: skip
records = []
for i, (seed, sparsity, budget, name) in enumerate(grid, 1):
    cfg = base.replace(seed=seed, data_seed=seed, method="imp", levels=1, goal_sparsity=sparsity,
                       retrain_epochs=budget, retrain_schedule=name)  # fmt: skip
    run = jobs.prune(cfg, root=args.root, quiet=True)
    dense, phase = level_metrics(run)  # level 0 (the shared dense network) and level 1
    records.append({
        "seed": seed, "sparsity": sparsity, "budget": budget, "schedule": name,
        "test_accuracy": phase["test_accuracy"],
        "pruned_test_accuracy": 1 - phase["pruned_test_error"],
        "dense_test_accuracy": dense["test_accuracy"], "density": phase["density"],
        "eta0": phase.get("eta0"), "norm_drop": phase["norm_drop"], "allr": phase.get("allr"),
        "run": str(run),
    })  # fmt: skip
    print(f"[{i}/{len(grid)}] seed {seed} S={sparsity} E={budget:>2} {name:4s} "
          f"acc {phase['test_accuracy']:.4f}  ({time.perf_counter() - t0:.0f}s)",
          file=sys.stderr)  # fmt: skip
elapsed = time.perf_counter() - t0


# ---- mean ± std over seeds -----------------------------------------------------------------------
def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n − 1; 0 for a single seed)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def pick(key: str, **match) -> list:
    """``key`` of every record that matches ``match``, in run order."""
    return [r[key] for r in records if all(r[k] == v for k, v in match.items())]


curves = []
for sparsity in sparsities:
    for name in schedules:
        stats = [mean_std(pick("test_accuracy", sparsity=sparsity, budget=b, schedule=name))
                 for b in budgets]  # fmt: skip
        curves.append({"sparsity": sparsity, "schedule": name, "budgets": budgets,
                       "mean": [m for m, _ in stats], "std": [s for _, s in stats]})  # fmt: skip
pruned = []  # accuracy right after pruning, before retraining: one value per seed
for sparsity in sparsities:
    m, s = mean_std([pick("pruned_test_accuracy", seed=seed, sparsity=sparsity)[-1]
                     for seed in seeds])  # fmt: skip
    pruned.append({"sparsity": sparsity, "mean": m, "std": s})
dense_m, dense_s = mean_std([pick("dense_test_accuracy", seed=seed)[-1] for seed in seeds])
eta0 = []  # ALLR's η_0 and the norm drop it is scaled by, averaged over seeds
if "allr" in schedules:
    for sp in sparsities:
        for b in budgets:
            allr = dict(sparsity=sp, budget=b, schedule="allr")
            eta0.append({"sparsity": sp, "budget": b,
                         "eta0": mean_std(pick("eta0", **allr))[0],
                         "norm_drop": mean_std(pick("norm_drop", **allr))[0]})  # fmt: skip

result = {
    "kind": "oneshot",
    "settings": {
        "title": f"{args.preset}, one-shot global magnitude pruning",
        "preset": args.preset, "overrides": overrides, "schedules": schedules, "budgets": budgets,
        "sparsities": sparsities, "seeds": seeds, "threads": args.threads,
        "command": command_line(), "date": date.today().isoformat(),
        "machine": f"{os.cpu_count()}-core CPU, {torch.get_num_threads()} torch thread(s), "
        + (f"GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "no GPU"),
        "seconds": elapsed, "std": "sample standard deviation over seeds (n - 1)",
    },
    "dense": {"mean": dense_m, "std": dense_s},
    "pruned": pruned,
    "curves": curves,
    "allr_eta0_mean": eta0,
    "records": records,
}  # fmt: skip
out = Path(args.out)
save_json(out.with_suffix(".json"), result)

# ---- the figure, drawn from the JSON just written ------------------------------------------------
fig, _ = plot_oneshot(load_json(out.with_suffix(".json")))
fig.savefig(out.with_suffix(".png"), dpi=150)
print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.png')} in {elapsed:.0f}s")

# ---- a table for the README ----------------------------------------------------------------------
for sparsity in sparsities:
    print(f"\nsparsity {sparsity}: test accuracy % (mean ± std over {len(seeds)} seeds); "
          f"dense {100 * dense_m:.1f} ± {100 * dense_s:.1f}")  # fmt: skip
    print("| schedule | " + " | ".join(f"{b} ep" for b in budgets) + " |")
    print("|---|" + "---:|" * len(budgets))
    for c in curves:
        if c["sparsity"] == sparsity:
            cells = [f"{100 * m:.1f} ± {100 * s:.1f}" for m, s in zip(c["mean"], c["std"])]
            print(f"| {c['schedule'].upper()} | " + " | ".join(cells) + " |")
