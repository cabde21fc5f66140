"""The toy world's classifier: a small VGG with BatchNorm.

One architecture serves three roles, as VGG-19 does for the real methods:
the *teacher* that NaturalInversion / DeepInversion invert (they need BatchNorm
statistics), the texture-biased *classifier* whose shape bias we measure, and — with its
BatchNorm folded into the convolutions and its activations normalised, as
``vgg_normalised.pth`` was derived from VGG-19 — the *encoder* of the toy AdaIN.

Layer names follow VGG (``conv1_1`` ... ``relu4_1``) so the AdaIN taps read the same.
Inputs are normalised with :data:`TOY_MEAN` / :data:`TOY_STD` inside ``forward`` callers
(see :func:`normalize`), like torchvision models expect ImageNet-normalised input.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

TOY_MEAN = (0.5, 0.5, 0.5)
TOY_STD = (0.25, 0.25, 0.25)


@dataclass(frozen=True)
class ToyVGGConfig:
    """Widths of the four stages; ``convs`` = 3x3 convs per stage (VGG: 2, 2, 4, 4)."""

    widths: tuple[int, int, int, int] = (32, 64, 128, 256)
    convs: tuple[int, int, int, int] = (2, 2, 1, 1)
    num_classes: int = 10
    dropout: float = 0.0


class ToyVGG(nn.Module):
    """conv-BN-ReLU stages with 2x2 max-pooling; global average pool; linear head.

    ``features`` is an ``nn.Sequential`` with VGG-style names (``conv1_1``, ``bn1_1``,
    ``relu1_1``, ``pool1``, ...) so taps and checkpoints read like the paper's VGG.
    """

    mean = TOY_MEAN
    std = TOY_STD

    def __init__(self, config: ToyVGGConfig | None = None):
        super().__init__()
        self.config = config = config or ToyVGGConfig()
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        c_in = 3
        for s, (width, n) in enumerate(zip(config.widths, config.convs), start=1):
            for k in range(1, n + 1):
                layers[f"conv{s}_{k}"] = nn.Conv2d(c_in, width, 3, padding=1, bias=False)
                layers[f"bn{s}_{k}"] = nn.BatchNorm2d(width)
                layers[f"relu{s}_{k}"] = nn.ReLU(inplace=True)
                c_in = width
            if s < len(config.widths):
                layers[f"pool{s}"] = nn.MaxPool2d(2, 2)
        self.features = nn.Sequential(layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(config.dropout) if config.dropout else nn.Identity()
        self.fc = nn.Linear(c_in, config.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.fc(self.dropout(torch.flatten(self.pool(x), 1)))

    def stages(self) -> dict[str, nn.Module]:
        """The last ReLU of each stage (multi-scale features for the feature pyramid)."""
        last: dict[str, nn.Module] = {}
        for name, mod in self.features.named_children():
            if name.startswith("relu"):
                last[f"stage{name[4]}"] = mod
        return last


def normalize(x: torch.Tensor, mean=TOY_MEAN, std=TOY_STD) -> torch.Tensor:
    """[0, 1] RGB -> the normalised space the toy models take."""
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - m) / s


def denormalize(x: torch.Tensor, mean=TOY_MEAN, std=TOY_STD) -> torch.Tensor:
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return x * s + m
