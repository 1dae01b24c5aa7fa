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

Extra contenders (``--variants``), the same loop with a speed option of
``TrainHparams``: ``channels-last`` (``--channels-last``), ``compile``
(``--compile``; its compile time is spent in the untimed warm-up, so give a warm-up
of a few steps) and ``bf16`` (``--precision bf16``, CUDA only).

Data-parallel (``--ddp``, under ``torchrun``): the toolkit's loop alone with
``data_parallel=True`` (DDP, each rank on its share of the global batch of 128);
rank 0 prints the global steps/s, to compare with the one-process row.

Run by hand, never in the test suite; prints a Markdown row per contender and the ratio:

    python bench/bench_train.py --steps 30                      # CPU
    python bench/bench_train.py --device cuda --steps 300 --workers 4 \
        --variants channels-last,bf16,compile                    # GPU
    torchrun --nproc-per-node 8 bench/bench_train.py --device cuda --steps 300 --ddp
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


VARIANTS = {
    "channels-last": {"channels_last": True},
    "compile": {"compile": True},
    "bf16": {"precision": "bf16"},
}


def _landscape(
    model, data, device, steps: int, warmup: int, variant: str = "", ddp: bool = False
) -> float:
    hp = TrainHparams(lr=0.05, weight_decay=1e-4, schedule="constant", milestones="")
    for part in filter(None, variant.split("+")):
        hp = dataclasses.replace(hp, **VARIANTS[part])
    resident = dataclasses.replace(data, augment_fn=crop_flip).to(str(device))
    mask = ones_mask(model)
    kw = dict(mask=mask, lr_at=constant(0.05), show_progress=False, data_parallel=ddp)
    train(model, resident, hp, 128, start=0, stop=warmup, **kw)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    train(model, resident, hp, 128, start=warmup, stop=warmup + steps, **kw)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers (plain loop)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--variants", default="", help=f"extra contenders, comma-separated, "
                    f"from {', '.join(VARIANTS)} ('+' combines them)")  # fmt: skip
    ap.add_argument("--ddp", action="store_true", help="under torchrun: the data-parallel loop")
    args = ap.parse_args()
    unknown = {part for v in args.variants.split(",") if v for part in v.split("+")} - set(VARIANTS)
    if unknown:
        ap.error(
            f"unknown --variants {', '.join(sorted(unknown))}; choose from {', '.join(VARIANTS)}"
        )
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.ddp:
        _ddp(args)
        return
    device = torch.device(args.device)
    data = make_synthetic((3, 32, 32), 4096, 256)
    rates = {}
    for name in ("plain", "landscape", *filter(None, args.variants.split(","))):
        model = create_model("resnet20", (3, 32, 32), 10, seed=0).to(device)
        if name == "plain":
            rates[name] = _plain(model, data, device, args.steps, args.warmup, args.workers)
        else:
            variant = "" if name == "landscape" else name
            rates[name if name == "landscape" else f"landscape + {name}"] = _landscape(
                model, data, device, args.steps, args.warmup, variant
            )
    _header(args, device)
    print("| contender | steps/s | relative to plain |\n|---|---:|---:|")
    for name, r in rates.items():
        print(f"| {name} | {r:.2f} | {r / rates['plain']:.2f}× |")


def _ddp(args: argparse.Namespace) -> None:
    """The data-parallel loop on every rank of a torchrun launch; rank 0 prints."""
    from landscape import distributed

    device = distributed.local_device(torch.device(args.device))
    distributed.init_from_env(device)
    try:
        model = create_model("resnet20", (3, 32, 32), 10, seed=0).to(device)
        data = make_synthetic((3, 32, 32), 4096, 256)
        rate = _landscape(model, data, device, args.steps, args.warmup, ddp=True)
        if distributed.is_primary():
            _header(args, device)
            print(f"| landscape, DDP over {distributed.world_size()} ranks | {rate:.2f} | |")
    finally:
        distributed.shutdown()


def _header(args: argparse.Namespace, device: torch.device) -> None:
    print(f"{datetime.date.today()}, torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"device {device}, {torch.get_num_threads()} CPU threads, ResNet-20, batch 128, "
          f"{args.steps} timed steps")  # fmt: skip


if __name__ == "__main__":
    main()
