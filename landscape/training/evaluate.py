"""Loss and error of a model on a data split (eval mode, no augmentation)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from landscape import distributed
from landscape.data import DataSet

__all__ = ["evaluate"]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: DataSet,
    split: str = "test",
    batch_size: int = 1000,
    shard: bool = False,
) -> dict[str, float]:
    """Mean cross-entropy ``loss`` and ``error`` = 1 − accuracy over ``split``; the model's mode is restored.

    Args:
        shard: under ``torchrun``, rank ``r`` evaluates batches ``r, r + R, …`` and the
            sums are added over ranks (every rank must call, with the same model); the
            error is the one-process error exactly, the loss up to float rounding.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    loss = torch.zeros((), device=device, dtype=torch.float64)
    wrong = torch.zeros((), device=device, dtype=torch.long)
    n = torch.zeros((), device=device, dtype=torch.long)
    rank, world = distributed.shard_world() if shard else (0, 1)
    for i, (x, y) in enumerate(data.eval_batches(split, batch_size)):
        if i % world != rank:
            continue
        out = model(x)
        loss += F.cross_entropy(out.float(), y, reduction="sum").double()
        wrong += (out.argmax(1) != y).sum()
        n += y.numel()
    if world > 1:
        for total in (loss, wrong, n):
            distributed.all_reduce_sum(total)
    model.train(was_training)
    return {"loss": float(loss) / int(n), "error": float(wrong) / int(n)}
