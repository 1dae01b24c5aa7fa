"""Benchmark: the flatness bound of one level, the trace estimator before 2026-12-07 (``slq``:
Gauss rules, 16 probes × 80 Lanczos steps) against the default (``averaged``: averaged
Gauss–anti-Gauss rules, 2 probes × 60 steps) (issue #22, item 7).

``landscape bound`` spends its time in Hessian-vector products: ``probes × steps`` of them
above ``--exact-below`` kept weights, one per column below. Two parts, in one process, on
one IMP-WR run of ``--preset``:

- **time** (``--levels``, default 0 and 2, both above ``--exact-below``): each estimator runs
  the whole ``jobs.bound`` job (``--force``, its own folder), alternating; wall seconds (the
  job's own timer) and the process's CPU seconds, which a machine shared with other jobs
  inflates far less than wall time; the products; p* of both mask kinds under each, and
  whether the two result folders got different names (they must: the estimator is part of
  the settings hash);
- **error** (``--exact-level``, default 8: about 2,500 kept weights): the exact path
  (``--exact-below`` raised above the level's dimension: the dense Hessian, eigendecomposed)
  gives the reference p*; each estimator (``--exact-below 0``) runs with ``--seeds``
  different probe seeds, and its p* error against the exact one is printed, per seed and as
  the root mean square.

    python bench/bench_bound.py --levels 0,2 --exact-level 8 --seeds 3

(``--run RUN``: an existing run of the preset with those levels, instead of training one.)
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from landscape import jobs
from landscape.hparams import PRESETS, RunConfig
from landscape.specs import BoundSpec, CurvatureSpec

#: The contenders: the estimator before 2026-12-07 and the default.
METHODS = ("slq", "averaged")


def _job(run, spec: BoundSpec, level: int, out: Path, force: bool = True):
    """One level's whole job: (Result, CPU seconds)."""
    c0 = time.process_time()
    res = jobs.bound(run, spec, levels=[level], out=out, force=force, quiet=True,
                     log=lambda m: None)  # fmt: skip
    return res, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="mlp-mnist1d")
    ap.add_argument("--levels", default="0,2", help="levels to time, e.g. 0,2 ('': none)")
    ap.add_argument("--exact-level", type=int, default=8,
                    help="level whose exact spectrum is the error reference (-1: none)")  # fmt: skip
    ap.add_argument("--seeds", type=int, default=3, help="probe seeds at the reference level")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--root", default="", help="where the run goes (default: a temporary folder)")
    ap.add_argument(
        "--run", default="", help="an existing run of the preset instead of training one"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    levels = [int(v) for v in args.levels.split(",") if v]
    root = Path(args.root or tempfile.mkdtemp())
    cfg = (
        RunConfig()
        .replace(**PRESETS[args.preset])
        .replace(levels=max([*levels, args.exact_level]), device="cpu", threads=args.threads)
    )
    from landscape.runs import open_run

    # jobs.prune returns the run's directory
    run = open_run(args.run or jobs.prune(cfg, root=root, quiet=True), "cpu")
    import landscape.plotting.bound  # noqa: F401  (matplotlib's import is not the first job's cost)

    specs = {m: BoundSpec(trace_method=m) for m in METHODS}
    print(f"# {datetime.date.today()}, torch {torch.__version__}, {platform.machine()}, cpu, "
          f"{args.threads} thread(s), {args.preset}, run {run.path}, load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")  # fmt: skip
    print()
    print("| level | kept D | estimator | HVPs | wall s | CPU s | p* magnitude | p* random |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    for lv in levels:
        wall: dict[str, list[float]] = {m: [] for m in METHODS}
        cpu: dict[str, list[float]] = {m: [] for m in METHODS}
        recs = {}
        for _ in range(args.reps):
            for m in METHODS:
                res, seconds = _job(run, specs[m], lv, root / f"bench_{m}")
                wall[m].append(res["seconds"])
                cpu[m].append(seconds)
                recs[m] = res
        for m in METHODS:
            r = recs[m].record
            print(f"| {lv} | {r['num_kept']} | {r['method']} | {r['hvps']} | "
                  f"{statistics.median(wall[m]):.1f} | {statistics.median(cpu[m]):.1f} | "
                  f"{r['p_star']['magnitude']:.4f} | {r['p_star']['random']:.4f} |")  # fmt: skip
        a, b = (recs[m].record for m in METHODS)
        diff = ", ".join(f"{k} {b['p_star'][k] - a['p_star'][k]:+.4f}" for k in a["p_star"])
        ratio = statistics.median(cpu["slq"]) / statistics.median(cpu["averaged"])
        print(f"|  | level {lv}: averaged − slq p*: {diff}; CPU seconds slq / averaged "
              f"{ratio:.1f}×; different folders: "
              f"{recs['slq'].folder.name != recs['averaged'].folder.name} | | | | | | |")  # fmt: skip
    if args.exact_level < 0:
        return
    lv = args.exact_level
    # not forced: with --root, a later call reuses the reference (its time is then 0 CPU s)
    ref, ref_cpu = _job(run, BoundSpec(exact_below=10**9), lv, root / "bench_exact", force=False)
    want = ref.record["p_star"]
    print()
    print(f"Reference: level {lv}, D = {ref.record['num_kept']}, exact "
          f"({ref.record['hvps']} HVPs, {ref['seconds']:.1f} s wall, {ref_cpu:.1f} s CPU): "
          f"p* magnitude {want['magnitude']:.4f}, random {want['random']:.4f}")  # fmt: skip
    print()
    print("| estimator | HVPs | seed | p* error magnitude | p* error random | CPU s |")
    print("|---|---:|---:|---:|---:|---:|")
    errs: dict[str, list[tuple[float, float]]] = {m: [] for m in METHODS}
    hvps = {}
    for seed in range(args.seeds):
        for m in METHODS:
            spec = BoundSpec(trace_method=m, exact_below=0, curvature=CurvatureSpec(seed=seed))
            res, seconds = _job(run, spec, lv, root / f"bench_err_{m}")
            got = res.record["p_star"]
            e = (got["magnitude"] - want["magnitude"], got["random"] - want["random"])
            errs[m].append(e)
            hvps[m] = res.record["hvps"]
            print(f"| {m} | {hvps[m]} | {seed} | {e[0]:+.4f} | {e[1]:+.4f} | {seconds:.1f} |")
    for m in METHODS:
        rms = np.sqrt(np.mean(np.square(errs[m]), axis=0))
        print(f"| {m}: root mean square over {args.seeds} seeds | {hvps[m]} | | {rms[0]:.4f} | "
              f"{rms[1]:.4f} | |")  # fmt: skip


if __name__ == "__main__":
    main()
