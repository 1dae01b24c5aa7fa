"""ImageNet from an ``ImageFolder`` tree (``<root>/imagenet/{train,val}/<class>/*.JPEG``).

Too large to keep resident: batches stream through a ``DataLoader`` with worker
processes. The sampler is seeded per epoch from the data seed, so the order is a
function of the step index just as for resident data (resume-safe).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from landscape.data.base import step_generator
from landscape.errors import LandscapeError

__all__ = ["FolderData", "load_imagenet"]

_MEAN, _STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass
class FolderData:
    """A streamed image-folder data set with the standard ImageNet transforms."""

    name: str
    root: Path
    num_classes: int
    in_shape: tuple[int, ...] = (3, 224, 224)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    limit: int = 0
    workers: int = field(default_factory=lambda: min(8, os.cpu_count() or 1))

    def _folder(self, split: str, train_tf: bool):
        import torchvision
        from torchvision import transforms as T

        tf = (
            T.Compose(
                [
                    T.RandomResizedCrop(224),
                    T.RandomHorizontalFlip(),
                    T.ToTensor(),
                    T.Normalize(_MEAN, _STD),
                ]
            )
            if train_tf
            else T.Compose(
                [T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(_MEAN, _STD)]
            )
        )
        ds = torchvision.datasets.ImageFolder(
            str(self.root / ("train" if split == "train" else "val")), tf
        )
        if self.limit and split == "train":
            ds = torch.utils.data.Subset(ds, range(self.limit))
        return ds

    @property
    def num_train(self) -> int:
        return len(self._folder("train", False))

    @property
    def num_test(self) -> int:
        return len(self._folder("val", False))

    def steps_per_epoch(self, batch_size: int) -> int:
        return self.num_train // batch_size

    def train_batches(
        self, start: int, stop: int, batch_size: int, seed: int, augment: bool = True
    ) -> Iterator[tuple[Tensor, Tensor]]:
        ds = self._folder("train", augment)
        spe = len(ds) // batch_size
        t = start
        while t < stop:
            epoch, skip = divmod(t, spe)
            order = torch.randperm(len(ds), generator=step_generator(seed, epoch))[
                skip * batch_size :
            ]
            loader = torch.utils.data.DataLoader(
                torch.utils.data.Subset(ds, order.tolist()), batch_size=batch_size,
                drop_last=True, num_workers=self.workers, pin_memory=True,
            )  # fmt: skip
            for x, y in loader:
                yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
                t += 1
                if t >= stop:
                    return

    def eval_batches(self, split: str, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        loader = torch.utils.data.DataLoader(
            self._folder(split, False), batch_size=batch_size, num_workers=self.workers
        )
        for x, y in loader:
            yield x.to(self.device), y.to(self.device)

    def tensors(self, split: str, limit: int = 0) -> tuple[Tensor, Tensor]:
        if not limit:
            raise ValueError(
                "ImageNet is too large to hold at once: pass a sample limit (e.g. --samples)"
            )
        xs, ys, n = [], [], 0
        for x, y in self.eval_batches(split, min(limit, 256)):
            xs.append(x)
            ys.append(y)
            n += len(y)
            if n >= limit:
                break
        return torch.cat(xs)[:limit], torch.cat(ys)[:limit]

    def to(self, device: str | torch.device) -> FolderData:
        self.device = torch.device(device)
        return self

    def subset(self, n: int) -> FolderData:
        self.limit = n
        return self


def load_imagenet(root: Path, download: bool = False) -> FolderData:
    """ImageNet (ILSVRC-2012) from ``<root>/imagenet`` or ``<root>`` holding ``train/`` and ``val/``."""
    base = Path(root)
    for cand in (base / "imagenet", base):
        if (cand / "train").is_dir() and (cand / "val").is_dir():
            n = sum(1 for p in (cand / "train").iterdir() if p.is_dir())
            return FolderData(name="imagenet", root=cand, num_classes=n)
    raise LandscapeError(
        f"no ImageNet folder under {base}: expected {base}/imagenet/train/<class>/... and .../val/. "
        "ImageNet cannot be downloaded automatically; point --data-root at your copy."
    )
