"""Benchmark: the batched evaluation engine against a plain per-point loop (docs/architecture.md).

Workloads (issue #5): a 21-point path with BatchNorm recompute, and a 25x25 slice
grid, on the same data for both contenders.

- baseline: for every point, build its state dict, ``load_state_dict``, reset and
  re-estimate BatchNorm (``landscape.training.recompute_bn``), evaluate.
- engine: ``landscape.analysis.engine.evaluate_points`` (``--modes``: auto, vmap, loop).
- ``floor`` (also in ``--modes``): what any engine that runs one forward per point must
  at least do — the forwards (BN passes included) and scores of K points with the
  weights held fixed, nothing else. baseline / floor is the ceiling on the speed-up of
  such an engine on this machine.

Runs are interleaved (baseline, engine, baseline, ...) and the median of
``--repeats`` is reported, with the speed-up (baseline / engine) and the largest
loss difference between the two (they compute the same numbers). Wall time and
process CPU time are both reported: on a shared machine the CPU time of a
single-threaded run (``--threads 1``) is the steadier measure of the work done. The weights are
three random initialisations: the work per point does not depend on their values.

    python3 bench/bench_engine.py --model mlp --threads 1
    python3 bench/bench_engine.py --model cnn1d --threads 1
    python3 bench/bench_engine.py --model resnet20 --eval-samples 256 --grid 5 --threads 1
    python3 bench/bench_engine.py --model resnet20 --device cuda --eval-samples 1024  # GPU
    python3 bench/bench_engine.py --matmul --threads 1   # the MLP's matmul floor, K separate vs bmm
    python3 bench/bench_engine.py --point-threads        # threads over points vs intra-op threads
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import numpy as np
import torch
import torch.nn.functional as F

from landscape.analysis.engine import MODES, Points, batchnorm_modules, evaluate_points
from landscape.analysis.slices import anchor_plane
from landscape.data import load_data
from landscape.models import create_model
from landscape.training import recompute_bn

# ---------------------------------------------------------------- settings
DATA = {"mlp": "mnist1d", "cnn1d": "mnist1d", "resnet20": "synthetic-cifar"}


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        allow_abbrev=False, description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--model", default="mlp", help="mlp, cnn1d, resnet20 (or any registry name)")
    p.add_argument("--data", default=None, help="default: mnist1d, synthetic-cifar for resnet20")
    p.add_argument("--device", default="cpu")
    p.add_argument("--workloads", nargs="+", default=["path", "grid"], choices=["path", "grid"])
    p.add_argument("--points", type=int, default=21, help="points on the path")
    p.add_argument("--grid", type=int, default=25, help="grid points per axis")
    p.add_argument("--eval-samples", type=int, default=0, help="test samples (0: all)")
    p.add_argument("--bn-batches", type=int, default=10, help="training batches for BN recompute")
    p.add_argument("--bn-batch-size", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=1000, help="evaluation batch size")
    p.add_argument(
        "--modes", nargs="+", default=["auto", "vmap", "loop", "floor"],
        choices=[*MODES, "floor"],
    )  # fmt: skip
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--json", default=None, help="append the rows to this JSON-lines file")
    p.add_argument(
        "--matmul", action="store_true",
        help="instead: time the MNIST-1D MLP's products per point, separate vs one stacked bmm",
    )  # fmt: skip
    p.add_argument(
        "--point-threads", action="store_true",
        help="instead: the MLP's forward per point in one loop vs two threads over points",
    )  # fmt: skip
    return p.parse_args()


def matmul_floor(threads: int) -> None:
    """CPU ms per point of the MLP's three products on 1000 samples: K separate vs stacked."""
    torch.manual_seed(0)
    x = torch.randn(1000, 40)

    def cpu_ms(fn, reps: int = 20) -> float:
        fn()
        c0 = time.process_time()
        for _ in range(reps):
            fn()
        return (time.process_time() - c0) / reps * 1e3

    print(f"MLP 40-100-100-10 on 1000 samples, {threads or torch.get_num_threads()} threads, "
          f"{date.today()}: CPU ms per point")  # fmt: skip
    print("| points K | K separate products | one stacked bmm |")
    print("|---:|---:|---:|")
    for k in (1, 8, 21):
        w = [torch.randn(k, 100, 40), torch.randn(k, 100, 100), torch.randn(k, 10, 100)]
        b = [torch.randn(k, 100), torch.randn(k, 100), torch.randn(k, 10)]

        def separate(k=k, w=w, b=b):
            for i in range(k):
                h = F.relu(F.linear(x, w[0][i], b[0][i]))
                h = F.relu(F.linear(h, w[1][i], b[1][i]))
                F.linear(h, w[2][i], b[2][i])

        def stacked(k=k, w=w, b=b):
            h = F.relu(torch.baddbmm(b[0][:, None], x.expand(k, -1, -1), w[0].transpose(1, 2)))
            h = F.relu(torch.baddbmm(b[1][:, None], h, w[1].transpose(1, 2)))
            torch.baddbmm(b[2][:, None], h, w[2].transpose(1, 2))

        print(f"| {k} | {cpu_ms(separate) / k:.3f} | {cpu_ms(stacked) / k:.3f} |")


def point_threads() -> None:
    """Wall ms per point of the MLP's forward + score over 1000 samples (200 points, each
    with its own weights): one thread, two intra-op threads, and two Python threads
    taking alternate points with one intra-op thread each (torch releases the GIL)."""
    torch.manual_seed(0)
    x, y = torch.randn(1000, 40), torch.randint(0, 10, (1000,))
    k = 200
    w = [(torch.randn(100, 40) / 6, torch.randn(100), torch.randn(100, 100) / 10,
          torch.randn(100), torch.randn(10, 100) / 10, torch.randn(10)) for _ in range(k)]  # fmt: skip

    def points(ids) -> None:
        with torch.no_grad():
            for i in ids:
                w1, b1, w2, b2, w3, b3 = w[i]
                h = F.relu(F.linear(F.relu(F.linear(x, w1, b1)), w2, b2))
                out = F.linear(h, w3, b3)
                F.cross_entropy(out, y, reduction="sum").double()
                (out.argmax(1) != y).sum()

    def ms(fn) -> float:
        fn()
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) / k * 1e3

    rows = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        rows.append((f"one loop, {threads} intra-op thread(s)", ms(lambda: points(range(k)))))
    torch.set_num_threads(1)
    with ThreadPoolExecutor(2, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        rows.append(("two threads over points, 1 intra-op thread each",
                     ms(lambda: list(pool.map(points, [range(0, k, 2), range(1, k, 2)])))))  # fmt: skip
    print(f"MLP 40-100-100-10 forward + score on 1000 samples, {k} points, {date.today()}")
    print("| how | wall ms per point |")
    print("|---|---:|")
    for name, v in rows:
        print(f"| {name} | {v:.3f} |")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def baseline(model, basis, coeffs, x, y, bn, batch_size) -> np.ndarray:
    """The plain loop: one state dict per point, load it, re-estimate BN, evaluate."""
    losses = []
    for row in coeffs:
        state = {}
        for k, like in basis[0].items():
            if like.is_floating_point():
                state[k] = sum(float(c) * b[k] for c, b in zip(row, basis))
            else:
                state[k] = like
        model.load_state_dict(state)
        recompute_bn(model, bn)  # reset + cumulative re-estimate; a no-op without BatchNorm
        model.eval()
        total = torch.zeros((), dtype=torch.float64, device=x.device)
        wrong = torch.zeros((), dtype=torch.long, device=x.device)
        for i in range(0, len(x), batch_size):
            out = model(x[i : i + batch_size])
            total += F.cross_entropy(out, y[i : i + batch_size], reduction="sum").double()
            wrong += (out.argmax(1) != y[i : i + batch_size]).sum()
        losses.append(float(total) / len(x))
    return np.array(losses)


@torch.no_grad()
def floor(model, k, x, y, bn, batch_size) -> np.ndarray:
    """K forwards and scores with fixed weights: the least one-forward-per-point work."""
    bns = batchnorm_modules(model)
    losses = []
    for _ in range(k):
        if bns:
            for m in bns:
                m.train()
            for xb, _ in bn:
                model(xb)
        model.eval()
        total = torch.zeros((), dtype=torch.float64, device=x.device)
        for i in range(0, len(x), batch_size):
            out = model(x[i : i + batch_size])
            total += F.cross_entropy(out, y[i : i + batch_size], reduction="sum").double()
            (out.argmax(1) != y[i : i + batch_size]).sum()
        losses.append(float(total) / len(x))
    return np.array(losses)


def main() -> None:
    args = parse()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.matmul:
        matmul_floor(args.threads)
        return
    if args.point_threads:
        point_threads()
        return
    device = torch.device(args.device)
    data = load_data(args.data or DATA.get(args.model, "mnist1d"), device=str(device))
    x, y = data.tensors("test", args.eval_samples)
    bn = list(data.train_batches(0, args.bn_batches, args.bn_batch_size, seed=0, augment=False))
    model = create_model(args.model, data.in_shape, data.num_classes).to(device)
    basis = [
        {k: v.to(device) for k, v in create_model(args.model, data.in_shape, data.num_classes, seed=s).state_dict().items()}
        for s in range(3)
    ]  # fmt: skip
    workloads = {}
    if "path" in args.workloads:
        a = np.linspace(0, 1, args.points)
        workloads[f"path {args.points} pts"] = np.stack([1 - a, a, 0 * a], 1)
    if "grid" in args.workloads:
        names = [n for n, _ in model.named_parameters()]
        plane = anchor_plane(*basis, names)
        g = np.linspace(-0.3 * plane.scale, 1.3 * plane.scale, args.grid)
        bb, aa = np.meshgrid(g, g, indexing="ij")
        workloads[f"grid {args.grid}x{args.grid}"] = plane.coefficients(aa.ravel(), bb.ravel())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    head = (f"model {args.model}, data {data.name}, {len(x)} eval samples, BN recompute on "
            f"{args.bn_batches}x{args.bn_batch_size} samples, device {device}, torch "
            f"{torch.__version__}, {torch.get_num_threads()} threads, load avg {load:.1f}, "
            f"{platform.processor() or platform.machine()}, {date.today()}")  # fmt: skip
    print(head)
    print("| workload | mode | points | baseline wall s | engine wall s | wall speed-up | "
          "baseline CPU s | engine CPU s | CPU speed-up | max abs loss diff |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for wname, coeffs in workloads.items():
        pts = Points.combine(basis, coeffs)
        base_t, eng_t = [], {m: [] for m in args.modes}
        base_c, eng_c = [], {m: [] for m in args.modes}
        ref = got = None
        for _ in range(args.repeats):
            sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            ref = baseline(model, basis, coeffs, x, y, bn, args.batch_size)
            sync(device)
            base_t.append(time.perf_counter() - t0)
            base_c.append(time.process_time() - c0)
            got = {}
            for mode in args.modes:
                t0, c0 = time.perf_counter(), time.process_time()
                if mode == "floor":
                    got[mode] = floor(model, len(pts), x, y, bn, args.batch_size)
                else:
                    got[mode] = evaluate_points(model, pts, (x, y), bn_policy="recompute",
                                                bn_data=bn, batch_size=args.batch_size,
                                                mode=mode).losses  # fmt: skip
                sync(device)
                eng_t[mode].append(time.perf_counter() - t0)
                eng_c[mode].append(time.process_time() - c0)
        tb, cb = statistics.median(base_t), statistics.median(base_c)
        for mode in args.modes:
            te, ce = statistics.median(eng_t[mode]), statistics.median(eng_c[mode])
            # The floor evaluates one fixed point K times: its losses are not comparable.
            diff = float(np.abs(got[mode] - ref).max()) if mode != "floor" else float("nan")
            row = {"model": args.model, "workload": wname, "mode": mode, "points": len(pts),
                   "baseline_s": tb, "engine_s": te, "speedup": tb / te, "max_loss_diff": diff,
                   "baseline_cpu_s": cb, "engine_cpu_s": ce, "cpu_speedup": cb / ce,
                   "device": str(device), "threads": torch.get_num_threads(), "load": load,
                   "eval_samples": len(x), "date": str(date.today())}  # fmt: skip
            print(f"| {wname} | {mode} | {len(pts)} | {tb:.3f} | {te:.3f} | {tb / te:.2f}x | "
                  f"{cb:.3f} | {ce:.3f} | {cb / ce:.2f}x | {diff:.1e} |")  # fmt: skip
            if args.json:
                with open(args.json, "a") as fh:
                    fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
