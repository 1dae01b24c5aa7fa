"""[PAUL] Fig. 3 in the paul-mnist1d regime: planes at an early level, at the edge of
matching and past it, with the set linearly connected to w^(L) outlined.

For the τ = 40 IMP-WR runs of ``regime_mnist1d.py`` (same root, same runs; trained here
if missing), the plane through w^(L), its projection m_{L+1} ⊙ w^(L) and w^(L+1) for
L = 1 (early), 7 (the last level that matches for two of three seeds) and 10 (past it);
the matching contour is the dense error + ε and the dashed outline [PAUL]'s linearly
connected sublevel set (LCS) of w^(L): the points whose straight path from w^(L) stays at
an error of at most E(w^(L)) + ε and has no error barrier above 0.02 (read off the grid,
``analysis.slice_sets``), with ε the standard deviation of the dense test error over the
seeds, as [PAUL] does. Writes ``figures/slices_paul_mnist1d.png`` (seed 0) and ``.json``
(every seed: each plane's test-error grid, its LCS, whether w^(L+1) and the projection lie
in it, the matching fractions). Run from the repository root, after ``regime_mnist1d.py``:

    python3 analysis_scripts/slices_paul_mnist1d.py [--seeds 0,1,2]

About 1 minute per plane on a 2-core CPU (one thread). ``--replot`` redraws the figure
from the JSON.
"""

import datetime
import json
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from script_args import base_config, command_line, options, paul_epsilon

from landscape import jobs
from landscape.analysis.slice_sets import LCS_BARRIER, linearly_connected_sublevel_set
from landscape.io import level_metrics, save_json
from landscape.plotting.slices import plot_slice
from landscape.specs import EngineSpec, SliceSpec

# ----------------------------------------------------------------------------- settings
PRESET = "paul-mnist1d"
LEVELS = (1, 7, 10)  # early, at the edge of matching, past it
GRID = 17  # points per axis
SAMPLES = 1000  # each split measured on its first 1000 samples; BatchNorm from 1000
# ---------------------------------------------------------------------------------------


def _extra(p):
    p.add_argument("--replot", action="store_true",
                   help="redraw the figure from the JSON (it holds every plane), computing nothing")  # fmt: skip


args = options(__doc__, PRESET, "regime_mnist1d", extra=_extra)
seeds, ROOT = args.seeds, args.root
OUT = args.figures / "slices_paul_mnist1d"
t0 = time.time()
#: What the figure and the LCS need of a slice record (the JSON keeps these of every plane).
KEPT = ("kind", "a", "b", "marks", "bn_policy", "has_batchnorm", "matching_level",
        "matching_reference", "matching_fraction", "origin_path_max", "connected_fraction")  # fmt: skip


def with_lcs(rec: dict, eps: float) -> dict:
    """The record's test-error plane with [PAUL]'s LCS of w^(L) (error at most E(w^(L)) + ε
    on the ray, barrier at most 0.02), and whether each mark is in it (its own ray, read off
    the grid, and its own measured error at most the level)."""
    out = {k: rec[k] for k in KEPT if k in rec}
    out["values"] = {"test_error": rec["values"]["test_error"]}
    a, b, z = rec["a"], rec["b"], np.asarray(rec["values"]["test_error"])
    level = rec["marks"][0]["test_error"] + eps
    lcs = linearly_connected_sublevel_set(a, b, z, level, LCS_BARRIER)
    marks = np.array([[m["a"], m["b"]] for m in rec["marks"]])
    inside = linearly_connected_sublevel_set(a, b, z, level, LCS_BARRIER, points=marks)
    # A mark's own error is measured, not interpolated: its end of the ray uses that.
    inside &= np.array([m["test_error"] <= level for m in rec["marks"]])
    out.update(lcs_level=level, lcs_barrier=LCS_BARRIER, lcs=lcs.tolist(),
               lcs_fraction=float(lcs.mean()),
               marks_in_lcs={m["name"]: bool(v) for m, v in zip(rec["marks"], inside)})  # fmt: skip
    return out


def compute() -> dict:
    """Train (or find) the runs and measure the planes; the JSON's content."""
    runs = {}
    for seed in seeds:
        cfg = base_config(args)
        runs[seed] = jobs.prune(cfg.replace(seed=seed, data_seed=seed), root=ROOT, quiet=True)
    dense = [level_metrics(runs[s])[0]["test_error"] for s in seeds]
    eps = paul_epsilon(dense)
    engine = EngineSpec(eval_samples=SAMPLES, bn_samples=SAMPLES)
    results = {}
    for seed in seeds:
        for level in LEVELS:
            spec = SliceSpec(level=level, grid=GRID, tolerance=eps, engine=engine)
            results[seed, level] = jobs.slice(runs[seed], spec, quiet=True,
                                               log=lambda _: None).record  # fmt: skip
        print(f"seed {seed} done ({time.time() - t0:.0f} s)")
    return {"preset": args.preset, "seeds": seeds, "levels": list(LEVELS), "epsilon": eps,
            "dense_test_error": dense, "torch": torch.__version__, "seconds": time.time() - t0,
            "date": datetime.date.today().isoformat(),
            "command": command_line(),
            "records": {f"seed{s}_level{lv}": with_lcs(r, eps) for (s, lv), r in results.items()},
            }  # fmt: skip


out = json.loads(OUT.with_suffix(".json").read_text()) if args.replot else compute()
seeds, eps = out["seeds"], out["epsilon"]
out["lcs_barrier_threshold"] = LCS_BARRIER
out["planes"] = {}
for level in out["levels"]:
    recs = [out["records"][f"seed{s}_level{level}"] for s in seeds]
    names = [r["marks"][2]["name"] for r in recs]  # w^(L+1)
    projections = [r["marks"][1]["name"] for r in recs]  # m_{L+1} ⊙ w^(L)
    out["planes"][str(level)] = {
        "connected_fraction": [r["connected_fraction"] for r in recs],
        "matching_fraction": [r["matching_fraction"] for r in recs],
        "lcs_fraction": [r["lcs_fraction"] for r in recs],
        "next_in_lcs": [r["marks_in_lcs"][n] for r, n in zip(recs, names)],
        "projection_in_lcs": [r["marks_in_lcs"][n] for r, n in zip(recs, projections)],
        "test_error_next": [r["marks"][2]["test_error"] for r in recs],
        "test_error_projection": [r["marks"][1]["test_error"] for r in recs],
        "test_error_origin": [r["marks"][0]["test_error"] for r in recs],
    }
levels = out["levels"]
fig, axes = plt.subplots(1, len(levels), figsize=(6.2 * len(levels), 7.6), layout="constrained")
for ax, level in zip(axes, levels):
    plot_slice(out["records"][f"seed{seeds[0]}_level{level}"], "test_error", ax)
    ax.set_title(f"level {level} → {level + 1}", fontsize=9)
fig.suptitle(f"{out['preset']}, τ = 40, seed {seeds[0]}: test error; ε = {eps:.4f} "
             f"(std of the dense error over {len(seeds)} seeds); dashed: the LCS of w^(L) "
             f"(error ≤ E(w^(L)) + ε on the ray, barrier ≤ {LCS_BARRIER})", fontsize=10)  # fmt: skip
OUT.parent.mkdir(exist_ok=True)
fig.savefig(OUT.with_suffix(".png"), dpi=130)
save_json(OUT.with_suffix(".json"), out)
print(f"wrote {OUT}.png in {time.time() - t0:.0f} s")
