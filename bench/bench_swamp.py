"""Benchmark: SWAMP particle-steps per second, sequential vs vectorised vs distributed.

For N particles in each mode, times the masked-SGD + SWA training of N particles for
``--steps`` steps each (SWA from half-way, a snapshot per epoch), exactly the loops
the SWAMP runner uses (landscape.training.swa / .vectorized; distributed = one
process per particle, gloo on CPU / NCCL on CUDA, timed from a barrier before
training to the all-reduce of the average after it, process start-up excluded).
Reports particle-steps/s and each time relative to the sequential N = 1 time
measured in the same run. Run by hand, never in the test suite:

    python bench/bench_swamp.py --model mlp --data mnist1d --steps 200
    python bench/bench_swamp.py --model resnet20 --data synthetic-cifar --steps 20
    python bench/bench_swamp.py --model resnet20 --data synthetic-cifar --device cuda --steps 200

Prints a Markdown table; ``--out FILE.json`` also writes the numbers.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import socket
import time

import torch
import torch.multiprocessing as mp

from landscape import distributed as D
from landscape.data import load_data
from landscape.hparams import TrainHparams
from landscape.models import create_model
from landscape.training import constant
from landscape.training.swa import SwaPlan, train_particle
from landscape.training.vectorized import train_particles


def _setup(args: argparse.Namespace, device: torch.device):
    data = load_data(args.data, device=str(device))
    model = create_model(args.model, data.in_shape, data.num_classes, seed=0).to(device)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    hp = TrainHparams(lr=0.05, momentum=0.9, weight_decay=5e-4)
    spe = data.steps_per_epoch(args.batch_size)
    plan = SwaPlan(0, args.steps, args.steps // 2, 0.05, min(spe, max(1, args.steps // 4)))
    return data, model, start, hp, plan


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_local(args, device, mode: str, n: int) -> float:
    """Wall seconds to train n particles (sequentially or vectorised) for args.steps steps."""
    data, model, start, hp, plan = _setup(args, device)
    common = dict(plan=plan, lr_at=constant(0.05), show_progress=False)
    # Warm-up: a few steps of the same code path (kernels, allocator, lazy imports).
    warm = dict(common, plan=SwaPlan(0, 3, 1, 0.05, 3))
    if mode == "vectorized":
        train_particles(
            model, [start] * n, data, hp, args.batch_size, data_seeds=list(range(n)), **warm
        )
    else:
        model.load_state_dict(start)
        train_particle(model, data, hp, args.batch_size, data_seed=0, **warm)
    _sync(device)
    t0 = time.perf_counter()
    if mode == "vectorized":
        train_particles(
            model, [start] * n, data, hp, args.batch_size, data_seeds=[1000 * i for i in range(n)], **common
        )  # fmt: skip
    else:
        for i in range(n):
            model.load_state_dict(start)
            train_particle(model, data, hp, args.batch_size, data_seed=1000 * i, **common)
    _sync(device)
    return time.perf_counter() - t0


def _dist_worker(rank: int, world: int, port: int, args, results) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank), OMP_NUM_THREADS=str(args.rank_threads),
    )  # fmt: skip
    torch.set_num_threads(args.rank_threads)
    device = D.local_device(torch.device(args.device))
    D.init_from_env(device)
    try:
        data, model, start, hp, plan = _setup(args, device)
        common = dict(plan=plan, lr_at=constant(0.05), show_progress=False)
        model.load_state_dict(start)
        train_particle(
            model,
            data,
            hp,
            args.batch_size,
            data_seed=0,
            **dict(common, plan=SwaPlan(0, 3, 1, 0.05, 3)),
        )
        model.load_state_dict(start)
        _sync(device)
        D.barrier()
        t0 = time.perf_counter()
        r = train_particle(model, data, hp, args.batch_size, data_seed=1000 * rank, **common)
        flat = torch.cat(
            [v.reshape(-1).double() for k, v in r.state.items() if v.is_floating_point()]
        )
        D.all_reduce_sum(flat)
        _sync(device)
        if rank == 0:
            results["seconds"] = time.perf_counter() - t0
    finally:
        D.shutdown()


def _time_distributed(args, n: int) -> float | None:
    if args.device.startswith("cuda") and n > torch.cuda.device_count():
        return None  # one GPU per rank
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_dist_worker, args=(n, port, args, results), nprocs=n, join=True)
        return results.get("seconds")


def _rate(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--data", default="mnist1d")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--steps", type=int, default=200, help="optimiser steps per particle")
    parser.add_argument("--particles", default="1,2,4,8")
    parser.add_argument("--modes", default="sequential,vectorized,distributed")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=1, help="best of R timings per cell")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads of the main process (0: default)"
    )
    parser.add_argument(
        "--rank-threads", type=int, default=1, help="torch threads per distributed rank"
    )
    parser.add_argument("--out", default="", help="also write the numbers as JSON here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    ns = [int(x) for x in args.particles.split(",")]
    modes = args.modes.split(",")
    rows = []
    for mode in modes:
        for n in ns:
            times = []
            for _ in range(args.repeats):
                t = (
                    _time_distributed(args, n)
                    if mode == "distributed"
                    else _time_local(args, device, mode, n)
                )
                if t is not None:
                    times.append(t)
            if times:
                rows.append({"mode": mode, "particles": n, "seconds": min(times)})
    base = next(r["seconds"] for r in rows if r["mode"] == "sequential" and r["particles"] == 1) if any(
        r["mode"] == "sequential" and r["particles"] == 1 for r in rows
    ) else None  # fmt: skip
    for r in rows:
        r["particle_steps_per_s"] = r["particles"] * args.steps / r["seconds"]
        one = next(
            (q["seconds"] for q in rows if q["mode"] == r["mode"] and q["particles"] == 1), None
        )
        r["time_vs_one_particle_same_mode"] = r["seconds"] / one if one else None
        r["time_vs_sequential_1"] = r["seconds"] / base if base else None
    meta = {
        "command": "python bench/bench_swamp.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v not in ("", None)
        ),
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
        + (f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ", no GPU"),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_average_after": os.getloadavg()[0],
    }  # fmt: skip
    print(json.dumps(meta, indent=1))
    print(
        "| mode | N | seconds | particle-steps/s | time / time(N=1, same mode) | time / sequential N=1 |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['particles']} | {r['seconds']:.2f} | {_rate(r['particle_steps_per_s'])} | "
            f"{r['time_vs_one_particle_same_mode']:.2f} | {r['time_vs_sequential_1']:.2f} |"
        )
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"meta": meta, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
