"""Benchmark: the flatness bound of one level, batched Hessian-vector products against
one product at a time (issue #22, item 7).

``landscape bound`` spends its time in Hessian-vector products: 16 SLQ probes × 80
Lanczos steps (1,280 products) above ``--exact-below`` kept weights, one product per
column below. Contenders, on the same level of the same run, alternating, in one process:

- ``one at a time`` (the path before batching): every product is its own pass over the
  data (``HessianOperator.matvec``), the probes' Lanczos runs one after another;
- ``batched``: the probes' Lanczos runs advance in lockstep and each step is one batched
  pass over the data for ``--block`` of them (``landscape.analysis.hessian.batched``; the
  default on a GPU, opt-in on a CPU with ``HessianOperator(block_size=B)``).

Each contender runs the whole job (``jobs.bound`` with ``--force`` into its own folder),
so the times include everything a level costs: wall seconds, and the process's CPU
seconds, which a machine shared with other jobs inflates far less than wall time. The
two results must agree: the script
prints the largest relative difference of p* and of the trace curve, and whether both
result folders got the same name (the settings hash).

    python bench/bench_bound.py --levels 0 --reps 1
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from landscape import jobs
from landscape.analysis import bound_trace
from landscape.analysis.hessian import batched
from landscape.hparams import PRESETS, RunConfig
from landscape.specs import BoundSpec


@contextlib.contextmanager
def blocks_of(size: int) -> Iterator[None]:
    """Every operator of the job multiplies ``size`` vectors per pass (1: the path before
    batching: one product per pass, the probes' Lanczos runs one after another)."""
    saved = batched.block_size, bound_trace.block_size
    batched.block_size = bound_trace.block_size = lambda op: size
    try:
        yield
    finally:
        batched.block_size, bound_trace.block_size = saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="mlp-mnist1d")
    ap.add_argument("--levels", default="0", help="levels to time, e.g. 0,3")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--block", type=int, default=16, help="vectors per batched pass")
    ap.add_argument("--root", default="", help="where the run goes (default: a temporary folder)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    levels = [int(v) for v in args.levels.split(",")]
    root = Path(args.root or tempfile.mkdtemp())
    cfg = (
        RunConfig()
        .replace(**PRESETS[args.preset])
        .replace(levels=max(levels), device="cpu", threads=args.threads)
    )
    run = jobs.prune(cfg, root=root, quiet=True)
    spec = BoundSpec()
    print(f"# {datetime.date.today()}, torch {torch.__version__}, {platform.machine()}, cpu, "
          f"{args.threads} thread(s), {args.preset}, run {run}")  # fmt: skip
    print(
        "| level | kept D | trace | HVPs | one at a time: wall / CPU s | batched: wall / CPU s | "
        "speed-up wall / CPU | max rel. diff p* | max rel. diff trace | same folder name |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for lv in levels:
        times: dict[str, list[float]] = {"one": [], "batched": []}
        cpu: dict[str, list[float]] = {"one": [], "batched": []}
        recs = {}
        for _ in range(args.reps):
            for name, size in (("one", 1), ("batched", args.block)):
                with blocks_of(size):
                    c0 = time.process_time()
                    res = jobs.bound(run, spec, levels=[lv], out=root / f"bench_{name}",
                                     force=True, quiet=True, log=lambda m: None)  # fmt: skip
                    cpu[name].append(time.process_time() - c0)
                times[name].append(res["seconds"])
                recs[name] = res
        a, b = recs["one"].record, recs["batched"].record
        dp = max(abs(a["p_star"][k] - b["p_star"][k]) / max(abs(a["p_star"][k]), 1e-12)
                 for k in a["p_star"])  # fmt: skip
        ra, rb = recs["one"].arrays, recs["batched"].arrays
        dt = max(float(np.max(np.abs(ra[k] - rb[k]) / np.maximum(np.abs(ra[k]), 1e-12)))
                 for k in ra if k.startswith("rhs"))  # fmt: skip
        t1, t2 = statistics.median(times["one"]), statistics.median(times["batched"])
        c1, c2 = statistics.median(cpu["one"]), statistics.median(cpu["batched"])
        same = recs["one"].folder.name == recs["batched"].folder.name
        print(f"| {lv} | {a['num_kept']} | {a['method']} | {a['hvps']} | {t1:.1f} / {c1:.1f} | "
              f"{t2:.1f} / {c2:.1f} | {t1 / t2:.2f}× / {c1 / c2:.2f}× | {dp:.1e} | {dt:.1e} | "
              f"{same} |")  # fmt: skip


if __name__ == "__main__":
    main()
