"""Model registry: ``create_model(name, in_shape, num_classes)`` (docs/architecture.md, ``models/``).

Names: ``mlp``, ``cnn1d`` (MNIST-1D), and ``mlp-wN``/``cnn1d-wN`` at width ``N``; ``resnet20/32/56/110`` (CIFAR ResNets);
``resnet18`` (CIFAR stem); ``vgg11/16/19`` (with BatchNorm); ``wrn-D-K``
(WideResNet depth D, width K); ``tv:NAME`` for any torchvision model; and a
user's own model as ``package.module:factory``.

Importing this package does not import torch: the built-in models are registered
as lazy ``"module:attribute"`` entries with their help text, so ``MODELS.names()``
and ``MODELS.help(name)`` are free; torch is imported by ``create_model`` or
``MODELS.get(name)``.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from landscape.errors import RegistryError
from landscape.registry import Registry

if TYPE_CHECKING:
    from torch import nn

__all__ = ["MODELS", "create_model", "is_user_factory", "model_names", "trust"]

ModelFactory = Callable[[tuple[int, ...], int], "nn.Module"]
MODELS: Registry[ModelFactory] = Registry("model", flag="--model")

# The built-in models: (name, "module:factory", one-line help). Loaded on first use.
_BUILTIN = (
    ("mlp", "landscape.models.mnist1d:mlp", "MLP 2x100 hidden, ReLU (MNIST-1D default)"),
    ("cnn1d", "landscape.models.mnist1d:cnn1d", "1-D CNN, 3 conv+BN blocks (MNIST-1D)"),
    *(
        (f"resnet{d}", f"landscape.models.cifar:resnet{d}", f"CIFAR ResNet-{d} (16/32/64 channels)")
        for d in (20, 32, 56, 110)
    ),
    ("resnet18", "landscape.models.cifar:resnet18", "ResNet-18 with a CIFAR stem (torchvision)"),
    *(
        (
            name,
            f"landscape.models.cifar:{name}",
            f"{name.upper()} with BatchNorm, CIFAR head (torchvision features)",
        )
        for name in ("vgg11", "vgg16", "vgg19")
    ),
)
for _name, _target, _help in _BUILTIN:
    MODELS.add(_name, _target, _help)
del _name, _target, _help

_WRN = re.compile(r"^wrn-(\d+)-(\d+)$")
# The MNIST-1D models at another width (a width sweep, e.g. of permutation alignment).
_WIDTH = re.compile(r"^(mlp|cnn1d)-w([1-9]\d*)$")
_SUBMODULES = ("cifar", "mnist1d")


def __getattr__(name: str) -> Any:
    # ``landscape.models.cifar`` without importing it first, as when this package imported it.
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# User factories the user consented to build from a file (a run's config.json): building one
# imports its module and calls it, i.e. runs code named by the file (docs/reliability.md).
_TRUSTED: set[str] = set()


def trust(spec: str = "*") -> None:
    """Consent to building the user factory ``spec`` (``"*"``: any) when a file names it.

    The command line calls it for ``--trust-model`` and for its own ``--model``.
    """
    _TRUSTED.add(spec)


def is_user_factory(name: str) -> bool:
    """``package.module:factory`` (a user's code), as opposed to a built-in or ``tv:`` name."""
    return ":" in name and not name.startswith("tv:")


def model_names() -> list[str]:
    return [*MODELS.names(), "mlp-wN", "cnn1d-wN", "wrn-D-K", "tv:NAME", "package.module:factory"]


def _user_factory(spec: str, in_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    from torch import nn

    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise RegistryError(
            f"cannot import the model factory {spec!r} ({exc}); is the package on PYTHONPATH?"
        ) from exc
    what = (f"{spec!r} is not a model factory: give package.module:factory, a callable "
            "factory(num_classes=..., in_shape=...) returning a torch.nn.Module")  # fmt: skip
    if not callable(factory) or (isinstance(factory, type) and not issubclass(factory, nn.Module)):
        raise RegistryError(what)
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        raise RegistryError(what) from None
    kwargs = {}
    if "num_classes" in params:
        kwargs["num_classes"] = num_classes
    if "in_shape" in params:
        kwargs["in_shape"] = in_shape
    try:
        model = factory(**kwargs)
    except TypeError as exc:
        raise RegistryError(f"{what} ({exc})") from None
    if not isinstance(model, nn.Module):
        raise RegistryError(f"{spec} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _build(name: str, in_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    if is_user_factory(name):
        return _user_factory(name, in_shape, num_classes)
    if name.startswith("tv:"):
        import torchvision

        try:
            return torchvision.models.get_model(name[3:], weights=None, num_classes=num_classes)
        except ValueError as exc:
            raise RegistryError(f"unknown torchvision model {name[3:]!r} ({exc})") from exc
    w = _WIDTH.match(name)
    if w:
        from landscape.models import mnist1d

        return getattr(mnist1d, w.group(1))(in_shape, num_classes, width=int(w.group(2)))
    m = _WRN.match(name)
    if m:
        from landscape.models.cifar import wide_resnet

        return wide_resnet(int(m.group(1)), int(m.group(2)), num_classes)
    return MODELS.get(name)(in_shape, num_classes)  # an unknown name lists the valid ones


def create_model(
    name: str, in_shape: tuple[int, ...], num_classes: int, seed: int = 0, source: str = ""
) -> nn.Module:
    """Build model ``name`` with initialisation seeded by ``seed`` (global RNG left untouched).

    Args:
        source: the file that named ``name`` (a run's ``config.json``); a user factory
            named by a file is built only with the user's consent (:func:`trust`).

    Raises:
        RegistryError: an unknown name, a factory that cannot be imported or called, or a
            user factory named by ``source`` without consent.
    """
    import torch

    if source and is_user_factory(name) and not ({name, "*"} & _TRUSTED):
        raise RegistryError(
            f"{source} names the model factory {name!r}; building it imports "
            f"{name.partition(':')[0]!r} and runs its code. If you trust this run directory, "
            f"pass --trust-model (or the same --model {name}); from Python, call "
            f"landscape.models.trust({name!r}) first"
        )

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _build(name, tuple(in_shape), num_classes)
