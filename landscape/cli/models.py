"""``landscape models``: list the models, data sets, methods and presets."""

from __future__ import annotations

import argparse

from landscape.data import DATASETS
from landscape.hparams import PRESETS
from landscape.models import MODELS
from landscape.runners import METHODS

VERB = "models"
HELP = "list the available models, data sets, pruning methods and presets"
ORDER = 90
COMPUTES = False  # reads files only: no engine group


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    print("models (--model):")
    for n in MODELS.names():
        print(f"  {n:16s} {MODELS.help(n)}")
    print(f"  {'mlp-wN, cnn1d-wN':16s} the MNIST-1D MLP or 1-D CNN at width N, e.g. mlp-w512")
    print(f"  {'wrn-D-K':16s} WideResNet of depth D and width K, e.g. wrn-28-10")
    print(f"  {'tv:NAME':16s} any torchvision classification model, e.g. tv:resnet50")
    print(
        f"  {'pkg.mod:factory':16s} your own model: factory(num_classes=..., in_shape=...) -> nn.Module"
    )
    print("data sets (--data):")
    for n in DATASETS.names():
        print(f"  {n:16s} {DATASETS.help(n)}")
    print("pruning methods (--method):")
    for n in METHODS.names():
        print(f"  {n:16s} {METHODS.help(n)}")
    print("presets (--preset):")
    for n, v in PRESETS.items():
        print(f"  {n:16s} " + " ".join(f"{k}={x}" for k, x in v.items()))
    return 0
