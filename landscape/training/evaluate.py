"""Loss and error of a model on a data split (eval mode, no augmentation)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from landscape.data import DataSet

__all__ = ["evaluate"]


@torch.no_grad()
def evaluate(
    model: nn.Module, data: DataSet, split: str = "test", batch_size: int = 1000
) -> dict[str, float]:
    """Mean cross-entropy ``loss`` and ``error`` = 1 − accuracy over ``split``; the model's mode is restored."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    loss = torch.zeros((), device=device, dtype=torch.float64)
    wrong = torch.zeros((), device=device, dtype=torch.long)
    n = 0
    for x, y in data.eval_batches(split, batch_size):
        out = model(x)
        loss += F.cross_entropy(out.float(), y, reduction="sum").double()
        wrong += (out.argmax(1) != y).sum()
        n += y.numel()
    model.train(was_training)
    return {"loss": float(loss) / n, "error": float(wrong) / n}
