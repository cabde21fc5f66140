"""Classifiers the trainer and the shape-bias evaluation share.

A :class:`Classifier` bundles a network with the input normalisation it expects and its
class names, so callers hand it images in [0, 1] and never mix up ImageNet and toy
statistics. Architectures:

- ``toyvgg``: the toy world's :class:`~studio.toyworld.models.ToyVGG` (TOY_MEAN/TOY_STD);
- ``cifar_resnet18`` / ``cifar_resnet34`` / ``cifar_resnet50``: torchvision ResNets with
  the CIFAR stem (3x3 conv, stride 1, no max-pool), as in the DAFL/DeepInversion teachers;
- any torchvision classification architecture by name (``resnet50``, ``vgg16``,
  ``alexnet``, ...), ImageNet normalisation.

Weights files are read in both published formats: a plain torchvision ``state_dict``, or a
texture-vs-shape ``.pth.tar`` dict with the weights under ``state_dict`` and DataParallel's
``module.`` prefix (also torchvision's VGG/AlexNet ``features.module.`` variant).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from studio.core.checkpoints import CheckpointError, check_state_dict, load_state_dict

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR_ARCHS = ("cifar_resnet18", "cifar_resnet34", "cifar_resnet50")


@dataclass
class Classifier:
    """A network plus what it needs to be used correctly."""

    net: nn.Module
    arch: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    classes: list[str] = field(default_factory=list)
    input_size: int = 224

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        m = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        s = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x - m) / s

    def logits(self, x01: torch.Tensor) -> torch.Tensor:
        """Logits for images in [0, 1] (N, 3, H, W)."""
        return self.net(self.normalize(x01))


def torchvision_archs() -> list[str]:
    """Names torchvision's classification model builder accepts."""
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def _cifar_resnet(arch: str, num_classes: int) -> nn.Module:
    import torchvision

    builder = getattr(torchvision.models, arch.removeprefix("cifar_"))
    net = builder(weights=None, num_classes=num_classes)
    net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    net.maxpool = nn.Identity()
    return net


def build_network(arch: str, num_classes: int) -> nn.Module:
    """An untrained network of architecture ``arch`` with ``num_classes`` outputs."""
    arch = arch.strip()
    if arch == "toyvgg":
        from studio.toyworld.models import ToyVGG, ToyVGGConfig

        return ToyVGG(ToyVGGConfig(num_classes=num_classes))
    if arch in CIFAR_ARCHS:
        return _cifar_resnet(arch, num_classes)
    import torchvision

    if arch not in torchvision_archs():
        raise ValueError(f"unknown architecture {arch!r}: use toyvgg, "
                         f"{', '.join(CIFAR_ARCHS)} or a torchvision classification model "
                         "(e.g. resnet50, vgg16, alexnet)")
    return torchvision.models.get_model(arch, weights=None, num_classes=num_classes)


def toyvgg_for(sd: dict[str, torch.Tensor], num_classes: int) -> nn.Module:
    """A ToyVGG whose stage widths and conv counts are read from a state_dict."""
    from studio.toyworld.models import ToyVGG, ToyVGGConfig

    widths: list[int] = []
    convs: list[int] = []
    last = None
    for k, v in sd.items():
        if k.startswith("features.conv") and k.endswith(".weight"):
            stage = k[len("features.conv"):].split("_")[0]
            if stage != last:
                widths.append(int(v.shape[0]))
                convs.append(0)
                last = stage
            convs[-1] += 1
    if len(widths) != 4:
        return ToyVGG(ToyVGGConfig(num_classes=num_classes))
    return ToyVGG(ToyVGGConfig(widths=tuple(widths), convs=tuple(convs),
                               num_classes=num_classes))


def norm_for(arch: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    if arch == "toyvgg":
        from studio.toyworld.models import TOY_MEAN, TOY_STD

        return TOY_MEAN, TOY_STD
    if arch in CIFAR_ARCHS:
        return (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    return IMAGENET_MEAN, IMAGENET_STD


def _fix_dataparallel_features(sd: dict[str, torch.Tensor], model: nn.Module
                               ) -> dict[str, torch.Tensor]:
    """texture-vs-shape VGG/AlexNet wrap only ``features`` in DataParallel."""
    own = model.state_dict()
    if all(k in own for k in sd):
        return sd
    fixed = {k.replace("features.module.", "features."): v for k, v in sd.items()}
    return fixed if all(k in own for k in fixed) else sd


def read_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state_dict from a plain file or a ``{'state_dict': ...}`` with ``module.`` keys."""
    return load_state_dict(path, unwrap=("state_dict", "model"), strip_prefixes=("module.",))


def load_weights(net: nn.Module, path: str | os.PathLike, arch: str = "") -> nn.Module:
    """Load either weight format strictly; mismatches name the keys."""
    sd = _fix_dataparallel_features(read_weights(path), net)
    check_state_dict(net, sd, path, hint=f"is it a {arch or type(net).__name__} with "
                     f"{_num_outputs(net)} classes?")
    net.load_state_dict(sd, strict=True)
    return net


def _num_outputs(net: nn.Module) -> int | str:
    last = [m for m in net.modules() if isinstance(m, nn.Linear)]
    return last[-1].out_features if last else "?"


def infer_num_classes(path: str | os.PathLike) -> int:
    """Output count of a classifier weights file: rows of its last linear (or 1x1 conv,
    SqueezeNet) weight in state_dict order."""
    sd = read_weights(path)
    heads = [v for k, v in sd.items() if k.endswith("weight") and v.ndim in (2, 4)]
    if not heads:
        raise CheckpointError(path, "no linear layer found: not a classifier state_dict")
    return int(heads[-1].shape[0])


def load_classifier(arch: str, weights: str | os.PathLike | None = None, *,
                    num_classes: int | None = None, classes: Sequence[str] | None = None,
                    device: str | torch.device = "cpu") -> Classifier:
    """Build ``arch``, load ``weights`` (either format) and put it in eval mode.

    ``num_classes`` defaults to the weights file's head size (1000 for ImageNet models,
    10 for the toy classifiers).
    """
    if weights is not None and not Path(weights).is_file():
        raise CheckpointError(weights, "no such file")
    if num_classes is None:
        num_classes = infer_num_classes(weights) if weights is not None else (
            len(classes) if classes else 1000)
    if arch == "toyvgg" and weights is not None:
        net = toyvgg_for(read_weights(weights), num_classes)
    else:
        net = build_network(arch, num_classes)
    if weights is not None:
        load_weights(net, weights, arch)
    mean, std = norm_for(arch)
    if classes is None and weights is not None:
        classes = _trainer_classes(Path(weights), num_classes)
    if classes is None and arch == "toyvgg":
        from studio.toyworld.generate import SHAPES

        classes = list(SHAPES[:num_classes])
    size = 64 if arch == "toyvgg" else 32 if arch in CIFAR_ARCHS else 224
    return Classifier(net.to(device).eval(), arch, mean, std, list(classes or []), size)


def _trainer_classes(weights: Path, num_classes: int) -> list[str] | None:
    """Class names `studio train classifier` recorded next to its ``model.pth``."""
    import json

    meta = weights.with_name("train.json")
    if weights.name != "model.pth" or not meta.is_file():
        return None
    try:
        classes = json.loads(meta.read_text("utf-8")).get("classes")
    except (OSError, ValueError):
        return None
    return list(classes) if isinstance(classes, list) and len(classes) == num_classes else None


def zero_init_last_bn(net: nn.Module) -> int:
    """Bag of Tricks: γ = 0 in the last BN of every residual block; returns how many."""
    from torchvision.models.resnet import BasicBlock, Bottleneck

    n = 0
    for m in net.modules():
        bn = m.bn3 if isinstance(m, Bottleneck) else m.bn2 if isinstance(m, BasicBlock) else None
        if bn is not None:
            nn.init.zeros_(bn.weight)
            n += 1
    return n
