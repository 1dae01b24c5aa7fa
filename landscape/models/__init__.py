"""Model registry: ``create_model(name, in_shape, num_classes)`` (ARCHITECTURE.md, ``models/``).

Names: ``mlp``, ``cnn1d`` (MNIST-1D); ``resnet20/32/56`` (CIFAR ResNets);
``resnet18`` (CIFAR stem); ``vgg11/16/19`` (with BatchNorm); ``wrn-D-K``
(WideResNet depth D, width K); ``tv:NAME`` for any torchvision model; and a
user's own model as ``package.module:factory``.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable

import torch
from torch import nn

from landscape.errors import RegistryError
from landscape.registry import Registry

__all__ = ["MODELS", "create_model", "model_names"]

ModelFactory = Callable[[tuple[int, ...], int], nn.Module]
MODELS: Registry[ModelFactory] = Registry("model", flag="--model")

# Importing the definition modules registers their models.
from landscape.models import cifar, mnist1d  # noqa: E402, F401

_WRN = re.compile(r"^wrn-(\d+)-(\d+)$")


def model_names() -> list[str]:
    return [*MODELS.names(), "wrn-D-K", "tv:NAME", "package.module:factory"]


def _user_factory(spec: str, in_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise RegistryError(
            f"cannot import the model factory {spec!r} ({exc}); is the package on PYTHONPATH?"
        ) from exc
    params = inspect.signature(factory).parameters
    kwargs = {}
    if "num_classes" in params:
        kwargs["num_classes"] = num_classes
    if "in_shape" in params:
        kwargs["in_shape"] = in_shape
    model = factory(**kwargs)
    if not isinstance(model, nn.Module):
        raise RegistryError(f"{spec} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _build(name: str, in_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    if ":" in name and not name.startswith("tv:"):
        return _user_factory(name, in_shape, num_classes)
    if name.startswith("tv:"):
        import torchvision

        try:
            return torchvision.models.get_model(name[3:], weights=None, num_classes=num_classes)
        except ValueError as exc:
            raise RegistryError(f"unknown torchvision model {name[3:]!r} ({exc})") from exc
    m = _WRN.match(name)
    if m:
        return cifar.wide_resnet(int(m.group(1)), int(m.group(2)), num_classes)
    if name not in MODELS:
        MODELS.get(name)  # raises with the list of valid names
    return MODELS.get(name)(in_shape, num_classes)


def create_model(
    name: str, in_shape: tuple[int, ...], num_classes: int, seed: int = 0
) -> nn.Module:
    """Build model ``name`` with initialisation seeded by ``seed`` (global RNG left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _build(name, tuple(in_shape), num_classes)
