"""CIFAR-10/100 through torchvision, resident on the device, augmented on the device.

Standard recipe: random 32x32 crop of the image zero-padded by 4, random
horizontal flip, per-channel normalisation. The data are downloaded only when
``--download`` is given; otherwise a missing data set is a clear error.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from landscape.data.base import ResidentData
from landscape.errors import LandscapeError

__all__ = ["crop_flip", "load_cifar10", "load_cifar100"]

_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}


def crop_flip(x: Tensor, g: torch.Generator, pad: int = 4) -> Tensor:
    """Batched random crop (zero padding ``pad``) and horizontal flip, all on ``x``'s device."""
    b, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=g).to(x.device)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=g).to(x.device)
    flip = (torch.rand(b, generator=g) < 0.5).to(x.device)
    rows = oy[:, None] + torch.arange(h, device=x.device)
    cols = ox[:, None] + torch.arange(w, device=x.device)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    bi = torch.arange(b, device=x.device)[:, None, None, None]
    ci = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]


def _load(name: str, root: Path, download: bool) -> ResidentData:
    import torchvision

    klass = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}[
        name
    ]
    try:
        train = klass(str(root), train=True, download=download)
        test = klass(str(root), train=False, download=download)
    except RuntimeError as exc:
        raise LandscapeError(
            f"{name} is not in {root} ({exc}). Point --data-root at a folder holding it, or "
            f"fetch it there once with `landscape train --data {name} --data-root {root} "
            "--download` (prune and train take --download)."
        ) from exc
    mean = torch.tensor(_STATS[name][0]).view(1, 3, 1, 1)
    std = torch.tensor(_STATS[name][1]).view(1, 3, 1, 1)

    def to_tensor(ds) -> tuple[Tensor, Tensor]:
        x = torch.as_tensor(ds.data).permute(0, 3, 1, 2).float().div_(255)
        return x, torch.as_tensor(ds.targets, dtype=torch.long)

    def normalize(x: Tensor) -> Tensor:
        return (x - mean.to(x.device)) / std.to(x.device)

    (tx, ty), (vx, vy) = to_tensor(train), to_tensor(test)
    return ResidentData(
        name=name, train_x=tx, train_y=ty, test_x=vx, test_y=vy,
        num_classes=100 if name == "cifar100" else 10, augment_fn=crop_flip, normalize=normalize,
    )  # fmt: skip


def load_cifar10(root: Path, download: bool = False) -> ResidentData:
    """CIFAR-10 (50,000 train / 10,000 test), resident, crop+flip augmentation."""
    return _load("cifar10", root, download)


def load_cifar100(root: Path, download: bool = False) -> ResidentData:
    """CIFAR-100, resident, crop+flip augmentation."""
    return _load("cifar100", root, download)
