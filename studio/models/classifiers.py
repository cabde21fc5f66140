"""The classifier zoo every engine shares: one architecture namespace, one builder, one
normalisation table.

Architecture names (``--arch`` means the same in every command):

- any torchvision classification model by its torchvision name (``resnet18``,
  ``resnet50``, ``vgg16_bn``, ``alexnet``, ...): torchvision's ImageNet layout;
- ``cifar_resnet18`` / ``cifar_resnet34`` / ``cifar_vgg11`` / ``cifar_vgg16``: the CIFAR
  networks in the DAFL / DeepInversion / NaturalInversion layout (:mod:`studio.models.cifar`);
- ``toyvgg`` / ``toyvgg_small``: the toy world's :class:`~studio.toyworld.models.ToyVGG`
  (the small one, half the widths, is the default student).

Older spellings are read as aliases: ``tv-<name>`` is ``<name>``, ``toyvgg-small`` is
``toyvgg_small``. A :class:`Classifier` bundles a network with the input normalisation it
expects and its class names, so callers hand it images in [0, 1] and never mix up
ImageNet, CIFAR and toy statistics.

Weights files are read in both published formats: a plain torchvision ``state_dict``, or a
texture-vs-shape ``.pth.tar`` dict with the weights under ``state_dict`` and DataParallel's
``module.`` prefix (also torchvision's VGG/AlexNet ``features.module.`` variant).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from studio.core.checkpoints import CheckpointError, check_state_dict, load_state_dict
from studio.models.cifar import VGG_CFG, CifarVGG, resnet18, resnet34
from studio.toyworld.generate import SHAPES
from studio.toyworld.models import TOY_MEAN, TOY_STD, ToyVGG, ToyVGGConfig

# ---------------------------------------------------------------------------------------
# Data presets: what a teacher's inputs look like


@dataclass(frozen=True)
class DataPreset:
    """Image size, normalisation and class names of the data a teacher was trained on."""

    name: str
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    num_classes: int
    class_names: tuple[str, ...] = ()


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")


def _toy_classes() -> tuple[str, ...]:
    return tuple(SHAPES)


PRESETS: dict[str, DataPreset] = {
    # DAFL / DeepInversion / NaturalInversion normalise CIFAR-10 with these values.
    "cifar10": DataPreset("cifar10", 32, (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010),
                          10, CIFAR10_CLASSES),
    "cifar100": DataPreset("cifar100", 32, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762),
                           100),
    "imagenet": DataPreset("imagenet", 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 1000),
    "toy": DataPreset("toy", 64, TOY_MEAN, TOY_STD, 10, _toy_classes()),
}

IMAGENET_MEAN, IMAGENET_STD = PRESETS["imagenet"].mean, PRESETS["imagenet"].std


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

# ---------------------------------------------------------------------------------------
# The architecture namespace

CIFAR_ARCHS = ("cifar_resnet18", "cifar_resnet34", "cifar_vgg11", "cifar_vgg16")
TOY_ARCHS = ("toyvgg", "toyvgg_small")
#: Small ToyVGG for students (half the teacher's widths).
TOY_SMALL = ToyVGGConfig(widths=(16, 32, 64, 128))
_ALIASES = {"toyvgg-small": "toyvgg_small"}


def canonical_arch(arch: str) -> str:
    """The one name of ``arch`` (``tv-resnet18`` -> ``resnet18``, ``toyvgg-small`` ->
    ``toyvgg_small``)."""
    arch = str(arch).strip()
    arch = _ALIASES.get(arch, arch)
    return arch[3:] if arch.startswith("tv-") else arch


def torchvision_archs() -> list[str]:
    """Names torchvision's classification model builder accepts."""
    import torchvision  # noqa: PLC0415 (heavy: loaded when used)

    return sorted(torchvision.models.list_models(module=torchvision.models))


def known_archs() -> str:
    return (f"{', '.join(TOY_ARCHS + CIFAR_ARCHS)} or a torchvision classification model "
            "(e.g. resnet18, resnet50, vgg16_bn)")


def build_network(arch: str, num_classes: int, toy_config: ToyVGGConfig | None = None
                  ) -> nn.Module:
    """An untrained network of architecture ``arch`` with ``num_classes`` outputs."""
    arch = canonical_arch(arch)
    if arch == "toyvgg":
        return ToyVGG(dataclasses.replace(toy_config or ToyVGGConfig(), num_classes=num_classes))
    if arch == "toyvgg_small":
        return ToyVGG(dataclasses.replace(TOY_SMALL, num_classes=num_classes))
    if arch == "cifar_resnet18":
        return resnet18(num_classes)
    if arch == "cifar_resnet34":
        return resnet34(num_classes)
    if arch in ("cifar_vgg11", "cifar_vgg16"):
        return CifarVGG(VGG_CFG[arch.removeprefix("cifar_")], num_classes)
    import torchvision  # noqa: PLC0415 (heavy: loaded when used)

    if arch not in torchvision_archs():
        raise ValueError(f"unknown architecture {arch!r}: use {known_archs()}")
    return torchvision.models.get_model(arch, weights=None, num_classes=num_classes)


def family(arch: str) -> str:
    """``toy``, ``cifar`` or ``imagenet``: which data preset an architecture implies."""
    arch = canonical_arch(arch)
    return "toy" if arch in TOY_ARCHS else "cifar" if arch in CIFAR_ARCHS else "imagenet"


def default_student(teacher_arch: str) -> str:
    """The student distillation and ADI use for a teacher of ``teacher_arch``: the toy
    world's small ToyVGG, else a ResNet-18 of the teacher's family."""
    return {"toy": "toyvgg_small", "cifar": "cifar_resnet18", "imagenet": "resnet18"}[
        family(teacher_arch)]


def norm_for(arch: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """The input normalisation of ``arch``'s data (CIFAR: DAFL's CIFAR-10 values)."""
    pre = PRESETS[{"toy": "toy", "cifar": "cifar10", "imagenet": "imagenet"}[family(arch)]]
    return pre.mean, pre.std


def infer_arch(sd: Mapping[str, torch.Tensor]) -> tuple[str, int, ToyVGGConfig | None]:
    """Recognise a state_dict's architecture and class count from its keys and shapes."""
    if "features.conv1_1.weight" in sd:
        widths, convs, s = [], [], 1
        while f"features.conv{s}_1.weight" in sd:
            k = 1
            while f"features.conv{s}_{k + 1}.weight" in sd:
                k += 1
            widths.append(int(sd[f"features.conv{s}_{k}.weight"].shape[0]))
            convs.append(k)
            s += 1
        nc = int(sd["fc.weight"].shape[0])
        if len(widths) != 4:
            raise ValueError(f"a ToyVGG has four stages, this one has {len(widths)}")
        return "toyvgg", nc, ToyVGGConfig(tuple(widths), tuple(convs), nc)
    if "linear.weight" in sd and "layer1.0.conv1.weight" in sd:
        nc = int(sd["linear.weight"].shape[0])
        if "layer1.0.conv3.weight" in sd:
            raise ValueError("Bottleneck CIFAR ResNets (ResNet-50+) are not supported")
        return ("cifar_resnet34" if "layer3.5.conv1.weight" in sd else "cifar_resnet18"), nc, None
    if ("classifier.0.weight" in sd and "classifier.6.weight" in sd
            and "features.1.running_mean" in sd):
        n_conv = _convs(sd)
        arch = {8: "vgg11_bn", 10: "vgg13_bn", 13: "vgg16_bn", 16: "vgg19_bn"}.get(n_conv)
        if arch is None:
            raise ValueError(f"a torchvision VGG-BN with {n_conv} conv layers is not known")
        return arch, int(sd["classifier.6.weight"].shape[0]), None
    if "classifier.6.weight" in sd and "features.0.weight" in sd:
        n_conv = _convs(sd)
        arch = {8: "cifar_vgg11", 13: "cifar_vgg16"}.get(n_conv)
        if arch is None:
            raise ValueError(f"a CIFAR VGG with {n_conv} conv layers is not VGG-11/16")
        return arch, int(sd["classifier.6.weight"].shape[0]), None
    if "fc.weight" in sd and "conv1.weight" in sd and sd["conv1.weight"].shape[-1] == 7:
        nc = int(sd["fc.weight"].shape[0])
        if "layer1.0.conv3.weight" in sd:
            return "resnet50", nc, None
        return ("resnet34" if "layer3.5.conv1.weight" in sd else "resnet18"), nc, None
    raise ValueError("cannot tell the architecture from the keys "
                     f"({', '.join(list(sd)[:5])}, ...); pass --arch")


def _convs(sd: Mapping[str, torch.Tensor]) -> int:
    return sum(1 for k, v in sd.items()
               if k.startswith("features.") and k.endswith(".weight") and v.dim() == 4)


def toyvgg_for(sd: Mapping[str, torch.Tensor], num_classes: int) -> nn.Module:
    """A ToyVGG whose stage widths and conv counts are read from a state_dict."""
    try:
        _, _, cfg = infer_arch(sd)
    except (ValueError, KeyError):
        cfg = None
    return build_network("toyvgg", num_classes, cfg)


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
    arch = canonical_arch(arch)
    if arch == "toyvgg" and weights is not None:
        net = toyvgg_for(read_weights(weights), num_classes)
    else:
        net = build_network(arch, num_classes)
    if weights is not None:
        load_weights(net, weights, arch)
    mean, std = norm_for(arch)
    if classes is None and weights is not None:
        classes = _trainer_classes(Path(weights), num_classes)
    pre = PRESETS[{"toy": "toy", "cifar": "cifar10", "imagenet": "imagenet"}[family(arch)]]
    if classes is None and family(arch) == "toy":
        classes = list(pre.class_names[:num_classes])
    size = pre.image_size
    return Classifier(net.to(device).eval(), arch, mean, std, list(classes or []), size)


def _trainer_classes(weights: Path, num_classes: int) -> list[str] | None:
    """Class names `studio train classifier` recorded next to its ``model.pth``."""
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
    from torchvision.models.resnet import BasicBlock, Bottleneck  # noqa: PLC0415 (heavy: loaded when used)

    from studio.models.cifar import BasicBlock as CifarBlock  # noqa: PLC0415 (loaded when used)

    n = 0
    for m in net.modules():
        bn = m.bn3 if isinstance(m, Bottleneck) else m.bn2 if isinstance(
            m, (BasicBlock, CifarBlock)) else None
        if bn is not None:
            nn.init.zeros_(bn.weight)
            n += 1
    return n
