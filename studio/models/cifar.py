"""CIFAR networks in the checkpoint layouts researchers download.

- DAFL / DeepInversion / NaturalInversion: ResNet-18/34 (``conv1``, ``bn1``,
  ``layer1.0.conv1``, ``layer1.0.shortcut.0``, ``linear``; widths 64-512) and VGG-BN
  (``features.N`` / ``classifier.{1,4,6}``);
- He et al. 2016's CIFAR ResNets with **option A** shortcuts, akamaster/pytorch_resnet_cifar10
  (ResNet-20/32/44/56/110/1202: widths 16-32-64, ``linear`` head, parameter-free
  zero-padded shortcuts);
- chenyaofo/pytorch-cifar-models: the same depths with **option B** (1x1-conv projection,
  ``downsample``) shortcuts and an ``fc`` head, and VGG-BN with ``classifier.{0,3,6}``.

Their published or self-trained ``state_dict`` files load as they are. ``forward`` returns
logits only; ``stages()`` names the modules whose outputs are the multi-scale features
NaturalInversion takes (declared per architecture, never guessed).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------------------
# CIFAR ResNet (DAFL layout: 3x3 stem, no max-pool, BasicBlocks, global average pool)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet for 32x32 inputs: stem 3x3/64, stages 64-128-256-512, ``linear`` head."""

    def __init__(self, num_blocks: tuple[int, int, int, int], num_classes: int = 10):
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._make_layer(64, num_blocks[0], 1)
        self.layer2 = self._make_layer(128, num_blocks[1], 2)
        self.layer3 = self._make_layer(256, num_blocks[2], 2)
        self.layer4 = self._make_layer(512, num_blocks[3], 2)
        self.linear = nn.Linear(512, num_classes)

    def _make_layer(self, planes: int, n: int, stride: int) -> nn.Sequential:
        blocks = []
        for s in [stride] + [1] * (n - 1):
            blocks.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)

    def stages(self) -> list[nn.Module]:
        return [self.layer1, self.layer2, self.layer3, self.layer4]


def resnet18(num_classes: int = 10) -> CifarResNet:
    return CifarResNet((2, 2, 2, 2), num_classes)


def resnet34(num_classes: int = 10) -> CifarResNet:
    return CifarResNet((3, 4, 6, 3), num_classes)


# ---------------------------------------------------------------------------------------
# He et al. 2016's CIFAR ResNets (6n + 2 layers, widths 16-32-64)


class ShortcutA(nn.Module):
    """Option A: subsample by 2 and zero-pad ``pad`` channels on each side (no weights)."""

    def __init__(self, pad: int):
        super().__init__()
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class ResidualBlock(nn.Module):
    """BasicBlock of the 6n+2 ResNets: option A (``shortcut``, akamaster) or option B
    (``downsample`` = 1x1 conv + BN, chenyaofo) where width or stride changes."""

    def __init__(self, in_planes: int, planes: int, stride: int, option: str):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        changes = stride != 1 or in_planes != planes
        self.option = option
        if option == "A":
            self.shortcut: nn.Module = ShortcutA(planes // 4) if changes else nn.Identity()
        else:
            self.downsample = (nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                                             nn.BatchNorm2d(planes)) if changes else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.option == "A":
            skip = self.shortcut(x)
        else:
            skip = x if self.downsample is None else self.downsample(x)
        return F.relu(out + skip)


class CifarResNet6n2(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs: stem 3x3/16, three stages of ``n`` blocks at
    16-32-64 channels (strides 1, 2, 2), global average pool, a linear head named
    ``linear`` (option A, akamaster) or ``fc`` (option B, chenyaofo)."""

    def __init__(self, n: int, num_classes: int = 10, option: str = "A"):
        super().__init__()
        if option not in ("A", "B"):
            raise ValueError(f"shortcut option must be 'A' or 'B', got {option!r}")
        self.option, self.in_planes = option, 16
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._make_layer(16, n, 1)
        self.layer2 = self._make_layer(32, n, 2)
        self.layer3 = self._make_layer(64, n, 2)
        head = nn.Linear(64, num_classes)
        if option == "A":
            self.linear = head
        else:
            self.fc = head

    def _make_layer(self, planes: int, n: int, stride: int) -> nn.Sequential:
        blocks = []
        for s in [stride] + [1] * (n - 1):
            blocks.append(ResidualBlock(self.in_planes, planes, s, self.option))
            self.in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return (self.linear if self.option == "A" else self.fc)(out)

    def stages(self) -> list[nn.Module]:
        """``layer1..3``: 32, 16 and 8 px at CIFAR size."""
        return [self.layer1, self.layer2, self.layer3]


#: Depths of the 6n+2 CIFAR ResNets (He et al. 2016, Table 6).
RESNET_6N2_DEPTHS = (20, 32, 44, 56, 110, 1202)


def resnet_6n2(depth: int, num_classes: int = 10, option: str = "A") -> CifarResNet6n2:
    """ResNet-``depth`` (20, 32, 44, 56, 110, 1202) with option A or B shortcuts."""
    if (depth - 2) % 6 or depth < 8:
        raise ValueError(f"a CIFAR ResNet has 6n+2 layers, not {depth}")
    return CifarResNet6n2((depth - 2) // 6, num_classes, option)


# ---------------------------------------------------------------------------------------
# CIFAR VGG-BN (the NaturalInversion / pytorch-vgg-cifar layout: 512-512-512 classifier)

VGG_CFG = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg13": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"),
}


class CifarVGG(nn.Module):
    """VGG with BatchNorm: ``features`` (conv with bias, BN, ReLU, max-pools) + a
    512-512 classifier: ``classifier.{1,4,6}`` (dropout first, NaturalInversion's layout) or
    ``classifier.{0,3,6}`` (``head="cyf"``: chenyaofo's, dropout after each ReLU)."""

    def __init__(self, cfg: tuple, num_classes: int = 10, head: str = "ni"):
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        if head == "cyf":
            self.classifier = nn.Sequential(
                nn.Linear(512, 512), nn.ReLU(True), nn.Dropout(),
                nn.Linear(512, 512), nn.ReLU(True), nn.Dropout(),
                nn.Linear(512, num_classes))
        else:
            self.classifier = nn.Sequential(
                nn.Dropout(), nn.Linear(512, 512), nn.ReLU(True),
                nn.Dropout(), nn.Linear(512, 512), nn.ReLU(True),
                nn.Linear(512, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))

    def stages(self) -> list[nn.Module]:
        """The ReLU before each max-pool (32, 16, 8, 4 px at CIFAR size)."""
        mods = list(self.features)
        return [mods[i - 1] for i, m in enumerate(mods) if isinstance(m, nn.MaxPool2d)][:4]


def vgg11(num_classes: int = 10) -> CifarVGG:
    return CifarVGG(VGG_CFG["vgg11"], num_classes)


def vgg16(num_classes: int = 10) -> CifarVGG:
    return CifarVGG(VGG_CFG["vgg16"], num_classes)


def vgg_bn(depth: int, num_classes: int = 10) -> CifarVGG:
    """chenyaofo's CIFAR VGG-``depth`` with BatchNorm (``classifier.{0,3,6}``)."""
    if f"vgg{depth}" not in VGG_CFG:
        raise ValueError(f"no VGG-{depth}: use 11, 13, 16 or 19")
    return CifarVGG(VGG_CFG[f"vgg{depth}"], num_classes, head="cyf")
