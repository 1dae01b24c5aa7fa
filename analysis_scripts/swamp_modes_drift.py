"""How far SWAMP's sequential and vectorised particle modes drift apart [SWAMP Alg. 1] (issue #20.7).

Both modes train the same particles from the same start with the same batches and mask;
they differ only in float rounding (the vectorised mode computes the N particles'
gradients with batched kernels, whose reduction order is not that of one particle's).
This script measures how far that rounding carries, for one preset and seed:

1. **Within a level.** From the run's rewind point ``w_τ`` (level 0, dense), four
   particles are trained both ways for the first ``k`` steps (``--steps``, and the
   whole level), and their weights compared (largest absolute difference, relative
   norm of the difference ``‖a − b‖ / ‖a‖`` over all parameters); every step's training
   loss of every particle is kept, so the drift is seen step by step.
2. **Over a run.** Two SWAMP runs (``--levels``), one per mode, in two folders under
   ``--root``: at every level the particles' and the average's weights, the masks
   (fraction of entries that differ) and the test errors.

Writes ``<out>.json`` and ``<out>.png``. Run from the repository root:

    python3 analysis_scripts/swamp_modes_drift.py                       # MLP, 8 levels: ~5 min
    python3 analysis_scripts/swamp_modes_drift.py --preset paul-mnist1d --rewind-step 200 \\
        --levels 2 --steps 1,10,100 --swa-lr 0 --out figures/swamp_modes_drift_paul_mnist1d

A repeated call reuses the finished runs of part 2; part 1 (within level 0, step by step)
is retrained in both modes on every call — with ``level`` among ``--steps`` that repeats
level 0 of part 2's runs, to record its per-step losses, which the runs do not keep.
"""

from __future__ import annotations

import datetime
import json
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from script_args import base_config, command_line, options

from landscape import jobs, paths
from landscape.checkpoint import load_state
from landscape.functional import flatten, param_names
from landscape.io import level_metrics, save_json
from landscape.runners.swamp import particle_data_seed
from landscape.runs import open_run
from landscape.training.schedules import lr_schedule
from landscape.training.swa import SwaPlan, train_particle
from landscape.training.vectorized import train_particles

MODES = ("sequential", "vectorized")


def extra(parser) -> None:
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--levels", type=int, default=8)
    parser.add_argument("--particles", type=int, default=4)
    parser.add_argument("--swa-lr", type=float, default=0.05, help="0: the schedule's rate")
    parser.add_argument("--rewind-step", default=None, help="default: the preset's")
    parser.add_argument("--steps", default="1,10,100,level",
                        help="step counts of part 1 ('level': the whole level)")  # fmt: skip
    parser.add_argument("--out", default="figures/swamp_modes_drift")
    parser.add_argument("--replot", action="store_true", help="redraw <out>.png from <out>.json")
    parser.add_argument("--from-run", default=None,
                        help="part 1 only, from this SWAMP run's rewind point and level-0 plan "
                        "(no runs are trained)")  # fmt: skip


args = options(__doc__, "mlp-mnist1d", "swamp_modes_drift", seeds=None, extra=extra)
t0 = time.time()
cfg = base_config(args).replace(
    method="swamp", particles=args.particles, swa_start=0.75, swa_lr=args.swa_lr,
    levels=args.levels, seed=args.seed, data_seed=args.seed,
)  # fmt: skip
if args.rewind_step is not None:
    cfg = cfg.replace(rewind_step=str(args.rewind_step))


def diff(a: dict, b: dict, names: list[str]) -> dict[str, float]:
    """Largest absolute and relative-norm difference of two states' parameters."""
    x, y = flatten(a, names).double(), flatten(b, names).double()
    return {"max_abs": (x - y).abs().max().item(), "rel_norm": ((x - y).norm() / x.norm()).item()}


if args.replot:
    with open(f"{args.out}.json") as fh:
        result = json.load(fh)
else:
    # ---- 2. the two runs (first: part 1 needs the rewind point) ------------------------------------
    runs: dict[str, object] = {}
    levels: list[dict] = []
    rewind_equal = None
    if args.from_run is None:
        for mode in MODES:
            t = time.time()
            runs[mode] = jobs.prune(
                cfg.replace(particle_mode=mode), root=args.root / mode, quiet=True
            )
            print(f"{mode} run {runs[mode]} ({time.time() - t:.0f} s)", flush=True)
        seq, vec = (open_run(runs[m], device="cpu") for m in MODES)
        names = param_names(seq.model())
        rewind_equal = all(torch.equal(seq.rewind()[k], vec.rewind()[k]) for k in seq.rewind())
        for level in range(args.levels + 1):
            ms, mv = (
                {m["level"]: m for m in level_metrics(r.path)}[level] for r in (seq, vec)
            )  # fmt: skip
            mask_s, mask_v = seq.mask(level), vec.mask(level)
            differing = sum(int((mask_s[k] != mask_v[k]).sum()) for k in mask_s)
            total = sum(mask_s[k].numel() for k in mask_s)
            parts = [
                diff(load_state(paths.particle(seq.path, level, i)),
                     load_state(paths.particle(vec.path, level, i)), names)
                for i in range(args.particles)
            ]  # fmt: skip
            levels.append({
                "level": level, "density": ms["density"],
                "mask_entries_differing": differing, "mask_fraction_differing": differing / total,
                "particles": parts, "average": diff(seq.weights(level), vec.weights(level), names),
                "test_error": {"sequential": ms["test_error"], "vectorized": mv["test_error"]},
                "particle_test_errors": {"sequential": ms["particle_test_errors"],
                                         "vectorized": mv["particle_test_errors"]},
            })  # fmt: skip
            print(f"level {level}: mask entries differing {differing}, particles' rel. diff "
                  f"{max(p['rel_norm'] for p in parts):.2e}, average {levels[-1]['average']['rel_norm']:.2e}, "
                  f"test error {ms['test_error']:.4f} / {mv['test_error']:.4f}", flush=True)  # fmt: skip

    # ---- 1. within level 0, step by step ------------------------------------------------------------
    if args.from_run:
        seq = open_run(args.from_run, device="cpu")
        cfg = seq.config
    names = param_names(seq.model())
    data, model = seq.data, seq.model()
    spe = data.steps_per_epoch(cfg.data.batch_size)
    metrics0 = level_metrics(seq.path)[0]  # the level's plan, as the runner made it
    tau, stop = metrics0["start_step"], metrics0["stop_step"]
    full = SwaPlan(tau, stop, metrics0["swa_step"], metrics0["swa_lr"], spe)
    base = lr_schedule(cfg.train, spe)
    start = seq.rewind()
    # the particles' data seeds as the runner draws them: from the run's own data seed
    seeds = [particle_data_seed(cfg.data.data_seed, i) for i in range(args.particles)]
    within = []
    for k in args.steps.split(","):
        # k steps with no SWA phase (swa_step = stop): the state returned is the k-th iterate.
        plan = full if k == "level" else SwaPlan(tau, tau + int(k), tau + int(k), 1.0, spe)
        losses = {m: [[] for _ in seeds] for m in MODES}

        def logger(mode: str, i: int, into: dict = losses):
            return lambda scalars, step: (
                into[mode][i].append(scalars["train/loss"]) if "train/loss" in scalars else None
            )

        common = dict(plan=plan, lr_at=base, augment=cfg.data.augment, show_progress=False)
        t = time.time()
        v = train_particles(model, [start] * len(seeds), data, cfg.train, cfg.data.batch_size,
                            data_seeds=seeds, on_logs=[logger("vectorized", i) for i in
                                                       range(len(seeds))], **common)  # fmt: skip
        s = []
        for i, seed in enumerate(seeds):
            model.load_state_dict(start)
            s.append(train_particle(model, data, cfg.train, cfg.data.batch_size, data_seed=seed,
                                    on_log=logger("sequential", i), **common))  # fmt: skip
        steps = plan.stop - plan.start
        d = [diff(a.state, b.state, names) for a, b in zip(s, v)]
        loss_diff = [
            max(abs(a - b) for a, b in zip(ls, lv))
            for ls, lv in zip(zip(*losses["sequential"]), zip(*losses["vectorized"]))
        ]  # step by step, the largest over particles
        within.append({"steps": steps, "what": "SWA mean" if k == "level" else f"iterate {steps}",
                       "particles": d, "loss_abs_diff_per_step": loss_diff,
                       "bit_equal": [x["max_abs"] == 0 for x in d]})  # fmt: skip
        print(f"{steps:5d} steps: weights rel. diff {max(x['rel_norm'] for x in d):.2e}, max abs "
              f"{max(x['max_abs'] for x in d):.2e} ({time.time() - t:.0f} s)", flush=True)  # fmt: skip

    result = {
        "preset": args.preset, "data": cfg.data.data, "model": cfg.model.model, "seed": args.seed, "levels": args.levels, "particles": args.particles,
        "rewind_step": tau, "swa_lr": args.swa_lr, "test_samples": cfg.data.test_samples,
        "runs": {m: str(r) for m, r in runs.items()}, "rewind_bit_equal": rewind_equal,
        "within_level_0": within, "per_level": levels,
        "torch": torch.__version__, "date": datetime.date.today().isoformat(),
        "seconds": time.time() - t0,
        "command": command_line(),
    }  # fmt: skip
    save_json(f"{args.out}.json", result)

# ---- the figure ----------------------------------------------------------------------------------
within, levels, tau = result["within_level_0"], result["per_level"], result["rewind_step"]
fig, axes = plt.subplots(1, 2 if levels else 1, figsize=(11 if levels else 6, 4),
                         layout="constrained", squeeze=False)  # fmt: skip
a1 = axes[0][0]
longest = max(within, key=lambda w: w["steps"])
a1.semilogy(range(1, len(longest["loss_abs_diff_per_step"]) + 1),
            [max(x, 1e-12) for x in longest["loss_abs_diff_per_step"]], lw=0.6, color="C0",
            label="|Δ training loss|, largest over particles")  # fmt: skip
ks = [w["steps"] for w in within]
a1.semilogy(ks, [max(p["rel_norm"] for p in w["particles"]) for w in within], "s", color="C3",
            label="weights ‖Δ‖/‖w‖ after k steps (the level: SWA mean)")  # fmt: skip
a1.set_xscale("log")
a1.set_xlabel(f"step k of level 0 (from τ = {tau})")
a1.set_ylabel("sequential − vectorised (1 = 100%)")
a1.legend(frameon=False, fontsize=8)
if levels:
    x = [lv["level"] for lv in levels]
    a2 = axes[0][-1]
    a2.semilogy(x, [max(p["rel_norm"] for p in lv["particles"]) for lv in levels], "o-",
                label="particles ‖Δ‖/‖w‖ (largest)")  # fmt: skip
    a2.semilogy(x, [lv["average"]["rel_norm"] for lv in levels], "s-", label="average ‖Δ‖/‖w‖")
    a2.semilogy(x, [max(lv["mask_fraction_differing"], 1e-7) for lv in levels], "^-",
                label="mask entries differing (fraction; 1e-7 = none)")  # fmt: skip
    a2.set_xlabel("level")
    a2.set_ylabel("sequential − vectorised (1 = 100%)")
    a2.legend(frameon=False, fontsize=8)
fig.suptitle(f"SWAMP particle modes, {result['data']} {result['model']}, τ = {tau}, seed "
             f"{result['seed']}, {result['particles']} particles\n(torch {result['torch']}, one thread)",
             fontsize=9)  # fmt: skip
fig.savefig(f"{args.out}.png", dpi=150)
print(f"wrote {args.out}.json, .png in {time.time() - t0:.0f} s")
