"""Training: LR schedules, the masked SGD loop, evaluation, BatchNorm re-estimation."""

from landscape.training.bn import recompute_bn
from landscape.training.evaluate import evaluate
from landscape.training.loop import TrainResult, train
from landscape.training.schedules import constant, lr_schedule

__all__ = ["TrainResult", "constant", "evaluate", "lr_schedule", "recompute_bn", "train"]
