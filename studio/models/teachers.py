"""Teachers to invert and students to distil into.

The CIFAR networks keep the DAFL / DeepInversion / NaturalInversion checkpoint layout
(``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer1.0.shortcut.0``, ``linear`` for ResNets;
``features.N`` / ``classifier.{1,4,6}`` for VGG-BN), so their published or self-trained
``state_dict`` files load as they are. ``forward`` returns logits only; the multi-scale
features NaturalInversion needs are taken with forward hooks on :func:`feature_stages`,
which works for any teacher (and is why the reference's VGG crash cannot happen here).

A :class:`Teacher` bundles the network with what inversion must know about its data:
image size, normalisation mean/std (outputs are de-normalised with them), class names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from studio.core.checkpoints import (
    CheckpointError,
    check_state_dict,
    find_model,
    load_state_dict,
    resources_dir,
    sha256_file,
)
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
    from studio.toyworld.generate import SHAPES

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
# CIFAR VGG-BN (the NaturalInversion / pytorch-vgg-cifar layout: 512-512-512 classifier)

VGG_CFG = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"),
}


class CifarVGG(nn.Module):
    """VGG with BatchNorm: ``features`` (conv with bias, BN, ReLU, max-pools) + classifier."""

    def __init__(self, cfg: tuple, num_classes: int = 10):
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


# ---------------------------------------------------------------------------------------
# Building models by name

#: Small ToyVGG for students (half the teacher's widths).
TOY_SMALL = ToyVGGConfig(widths=(16, 32, 64, 128))

ARCHS = ("resnet18", "resnet34", "vgg11", "vgg16", "toyvgg", "toyvgg-small",
         "tv-resnet18", "tv-resnet34", "tv-resnet50", "tv-vgg16_bn", "tv-mobilenet_v2")


def build_model(arch: str, num_classes: int, toy_config: ToyVGGConfig | None = None
                ) -> nn.Module:
    """A fresh network by name (``tv-`` prefixes are torchvision ImageNet models)."""
    if arch == "resnet18":
        return resnet18(num_classes)
    if arch == "resnet34":
        return resnet34(num_classes)
    if arch in VGG_CFG:
        return CifarVGG(VGG_CFG[arch], num_classes)
    if arch == "toyvgg":
        import dataclasses

        return ToyVGG(dataclasses.replace(toy_config or ToyVGGConfig(), num_classes=num_classes))
    if arch == "toyvgg-small":
        import dataclasses

        return ToyVGG(dataclasses.replace(TOY_SMALL, num_classes=num_classes))
    if arch.startswith("tv-"):
        import torchvision

        return torchvision.models.get_model(arch[3:], weights=None, num_classes=num_classes)
    raise ValueError(f"unknown architecture {arch!r} (known: {', '.join(ARCHS)})")


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
        return ("resnet34" if "layer3.5.conv1.weight" in sd else "resnet18"), nc, None
    if "classifier.0.weight" in sd and "classifier.6.weight" in sd and "features.1.running_mean" in sd:
        n_conv = sum(1 for k, v in sd.items()
                     if k.startswith("features.") and k.endswith(".weight") and v.dim() == 4)
        arch = {8: "tv-vgg11_bn", 10: "tv-vgg13_bn", 13: "tv-vgg16_bn", 16: "tv-vgg19_bn"}.get(n_conv)
        if arch is None:
            raise ValueError(f"a torchvision VGG-BN with {n_conv} conv layers is not known")
        return arch, int(sd["classifier.6.weight"].shape[0]), None
    if "classifier.6.weight" in sd and "features.0.weight" in sd:
        n_conv = sum(1 for k, v in sd.items()
                     if k.startswith("features.") and k.endswith(".weight") and v.dim() == 4)
        arch = {8: "vgg11", 13: "vgg16"}.get(n_conv)
        if arch is None:
            raise ValueError(f"a CIFAR VGG with {n_conv} conv layers is not VGG-11/16")
        return arch, int(sd["classifier.6.weight"].shape[0]), None
    if "fc.weight" in sd and "conv1.weight" in sd and sd["conv1.weight"].shape[-1] == 7:
        nc = int(sd["fc.weight"].shape[0])
        if "layer1.0.conv3.weight" in sd:
            return "tv-resnet50", nc, None
        return ("tv-resnet34" if "layer3.5.conv1.weight" in sd else "tv-resnet18"), nc, None
    raise ValueError("cannot tell the architecture from the keys "
                     f"({', '.join(list(sd)[:5])}, ...); pass --arch")


# ---------------------------------------------------------------------------------------
# Teacher bundle


@dataclass
class Teacher:
    """A frozen network in eval mode plus the facts of its data."""

    model: nn.Module
    arch: str
    preset: DataPreset
    sha256: str = ""
    path: str = ""
    class_names: tuple[str, ...] = field(default=())

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_size(self) -> int:
        return self.preset.image_size

    @property
    def mean(self) -> tuple[float, float, float]:
        return self.preset.mean

    @property
    def std(self) -> tuple[float, float, float]:
        return self.preset.std

    def normalize(self, x01: torch.Tensor) -> torch.Tensor:
        m = torch.tensor(self.mean, dtype=x01.dtype, device=x01.device).view(1, 3, 1, 1)
        s = torch.tensor(self.std, dtype=x01.dtype, device=x01.device).view(1, 3, 1, 1)
        return (x01 - m) / s

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised space -> [0, 1] RGB with the teacher's mean/std (then clamped)."""
        m = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        s = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x * s + m).clamp(0.0, 1.0)

    def to(self, device: torch.device | str) -> Teacher:
        self.model.to(device)
        return self


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and no parameter gradients: inversion optimises the input, not the net."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def resolve_teacher_path(name_or_path: str | Path) -> Path:
    """``toy`` is the shipped toy teacher; anything else is a path or a registry name."""
    if str(name_or_path) == "toy":
        p = resources_dir() / "toy" / "teacher.pth"
        if not p.is_file():
            raise CheckpointError(p, "the toy teacher is not there yet; train it "
                                  "(see resources/toy/README.md) or pass a checkpoint path")
        return p
    return find_model(name_or_path)


def _guess_preset(arch: str, num_classes: int) -> str:
    if arch.startswith("toyvgg"):
        return "toy"
    if arch.startswith("tv-"):
        return "imagenet"
    return "cifar100" if num_classes == 100 else "cifar10"


def teacher_from_model(model: nn.Module, arch: str, preset: str | DataPreset,
                       class_names: tuple[str, ...] = (), sha256: str = "", path: str = ""
                       ) -> Teacher:
    """Wrap an in-memory network (tests, freshly trained models) as a :class:`Teacher`."""
    pre = PRESETS[preset] if isinstance(preset, str) else preset
    nc = _num_classes(model)
    names = class_names or (pre.class_names if len(pre.class_names) == nc
                            else tuple(f"class_{i:03d}" for i in range(nc)))
    return Teacher(freeze(model), arch, pre, sha256, path, tuple(names))


def _num_classes(model: nn.Module) -> int:
    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not last:
        raise ValueError("the teacher has no Linear head")
    return int(last[-1].out_features)


def load_teacher(name_or_path: str | Path, arch: str = "auto", data: str = "auto",
                 image_size: int | None = None) -> Teacher:
    """Load a teacher checkpoint (plain state_dict, ``state_dict``/``net``-wrapped, DDP).

    ``arch`` and ``data`` default to what the keys say (class count from the head).
    """
    path = resolve_teacher_path(name_or_path)
    sd = load_state_dict(path, unwrap=("state_dict", "net", "model"),
                         strip_prefixes=("module.",))
    toy_cfg = None
    try:
        guessed, nc, toy_cfg = infer_arch(sd)
    except ValueError as exc:
        if arch == "auto":
            raise CheckpointError(path, str(exc)) from exc
        guessed, nc = arch, _head_classes(sd)
    if arch == "auto":
        arch = guessed
    model = build_model(arch, nc, toy_cfg)
    check_state_dict(model, sd, path, hint=f"expected a {arch} with {nc} classes")
    model.load_state_dict(sd, strict=True)
    preset = PRESETS[_guess_preset(arch, nc) if data == "auto" else data]
    if preset.num_classes != nc and data != "auto":
        raise CheckpointError(path, f"has {nc} classes but --data {data} has "
                              f"{preset.num_classes}")
    if image_size:
        preset = DataPreset(preset.name, image_size, preset.mean, preset.std, nc,
                            preset.class_names)
    return teacher_from_model(model, arch, preset, sha256=sha256_file(path), path=str(path))


def _head_classes(sd: Mapping[str, torch.Tensor]) -> int:
    for k in ("linear.weight", "fc.weight", "classifier.6.weight", "classifier.1.weight"):
        if k in sd:
            return int(sd[k].shape[0])
    heads = [v for k, v in sd.items() if k.endswith("weight") and v.dim() == 2]
    if not heads:
        raise ValueError("no linear head in the state_dict")
    return int(heads[-1].shape[0])


# ---------------------------------------------------------------------------------------
# Multi-scale features for the Feature Transfer Pyramid


def feature_stages(model: nn.Module, image_size: int | None = None) -> list[nn.Module]:
    """Modules whose outputs are the teacher's multi-scale features, finest first.

    Known architectures have an explicit mapping (CIFAR ResNet ``layer1..4``, the ReLU
    before each VGG max-pool, ToyVGG's last ReLU per stage, torchvision ResNet
    ``layer1..4``); any other network is probed once: the last ReLU (or last 4-D
    producing leaf module) at each spatial resolution, up to four, finest first.
    """
    if isinstance(model, (CifarResNet, CifarVGG)):
        return model.stages()
    if isinstance(model, ToyVGG):
        return list(model.stages().values())
    if all(hasattr(model, f"layer{i}") for i in range(1, 5)):
        return [getattr(model, f"layer{i}") for i in range(1, 5)]
    return discover_stages(model, image_size or 32)


def discover_stages(model: nn.Module, image_size: int, max_stages: int = 4) -> list[nn.Module]:
    """Probe a forward pass: per spatial size, the last activation module that ran."""
    seen: dict[int, tuple[int, nn.Module]] = {}
    order = [0]
    handles = []
    leaves = [m for m in model.modules() if not list(m.children())]
    acts = [m for m in leaves if isinstance(m, (nn.ReLU, nn.ReLU6, nn.SiLU, nn.GELU,
                                                nn.LeakyReLU, nn.Hardswish))]

    def hook(mod, inp, out):
        if isinstance(out, torch.Tensor) and out.dim() == 4:
            order[0] += 1
            seen[int(out.shape[-1])] = (order[0], mod)

    for m in acts or leaves:
        handles.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            p = next(model.parameters())
            model(torch.zeros(1, 3, image_size, image_size, device=p.device, dtype=p.dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    sizes = sorted(seen, reverse=True)[:max_stages]
    if len(sizes) < 2:
        raise ValueError("could not find multi-scale features in the teacher")
    return [seen[s][1] for s in sizes]


__all__ = ["DataPreset", "PRESETS", "CifarResNet", "CifarVGG", "resnet18", "resnet34", "vgg11",
           "vgg16", "ARCHS", "build_model", "infer_arch", "Teacher", "freeze", "load_teacher",
           "teacher_from_model", "resolve_teacher_path", "feature_stages", "discover_stages",
           "TOY_SMALL"]
