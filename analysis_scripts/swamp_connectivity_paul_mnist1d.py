"""[SWAMP] Fig. 4 in the paul-mnist1d regime: are successive SWAMP solutions linearly connected?

For the runs of ``swamp_vs_imp.py --preset paul-mnist1d --swa-lr 0 --rewind-step τ``
(already trained: this script trains nothing), ``jobs.connectivity`` without the matrix
(``landscape connectivity RUN --no-matrix``) measures the test error on the straight path
between successive level solutions, level 0 → 1 → … → L, for the SWAMP run (its averaged
networks) and the IMP-WR run of the same seed and τ: 11 points a segment, BatchNorm
statistics re-estimated at every point on 2000 training samples; the error barrier of every
segment [PAUL Def. 2.1]. Then, at ``--plane-level`` (default 0) of every seed's SWAMP run,
the error barrier between particles 0 and 1 and between particle 0 and the average
(``landscape barrier``); and for one seed the error plane through the averaged network and
particles 0 and 1 (``landscape slice --checkpoints``), for each τ. ``--levels 0`` skips the
path through the levels (for runs with one level).

Writes ``figures/<name>.json`` and ``.png`` (barriers) and ``figures/<name>_plane.png``.
Run from the repository root, after ``swamp_vs_imp.py`` with the same ``--root``:

    python3 analysis_scripts/swamp_connectivity_paul_mnist1d.py --root RUNS \\
        --levels 1 --rewind-steps 200,40 --grid 13 --eval-samples 2000

A repeated call reuses every finished result.
"""

import datetime
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from script_args import base_config, command_line, mean_sd, options, paired_interval

from landscape import jobs, paths
from landscape.io import save_json
from landscape.plotting.slices import plot_slice
from landscape.runs import run_dir_of
from landscape.specs import BarrierSpec, ConnectivitySpec, EngineSpec, SliceSpec

# ----------------------------------------------------------------------------- settings
PRESET = "paul-mnist1d"
# the SWAMP settings of swamp_vs_imp.py --swa-lr 0 (the particle mode is not in the run's name)
SWAMP = dict(method="swamp", particles=4, swa_start=0.75, swa_lr=0.0, particle_mode="vectorized")
POINTS = 11
# ---------------------------------------------------------------------------------------


def extra(parser) -> None:
    parser.add_argument("--levels", type=int, default=4,
                        help="path through levels 0..L (0: the planes only)")  # fmt: skip
    parser.add_argument("--eval-samples", type=int, default=0,
                        help="planes: measure on the first N test samples (0: all)")  # fmt: skip
    parser.add_argument("--rewind-steps", default="200,40", help="τ values, the first drawn solid")
    parser.add_argument("--plane-seed", type=int, default=0)
    parser.add_argument("--plane-level", type=int, default=0)
    parser.add_argument("--grid", type=int, default=15, help="plane: points per axis")
    parser.add_argument("--margin", type=float, default=0.5,
                        help="plane: the grid spans [-margin·s, (1+margin)·s] (0.5: room for "
                        "a particle on the far side of the origin)")  # fmt: skip
    parser.add_argument("--name", default="swamp_connectivity_paul_mnist1d")


args = options(__doc__, PRESET, "swamp_vs_imp", extra=extra)
taus = [int(t) for t in args.rewind_steps.split(",")]
t0 = time.time()
engine = EngineSpec(threads=args.threads)
spec = ConnectivitySpec(points=POINTS, matrix=False, levels=f"0-{args.levels}", engine=engine)
barriers: dict[str, dict[str, list[list[float]]]] = {}
runs: dict[str, dict[str, list[str]]] = {}
for tau in taus if args.levels > 0 else []:
    barriers[str(tau)] = {"imp-wr": [], "swamp": []}
    runs[str(tau)] = {"imp-wr": [], "swamp": []}
    for seed in args.seeds:
        base = base_config(args).replace(seed=seed, data_seed=seed, rewind_step=str(tau))
        for method, cfg in (
            ("imp-wr", base.replace(method="imp-wr")),
            ("swamp", base.replace(**SWAMP)),
        ):
            run = run_dir_of(cfg, root=args.root)
            if not all(paths.metrics(run, lv).exists() for lv in range(args.levels + 1)):
                raise SystemExit(f"{run}: levels 0..{args.levels} are not all trained; run "
                                 f"swamp_vs_imp.py --rewind-step {tau} --levels {args.levels} first")  # fmt: skip
            rec = jobs.connectivity(run, spec, quiet=True).record
            barriers[str(tau)][method].append([s["error_barrier"] for s in rec["segments"]])
            runs[str(tau)][method].append(str(run))
            print(f"τ {tau} seed {seed} {method}: barriers "
                  f"{[round(s['error_barrier'], 4) for s in rec['segments']]} "
                  f"({time.time() - t0:.0f} s)", flush=True)  # fmt: skip

summary = {}
for tau in map(str, taus if args.levels > 0 else []):
    rows = []
    for k in range(args.levels):
        sw = [b[k] for b in barriers[tau]["swamp"]]
        imp = [b[k] for b in barriers[tau]["imp-wr"]]
        m, h = paired_interval([a - b for a, b in zip(sw, imp)])
        rows.append({"segment": f"{k}->{k + 1}", "swamp": mean_sd(sw), "imp_wr": mean_sd(imp),
                     "swamp_minus_imp_wr": [m, m - h, m + h]})  # fmt: skip
    summary[tau] = rows

# ---- at --plane-level, every seed: the barrier between particles 0 and 1, and particle 0 → average
pairs: dict[str, dict[str, list[float]]] = {}
for tau in taus:
    pairs[str(tau)] = {"particle0_particle1": [], "particle0_average": []}
    for seed in args.seeds:
        base = base_config(args).replace(seed=seed, data_seed=seed, rewind_step=str(tau), **SWAMP)
        run = run_dir_of(base, root=args.root)
        lv = args.plane_level
        p0, p1, avg = (str(paths.particle(run, lv, 0)), str(paths.particle(run, lv, 1)),
                       str(paths.weights(run, lv)))  # fmt: skip
        for key, (a, b) in (("particle0_particle1", (p0, p1)), ("particle0_average", (p0, avg))):
            rec = jobs.barrier(a, b, BarrierSpec(points=POINTS, engine=engine), log=lambda _: None)
            pairs[str(tau)][key].append(rec.record["error_barrier"])
    print(f"τ {tau}: level {args.plane_level} barriers {pairs[str(tau)]} ({time.time() - t0:.0f} s)",
          flush=True)  # fmt: skip

# ---- the plane through the average and two particles (one seed, one level) ---------------------
planes = {}
for tau in taus:
    base = base_config(args).replace(seed=args.plane_seed, data_seed=args.plane_seed,
                                     rewind_step=str(tau), **SWAMP)  # fmt: skip
    run = run_dir_of(base, root=args.root)
    lv = args.plane_level
    anchors = [paths.weights(run, lv), paths.particle(run, lv, 0), paths.particle(run, lv, 1)]
    rec = jobs.slice([str(a) for a in anchors],
                     SliceSpec(plane="checkpoints", grid=args.grid, margin=args.margin,
                               engine=EngineSpec(threads=args.threads, eval_samples=args.eval_samples)),
                     quiet=True).record  # fmt: skip
    planes[str(tau)] = {**rec, "level": lv}
    print(f"τ {tau}: plane done ({time.time() - t0:.0f} s)", flush=True)

out = {
    "preset": args.preset, "seeds": args.seeds, "levels": args.levels, "rewind_steps": taus,
    "swamp": SWAMP, "points": POINTS, "bn_policy": engine.bn_policy,
    "bn_samples": engine.bn_samples, "error_barriers": barriers, "summary": summary,
    "runs": runs, "level_barriers": pairs, "planes": planes, "torch": torch.__version__,
    "date": datetime.date.today().isoformat(), "seconds": time.time() - t0,
    "command": command_line(),
}  # fmt: skip
save_json(args.figures / f"{args.name}.json", out)

# ---- figure 1: successive barriers, SWAMP against IMP-WR, per τ ----------------------------------
if args.levels > 0:
    fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    x = np.arange(args.levels)
    for j, tau in enumerate(map(str, taus)):
        for method, color, label in (
            ("imp-wr", "C0", "IMP-WR"),
            ("swamp", "C3", "SWAMP (averages)"),
        ):
            m, s = zip(*(mean_sd(b[k] for b in barriers[tau][method]) for k in range(args.levels)))
            ax.errorbar(x + (0.08 if method == "swamp" else -0.08) + 0.02 * j, m, yerr=s,
                        color=color, ls="-" if j == 0 else "--", marker="o" if j == 0 else "s",
                        capsize=3, label=f"{label}, τ = {tau}")  # fmt: skip
    # many segments: slanted labels, so that "10→11" and "11→12" do not run together
    ax.set_xticks(x, [f"{k}→{k + 1}" for k in range(args.levels)],
                  rotation=45 if args.levels > 8 else 0)  # fmt: skip
    ax.set_xlabel("segment between successive levels")
    ax.set_ylabel("test error barrier (1 = 100%)")
    ax.set_title(f"{args.preset}: successive level solutions, mean ± std over {len(args.seeds)} "
                 f"seeds (torch {torch.__version__})", fontsize=9)  # fmt: skip
    ax.legend(frameon=False, fontsize=8)
    fig.savefig(args.figures / f"{args.name}.png", dpi=150)

# ---- figure 2: the planes (drawn by the toolkit's slice panel) -----------------------------------
fig, axes = plt.subplots(1, len(taus), figsize=(5.5 * len(taus), 5.5), layout="constrained",
                         squeeze=False)  # fmt: skip
for ax, tau in zip(axes[0], map(str, taus)):
    plot_slice(planes[tau], "test_error", ax)
    ax.set_title(f"τ = {tau}: test error, seed {args.plane_seed}, level {planes[tau]['level']} "
                 "(BN re-estimated)", fontsize=9)  # fmt: skip
fig.suptitle("plane through SWAMP's averaged network (origin) and its particles 0 and 1 "
             f"(torch {torch.__version__})", fontsize=10)  # fmt: skip
fig.savefig(args.figures / f"{args.name}_plane.png", dpi=150)
print(f"wrote {args.figures / args.name}.json, .png, _plane.png in {time.time() - t0:.0f} s")
