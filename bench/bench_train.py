"""Benchmark: training steps per second of the toolkit's loop against a plain PyTorch loop.

Workload: ResNet-20 on CIFAR-shaped data (3x32x32, synthetic, so nothing is downloaded),
batch 128, SGD with momentum, crop+flip augmentation, for ``--steps`` steps after
``--warmup`` untimed ones. Contenders, measured in the same run on the same device:

- ``landscape``: ``landscape.training.train`` — data resident on the device, batches
  indexed by step, augmentation on the device (``landscape.data.cifar.crop_flip``),
  masked SGD with an all-ones mask (the IMP level-0 case).
- ``plain``: the textbook loop — a ``torch.utils.data.DataLoader`` over a
  ``TensorDataset`` on the CPU (shuffle, batch 128, ``--workers`` processes) with
  torchvision's ``RandomCrop(32, padding=4)`` and ``RandomHorizontalFlip`` per sample,
  ``.to(device)`` per batch, ``loss.backward(); opt.step()``.

Run by hand, never in the test suite; prints a Markdown row per contender and the ratio:

    python bench/bench_train.py --steps 30                      # CPU
    python bench/bench_train.py --device cuda --steps 300       # GPU
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import platform
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from landscape.data.cifar import crop_flip
from landscape.data.synthetic import make_synthetic
from landscape.hparams import TrainHparams
from landscape.models import create_model
from landscape.pruning import ones_mask
from landscape.training import constant, train


class _Augmented(Dataset):
    """CPU tensors with torchvision's per-sample crop and flip (the plain contender)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        from torchvision import transforms

        self.x, self.y = x, y
        self.t = transforms.Compose([transforms.RandomCrop(32, padding=4),
                                     transforms.RandomHorizontalFlip()])  # fmt: skip

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.t(self.x[i]), self.y[i]


def _plain(model, data, device, steps: int, warmup: int, workers: int) -> float:
    loader = DataLoader(_Augmented(data.train_x, data.train_y), batch_size=128, shuffle=True,
                        num_workers=workers, drop_last=True, persistent_workers=workers > 0)  # fmt: skip
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    model.train()
    done, t0 = 0, 0.0
    while done < steps + warmup:
        for x, y in loader:
            if done == warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
            if done == steps + warmup:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def _landscape(model, data, device, steps: int, warmup: int) -> float:
    hp = TrainHparams(lr=0.05, weight_decay=1e-4, schedule="constant", milestones="")
    resident = dataclasses.replace(data, augment_fn=crop_flip).to(str(device))
    mask = ones_mask(model)
    kw = dict(mask=mask, lr_at=constant(0.05), show_progress=False)
    train(model, resident, hp, 128, start=0, stop=warmup, **kw)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    train(model, resident, hp, 128, start=warmup, stop=warmup + steps, **kw)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers (plain loop)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    data = make_synthetic((3, 32, 32), 4096, 256)
    rates = {}
    for name in ("plain", "landscape"):
        model = create_model("resnet20", (3, 32, 32), 10, seed=0).to(device)
        rates[name] = (_plain(model, data, device, args.steps, args.warmup, args.workers)
                       if name == "plain" else _landscape(model, data, device, args.steps,
                                                          args.warmup))  # fmt: skip
    print(f"{datetime.date.today()}, torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"device {device}, {torch.get_num_threads()} CPU threads, ResNet-20, batch 128, "
          f"{args.steps} timed steps")  # fmt: skip
    print("| contender | steps/s | relative to plain |\n|---|---:|---:|")
    for name, r in rates.items():
        print(f"| {name} | {r:.2f} | {r / rates['plain']:.2f}× |")


if __name__ == "__main__":
    main()
