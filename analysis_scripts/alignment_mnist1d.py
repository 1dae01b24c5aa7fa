"""Barriers between independently trained dense networks, raw and aligned, over widths.

Git Re-Basin (Ainsworth et al. 2023, §4, Fig. 2/Fig. 5) reports that the loss barrier
between two independently trained networks nearly vanishes after weight or activation
matching, and that the aligned barrier shrinks as the networks get wider; REPAIR (Jordan
et al. 2023) removes most of what is left by restoring the hidden units' statistics.

For the MNIST-1D MLP (no BatchNorm) and 1-D CNN (BatchNorm) at several widths, three
seeds each (initialisation and data order), dense training with the model's preset
recipe; for every pair of seeds the error and loss barrier of the straight path, test
split, 11 points:

- raw, weight matching, activation matching — without REPAIR (the CNN's BatchNorm
  statistics interpolated with the weights: ``--bn-policy interpolate``),
- and each with REPAIR (MLP: REPAIR's rescaling; CNN: BatchNorm statistics recomputed
  at each point, ``--bn-policy recompute``, which is the toolkit's default).

Writes ``figures/alignment_mnist1d.json`` and ``.png``. Run from the repository root:

    LANDSCAPE_ROOT=/tmp/align_runs python3 analysis_scripts/alignment_mnist1d.py

(runs go to ``$LANDSCAPE_ROOT/alignment_dense_mnist1d``; finished runs and barriers are
reused). ``--replot`` redraws the figure from the JSON, computing nothing.
"""

import datetime
import itertools
import json
import statistics
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from script_args import command_line, mean_sd, options, paired_interval

from landscape import jobs
from landscape.hparams import PRESETS, RunConfig
from landscape.io import level_metrics, save_json
from landscape.specs import BarrierSpec, EngineSpec

# ----------------------------------------------------------------------------- settings
PRESET = "mlp-mnist1d"  # the MNIST-1D data; each family trains with its own preset below
FAMILIES = {"mlp": "mlp-mnist1d", "cnn1d": "cnn1d-mnist1d"}  # model → its training recipe
WIDTHS = {"mlp": "32,128,512", "cnn1d": "8,16,32"}  # hidden width / first conv's channels
VARIANTS = [
    (align, repair) for repair in (False, True) for align in ("none", "weight", "activation")
]
POINTS = 11
NAME = "alignment_mnist1d"
# ---------------------------------------------------------------------------------------


def extra(p):
    for fam, widths in WIDTHS.items():
        p.add_argument(f"--{fam}-widths", default=widths, help=f"{fam} widths (default {widths})")
    p.add_argument("--replot", action="store_true",
                   help="redraw the figure from the JSON, computing nothing")  # fmt: skip


def label(align, repair):
    name = {"none": "raw", "weight": "weight matching", "activation": "activation matching"}
    return name[align] + (" + REPAIR" if repair else "")


args = options(__doc__, PRESET, "alignment_dense_mnist1d", extra=extra)
if args.preset != PRESET:
    raise SystemExit("this script sweeps the widths of the MNIST-1D MLP and 1-D CNN; it takes "
                     "no other --preset")  # fmt: skip
seeds, ROOT, FIGURES = args.seeds, args.root, args.figures
t0 = time.time()


def compute() -> dict:
    """Train (or reuse) the runs, measure every barrier, write the JSON."""
    out = {
        "seeds": seeds, "points": POINTS, "split": "test", "families": {},
        "variants": [label(a, r) for a, r in VARIANTS],
        "torch": torch.__version__, "date": datetime.date.today().isoformat(),
        "command": command_line(),
    }  # fmt: skip
    for fam, preset in FAMILIES.items():
        widths = [int(w) for w in getattr(args, f"{fam}_widths").split(",") if w.strip()]
        fam_out = out["families"][fam] = {"preset": preset, "widths": widths, "per_width": {}}
        for width in widths:
            runs = {}
            for seed in seeds:
                cfg = RunConfig().replace(**PRESETS[preset]).replace(
                    device=args.device, threads=args.threads, method="dense", rewind_step="0",
                    model=f"{fam}-w{width}", seed=seed, data_seed=seed,
                )  # fmt: skip
                runs[seed] = jobs.prune(cfg, root=ROOT, quiet=True)
            per = {"test_error": {f"seed{s}": level_metrics(runs[s])[0]["test_error"] for s in seeds},
                   "runs": {f"seed{s}": str(runs[s]) for s in seeds}}  # fmt: skip
            for align, repair in VARIANTS:
                # no REPAIR on the BatchNorm CNN: its statistics interpolated with the weights
                bn = "interpolate" if fam == "cnn1d" and not repair else "recompute"
                spec = BarrierSpec(points=POINTS, align=align, repair=repair,
                                   engine=EngineSpec(bn_policy=bn))  # fmt: skip
                recs = [jobs.barrier(runs[i], runs[j], spec, log=lambda _: None).record
                        for i, j in itertools.combinations(seeds, 2)]  # fmt: skip
                eb = [r["error_barrier"] for r in recs]
                lb = [r["loss_barrier"] for r in recs]
                per[label(align, repair)] = {
                    "pairs": [list(p) for p in itertools.combinations(seeds, 2)],
                    "error_barrier": eb, "loss_barrier": lb,
                    "error_barrier_mean_sd": mean_sd(eb), "loss_barrier_mean_sd": mean_sd(lb),
                    "bn_policy": recs[0]["bn_policy"],
                    "distance_before": [r.get("alignment", {}).get("distance_before") for r in recs],
                    "distance_after": [r.get("alignment", {}).get("distance_after") for r in recs],
                    "errors_along_path_mean": [statistics.mean(v) for v in
                                               zip(*(r["errors"] for r in recs))],
                }  # fmt: skip
            raw = per["raw"]["error_barrier"]
            for align, repair in VARIANTS[1:]:
                d = [a - b for a, b in zip(raw, per[label(align, repair)]["error_barrier"])]
                m, half = paired_interval(d)
                per[label(align, repair)]["raw_minus_this"] = {
                    "mean": m,
                    "ci95": [m - half, m + half],
                }
            fam_out["per_width"][str(width)] = per
            print(f"{fam} width {width} done ({time.time() - t0:.0f} s)", flush=True)
    out["seconds"] = time.time() - t0
    save_json(FIGURES / f"{NAME}.json", out)
    return out


out = json.loads((FIGURES / f"{NAME}.json").read_text()) if args.replot else compute()
seeds = out["seeds"]

fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
styles = {"none": ("k", "o"), "weight": ("C0", "s"), "activation": ("C1", "^")}
for ax, (fam, d) in zip(axes, out["families"].items()):
    widths = d["widths"]
    for k, (align, repair) in enumerate(VARIANTS):
        color, marker = styles[align]
        vals = [
            d["per_width"][str(w)][label(align, repair)]["error_barrier_mean_sd"] for w in widths
        ]
        shift = 1.04 ** (k - 2.5)  # side by side at each width (log axis)
        # hollow markers and dashed lines: without REPAIR; filled and solid: with REPAIR
        ax.errorbar([w * shift for w in widths], [v[0] for v in vals], yerr=[v[1] for v in vals],
                    color=color, marker=marker, ls="-" if repair else "--", ms=5, capsize=2,
                    mfc=color if repair else "white", label=label(align, repair))  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_xticks(widths, [str(w) for w in widths])
    ax.set_xlabel("width (hidden units)" if fam == "mlp" else "width (first conv's channels)")
    n_pairs = len(d["per_width"][str(widths[0])]["raw"]["pairs"])
    ax.set_ylabel(f"test error barrier\n(mean ± std over {n_pairs} seed pairs)")
    bn = ("no BatchNorm; REPAIR: units rescaled" if fam == "mlp" else
          "BatchNorm; without REPAIR its statistics interpolated,\nwith REPAIR recomputed")  # fmt: skip
    ax.set_title(f"{fam} on MNIST-1D\n({bn})", fontsize=9)
    ax.set_ylim(bottom=0)
axes[0].legend(frameon=False, fontsize=7)
fig.suptitle(f"Barriers between independently trained networks, {len(seeds)} seeds "
             f"(torch {torch.__version__}, {out['date']})", fontsize=10)  # fmt: skip
fig.tight_layout()
fig.savefig(FIGURES / f"{NAME}.png", dpi=150)
print(f"wrote {FIGURES / NAME}.png in {time.time() - t0:.0f} s")
