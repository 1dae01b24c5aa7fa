"""CIFAR models: ResNet-20/32/56/110 (He et al. 2016), ResNet-18 and VGG-BN, WideResNet.

The factories here are listed in ``landscape.models.MODELS`` by name, and this module is
imported only when one of them is built.
"""

from __future__ import annotations

from torch import nn

__all__ = [
    "CifarResNet",
    "WideResNet",
    "resnet18",
    "resnet20",
    "resnet32",
    "resnet56",
    "resnet110",
    "vgg11",
    "vgg16",
    "vgg19",
    "wide_resnet",
]


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:  # 1x1 projection, as in open_lth's CIFAR ResNets
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )
        self.relu = nn.ReLU()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs: widths 16/32/64, ``n`` blocks per stage."""

    def __init__(self, depth: int, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        self.conv = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        blocks, c = [], width
        for stage, c_out in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                blocks.append(_Block(c, c_out, 2 if stage > 0 and i == 0 else 1))
                c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.blocks(self.relu(self.bn(self.conv(x))))
        return self.fc(self.pool(x).flatten(1))


def _resnet(depth: int):
    def build(in_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        return CifarResNet(depth, num_classes)

    build.__name__ = build.__qualname__ = f"resnet{depth}"
    build.__doc__ = f"CIFAR ResNet-{depth} (16/32/64 channels)."
    return build


resnet20 = _resnet(20)
resnet32 = _resnet(32)
resnet56 = _resnet(56)
resnet110 = _resnet(110)


def resnet18(in_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """torchvision's ResNet-18 with a 3x3 stride-1 first conv and no max-pool, for 32x32 inputs."""
    import torchvision

    model = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    model.conv1 = nn.Conv2d(in_shape[0], 64, 3, 1, 1, bias=False)
    model.maxpool = nn.Identity()
    return model


def _vgg(name: str):
    def build(in_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        import torchvision

        model = getattr(torchvision.models, f"{name}_bn")(weights=None)
        model.avgpool = nn.AdaptiveAvgPool2d(1)  # 32x32 inputs end at 1x1 after five pools
        model.classifier = nn.Linear(512, num_classes)
        return model

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"{name.upper()} with BatchNorm, CIFAR head (torchvision features)."
    return build


vgg11 = _vgg("vgg11")
vgg16 = _vgg("vgg16")
vgg19 = _vgg("vgg19")


class _WideBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1, self.relu = nn.BatchNorm2d(c_in), nn.ReLU()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x):
        o = self.relu(self.bn1(x))
        y = self.conv2(self.relu(self.bn2(self.conv1(o))))
        return y + (self.shortcut(o) if self.shortcut is not None else x)


class WideResNet(nn.Module):
    """Pre-activation WideResNet-D-K (Zagoruyko & Komodakis 2016) for 32x32 inputs."""

    def __init__(self, depth: int, k: int, num_classes: int = 10) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n+4, got {depth}")
        n = (depth - 4) // 6
        widths = (16, 16 * k, 32 * k, 64 * k)
        self.conv = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        blocks, c = [], widths[0]
        for stage in range(3):
            for i in range(n):
                blocks.append(_WideBlock(c, widths[stage + 1], 2 if stage > 0 and i == 0 else 1))
                c = widths[stage + 1]
        self.blocks = nn.Sequential(*blocks)
        self.bn, self.relu = nn.BatchNorm2d(c), nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.relu(self.bn(self.blocks(self.conv(x))))
        return self.fc(self.pool(x).flatten(1))


def wide_resnet(depth: int, k: int, num_classes: int) -> WideResNet:
    return WideResNet(depth, k, num_classes)
