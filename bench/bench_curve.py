"""Benchmark: one epoch of curve training against one training epoch of the model.

Garipov et al.'s curve training costs one forward and backward pass per batch, like
training the network itself, plus building the point ``φ_θ(t)`` from the ends and the bends
and stepping the bends. The target (issue #21): a curve epoch costs at most ~1.5× a
training epoch. Both contenders run in the same process on the same data, model and
batch size, alternating, ``--reps`` times after one untimed warm-up each; the medians and
their ratio are printed as a Markdown row per model:

- ``train``: ``landscape.training.train`` for one epoch (masked SGD, all-ones mask, the
  IMP level-0 case);
- ``curve``: ``landscape.jobs.curve.train_bends`` for one epoch, one Bezier bend between
  two networks (two initialisations), the run's SGD settings.

Run by hand, never in the test suite:

    python bench/bench_curve.py --threads 1 --reps 5
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from landscape.analysis.curves import initial_bends
from landscape.hparams import PRESETS, RunConfig
from landscape.jobs.curve import train_bends
from landscape.pruning import ones_mask
from landscape.runs import Run
from landscape.specs import CurveSpec
from landscape.training import train


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def bench(preset: str, reps: int, device: torch.device) -> tuple[float, float, int]:
    cfg = RunConfig().replace(**PRESETS[preset]).replace(device=str(device))
    run = Run(path=Path(tempfile.mkdtemp()), config=cfg, meta={}, device=device, trusted=True)
    data, hp, bs = run.data, cfg.train, cfg.data.batch_size
    spe = data.steps_per_epoch(bs)
    model = run.model()
    a = _state(model)
    b = _state(run.model().apply(lambda m: getattr(m, "reset_parameters", lambda: None)()))
    bends = initial_bends("bezier", a, b, 1)
    spec = CurveSpec(epochs=1)
    net = run.model()
    mask = ones_mask(net)

    def one_train() -> float:
        t0 = time.perf_counter()
        train(net, data, hp, bs, stop=spe, mask=mask, show_progress=False)
        return time.perf_counter() - t0

    def one_curve() -> float:
        t0 = time.perf_counter()
        train_bends(model, run, a, b, bends, spec)
        return time.perf_counter() - t0

    one_train(), one_curve()  # warm-up
    times_t, times_c = [], []
    for _ in range(reps):
        times_t.append(one_train())
        times_c.append(one_curve())
    return statistics.median(times_t), statistics.median(times_c), spe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default="mlp-mnist1d,paul-mnist1d")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"# {datetime.date.today()}, torch {torch.__version__}, {platform.machine()}, "
          f"{device}, {args.threads} thread(s), median of {args.reps}")  # fmt: skip
    print(
        "| preset (model) | steps/epoch | training epoch (s) | curve epoch (s) | curve / training |"
    )
    print("|---|---:|---:|---:|---:|")
    for preset in args.presets.split(","):
        t, c, spe = bench(preset, args.reps, device)
        print(f"| {preset} ({PRESETS[preset].get('model', 'mlp')}) | {spe} | {t:.3f} | {c:.3f} | "
              f"{c / t:.2f}× |")  # fmt: skip


if __name__ == "__main__":
    main()
