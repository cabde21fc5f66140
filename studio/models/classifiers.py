"""The classifier zoo every engine shares: one architecture namespace, one builder, one
normalisation table.

Architecture names (``--arch`` means the same in every command):

- any torchvision classification model by its torchvision name (``resnet18``,
  ``resnet50``, ``vgg16_bn``, ``alexnet``, ...): torchvision's ImageNet layout;
- ``cifar_resnet18`` / ``cifar_resnet34`` / ``cifar_vgg11`` / ``cifar_vgg16``: the CIFAR
  networks in the DAFL / DeepInversion / NaturalInversion layout (:mod:`studio.models.cifar`);
- ``cifar_resnet20/32/44/56/110/1202``: He et al.'s option-A CIFAR ResNets in akamaster's
  layout; ``cifar_resnet20_b`` ... with option-B shortcuts and ``cifar_vgg11_bn`` ...
  ``cifar_vgg19_bn``: chenyaofo/pytorch-cifar-models' layouts;
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
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from studio.core.checkpoints import (
    REGISTRY,
    CheckpointError,
    check_state_dict,
    fill_bn_counters,
    find_model,
    load_state_dict,
    sha256_file,
    spec_for_file,
)
from studio.models.cifar import (
    RESNET_6N2_DEPTHS,
    VGG_CFG,
    CifarVGG,
    resnet18,
    resnet34,
    resnet_6n2,
    vgg_bn,
)
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
    # akamaster's CIFAR-10 ResNets were trained on inputs normalised with ImageNet's values.
    "cifar10_akamaster": DataPreset("cifar10_akamaster", 32, (0.485, 0.456, 0.406),
                                    (0.229, 0.224, 0.225), 10, CIFAR10_CLASSES),
    # chenyaofo's conf/cifar100.conf (its CIFAR-10 values are DAFL's, "cifar10").
    "cifar100_chenyaofo": DataPreset("cifar100_chenyaofo", 32, (0.5070, 0.4865, 0.4409),
                                     (0.2673, 0.2564, 0.2761), 100),
}

IMAGENET_MEAN, IMAGENET_STD = PRESETS["imagenet"].mean, PRESETS["imagenet"].std


@dataclass
class Classifier:
    """A network plus what it needs to be used correctly: its normalisation, input size,
    class names, the data preset they came from and the file it was loaded from."""

    net: nn.Module
    arch: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    classes: list[str] = field(default_factory=list)
    input_size: int = 224
    data: str = ""
    sha256: str = ""
    path: str = ""

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        m = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        s = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x - m) / s

    def logits(self, x01: torch.Tensor) -> torch.Tensor:
        """Logits for images in [0, 1] (N, 3, H, W)."""
        return self.net(self.normalize(x01))

# ---------------------------------------------------------------------------------------
# The architecture namespace

DAFL_ARCHS = ("cifar_resnet18", "cifar_resnet34", "cifar_vgg11", "cifar_vgg16")
OPTION_A_ARCHS = tuple(f"cifar_resnet{d}" for d in RESNET_6N2_DEPTHS)
OPTION_B_ARCHS = tuple(f"cifar_resnet{d}_b" for d in RESNET_6N2_DEPTHS)
CYF_VGG_ARCHS = tuple(f"cifar_vgg{d}_bn" for d in (11, 13, 16, 19))
CIFAR_ARCHS = DAFL_ARCHS + OPTION_A_ARCHS + OPTION_B_ARCHS + CYF_VGG_ARCHS
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
    return (f"{', '.join(TOY_ARCHS + DAFL_ARCHS)}, cifar_resnet20/32/44/56/110/1202 "
            "(option A, akamaster), cifar_resnet20_b ... (option B, chenyaofo), "
            "cifar_vgg11_bn/13_bn/16_bn/19_bn (chenyaofo) or a torchvision classification "
            "model (e.g. resnet18, resnet50, vgg16_bn)")


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
    if arch in OPTION_A_ARCHS:
        return resnet_6n2(int(arch.removeprefix("cifar_resnet")), num_classes, "A")
    if arch in OPTION_B_ARCHS:
        return resnet_6n2(int(arch.removeprefix("cifar_resnet")[:-2]), num_classes, "B")
    if arch in CYF_VGG_ARCHS:
        return vgg_bn(int(arch.removeprefix("cifar_vgg")[:-3]), num_classes)
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
    world's small ToyVGG; for CIFAR teachers the smallest network of the teacher's own
    layout family (ResNet-20 for He et al.'s ResNets, ResNet-18 for DAFL's); else
    torchvision's ResNet-18."""
    arch = canonical_arch(teacher_arch)
    if arch in OPTION_A_ARCHS:
        return "cifar_resnet20"
    if arch in OPTION_B_ARCHS + CYF_VGG_ARCHS:
        return "cifar_resnet20_b"
    return {"toy": "toyvgg_small", "cifar": "cifar_resnet18", "imagenet": "resnet18"}[
        family(arch)]


def default_data(arch: str, num_classes: int = 10) -> str:
    """The data preset (normalisation, size, class names) a file of ``arch`` with
    ``num_classes`` outputs was most likely trained with, when the registry does not say."""
    arch = canonical_arch(arch)
    fam = family(arch)
    if fam != "cifar":
        return fam
    if arch in OPTION_A_ARCHS:
        return "cifar10_akamaster" if num_classes == 10 else "cifar100"
    if arch in OPTION_B_ARCHS + CYF_VGG_ARCHS:
        return "cifar10" if num_classes == 10 else "cifar100_chenyaofo"
    return "cifar100" if num_classes == 100 else "cifar10"


def norm_for(arch: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """The input normalisation of ``arch``'s data (DAFL CIFAR: DAFL's CIFAR-10 values;
    option-A ResNets: ImageNet's, as akamaster trained them)."""
    pre = PRESETS[default_data(arch)]
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
    if "layer1.0.conv1.weight" in sd and "layer4.0.conv1.weight" not in sd and (
            "linear.weight" in sd or "fc.weight" in sd):
        return _infer_6n2(sd)
    if "linear.weight" in sd and "layer1.0.conv1.weight" in sd:
        nc = int(sd["linear.weight"].shape[0])
        if "layer1.0.conv3.weight" in sd:
            raise ValueError("Bottleneck CIFAR ResNets (ResNet-50+) are not supported")
        return ("cifar_resnet34" if "layer3.5.conv1.weight" in sd else "cifar_resnet18"), nc, None
    if ("classifier.0.weight" in sd and "classifier.6.weight" in sd
            and "features.1.running_mean" in sd
            and tuple(sd["classifier.0.weight"].shape) == (512, 512)):
        n_conv = _convs(sd)
        arch = {8: "cifar_vgg11_bn", 10: "cifar_vgg13_bn", 13: "cifar_vgg16_bn",
                16: "cifar_vgg19_bn"}.get(n_conv)
        if arch is None:
            raise ValueError(f"a CIFAR VGG-BN with {n_conv} conv layers is not VGG-11/13/16/19")
        return arch, int(sd["classifier.6.weight"].shape[0]), None
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
    raise ValueError(f"cannot tell the architecture: the file looks like {describe_layout(sd)}. "
                     f"Studio knows {known_archs()}; pass --arch if it is one of these")


def _blocks(sd: Mapping[str, torch.Tensor], stage: int) -> int:
    n = 0
    while f"layer{stage}.{n}.conv1.weight" in sd:
        n += 1
    return n


def _infer_6n2(sd: Mapping[str, torch.Tensor]) -> tuple[str, int, None]:
    """He et al.'s 6n+2 CIFAR ResNets: option A (akamaster, ``linear``, no shortcut weights)
    or option B (chenyaofo, ``fc``, ``downsample`` projections)."""
    blocks = [_blocks(sd, i) for i in (1, 2, 3)]
    widths = tuple(int(sd[f"layer{i}.0.conv1.weight"].shape[0]) for i in (1, 2, 3))
    projections = any(".downsample." in k or ".shortcut." in k for k in sd)
    head = "linear" if "linear.weight" in sd else "fc"
    nc = int(sd[f"{head}.weight"].shape[0])
    option = "B" if head == "fc" and all(".shortcut." not in k for k in sd) else "A"
    if (len(set(blocks)) != 1 or widths != (16, 32, 64) or "layer1.0.conv3.weight" in sd
            or (option == "A" and projections) or (option == "B" and not projections)):
        raise ValueError(f"cannot tell the architecture: the file looks like {describe_layout(sd)}. "
                         f"Studio knows {known_archs()}; pass --arch if it is one of these")
    depth = 6 * blocks[0] + 2
    name = f"cifar_resnet{depth}" + ("_b" if option == "B" else "")
    if name not in OPTION_A_ARCHS + OPTION_B_ARCHS:
        raise ValueError(f"a CIFAR ResNet-{depth} (option {option}) is not one of the "
                         f"published depths {', '.join(map(str, RESNET_6N2_DEPTHS))}")
    return name, nc, None


def describe_layout(sd: Mapping[str, torch.Tensor]) -> str:
    """What a state_dict holds, in one phrase a user can act on: stem, depth, widths,
    residual blocks and their shortcut kind, and the head (name, in -> out)."""
    convs = [(k, v) for k, v in sd.items() if k.endswith("weight") and v.ndim == 4]
    linears = [(k, v) for k, v in sd.items() if k.endswith("weight") and v.ndim == 2]
    if not convs and not linears:
        return f"no conv or linear layers ({len(sd)} tensors: {', '.join(list(sd)[:4])}, ...)"
    parts = []
    if convs:
        k = convs[0][1].shape[-1]
        widths: list[int] = []
        for _, v in convs:
            if not widths or widths[-1] != int(v.shape[0]):
                widths.append(int(v.shape[0]))
        parts.append(f"a {k}x{k} stem of {int(convs[0][1].shape[0])} channels, "
                     f"{len(convs)} conv layers (widths {'-'.join(map(str, _dedup(widths)))})")
    blocks = sorted({m.group(1, 2) for k in sd if (m := re.match(r"(.*layer\d+)\.(\d+)\.", k))})
    if blocks:
        stages = sorted({b[0] for b in blocks})
        bottleneck = any(".conv3." in k for k in sd)
        proj = [k for k in sd if re.search(r"\.(shortcut|downsample)\.\d+\.weight$", k)]
        kind = ("1x1-conv projection shortcuts (option B)" if proj
                else "parameter-free shortcuts (identity / zero-padding, option A)")
        parts.append(f"{len(blocks)} {'bottleneck' if bottleneck else 'basic'} residual "
                     f"blocks in {len(stages)} stages with {kind}")
    elif convs:
        parts.append("no residual blocks")
    bn = sum(1 for k in sd if k.endswith("running_mean"))
    if bn:
        parts.append(f"{bn} BatchNorm layers")
    if linears:
        hk, hv = linears[-1]
        parts.append(f"head {hk.removesuffix('.weight')!r} {int(hv.shape[1])} -> "
                     f"{int(hv.shape[0])} classes")
    return ", ".join(parts)


def _dedup(widths: list[int]) -> list[int]:
    seen: list[int] = []
    for w in widths:
        if w not in seen:
            seen.append(w)
    return seen


def _convs(sd: Mapping[str, torch.Tensor]) -> int:
    return sum(1 for k, v in sd.items()
               if k.startswith("features.") and k.endswith(".weight") and v.dim() == 4)


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


def infer_num_classes(path: str | os.PathLike) -> int:
    """Output count of a classifier weights file: rows of its last linear (or 1x1 conv,
    SqueezeNet) weight in state_dict order."""
    return _head_size(read_weights(path), path)


def _head_size(sd: Mapping[str, torch.Tensor], path: str | os.PathLike | None = None) -> int:
    for k in ("linear.weight", "fc.weight", "classifier.6.weight"):
        if k in sd:
            return int(sd[k].shape[0])
    heads = [v for k, v in sd.items() if k.endswith("weight") and v.ndim in (2, 4)]
    if not heads:
        raise CheckpointError(path, "no linear layer found: not a classifier state_dict")
    return int(heads[-1].shape[0])


def rgb_triple(v: Sequence[float] | None, what: str) -> tuple[float, float, float] | None:
    """A ``--mean``/``--std`` value as (R, G, B): three numbers, or one for all three."""
    if v is None:
        return None
    t = tuple(float(x) for x in v)
    if len(t) == 1:
        t = t * 3
    if len(t) != 3:
        raise ValueError(f"--{what} takes 3 numbers (R G B) or one, got {len(t)}")
    if what == "std" and min(t) <= 0:
        raise ValueError(f"--std must be positive, got {', '.join(map(str, t))}")
    return t  # type: ignore[return-value]


def load_classifier(arch: str = "auto", weights: str | os.PathLike | None = None, *,
                    num_classes: int | None = None, classes: Sequence[str] | None = None,
                    device: str | torch.device = "cpu", data: str = "auto",
                    mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                    image_size: int | None = None) -> Classifier:
    """Build ``arch``, load ``weights`` and put it in eval mode: the one loader of classifier
    files (teachers, students, shape-bias models, ``eval classifier``).

    ``weights`` is a path, a registry name (``cifar10-resnet56``) or a file in the model
    folder. ``arch`` "auto" is the registry entry's or what the keys say. Normalisation,
    input size and class names come from ``data`` (a preset name), else the registry entry,
    else the architecture's usual data; ``mean``/``std``/``image_size`` override them.
    ``num_classes`` defaults to the file's head size (1000 without weights).
    """
    path = find_model(weights) if weights is not None else None
    spec = _spec_of(weights, path)
    sd: dict[str, torch.Tensor] | None = None
    toy_cfg = None
    if path is not None:
        sd = read_weights(path)
        try:
            guessed, nc, toy_cfg = infer_arch(sd)
        except ValueError as exc:
            if canonical_arch(arch) == "auto" and not (spec and spec.arch):
                raise CheckpointError(path, str(exc)) from None
            guessed, nc = "", _head_size(sd, path)
        num_classes = num_classes or nc
    else:
        guessed = ""
        num_classes = num_classes or (len(classes) if classes else 1000)
    arch = canonical_arch(arch)
    if arch == "auto":
        if not (guessed or (spec and spec.arch)):
            raise ValueError("pass --arch: there are no weights to read it from")
        arch = spec.arch if spec and spec.arch else guessed
    try:
        net = build_network(arch, num_classes, toy_cfg if arch == guessed else None)
    except ValueError as exc:
        raise CheckpointError(path, str(exc)) if path else exc from None
    if sd is not None:
        sd = fill_bn_counters(net, _fix_dataparallel_features(sd, net))
        if guessed and guessed != arch:
            what = f"a {arch} — the file looks like a {guessed} (omit --arch or pass --arch {guessed})"
        elif not guessed:
            what = f"a {arch} — the file looks like {describe_layout(sd)}"
        else:
            what = ""
        check_state_dict(net, sd, path, hint=f"expected a {arch} with {num_classes} classes",
                         what=what)
        net.load_state_dict(sd, strict=True)
    preset = _preset(data, spec, arch, num_classes, path)
    trained = _trainer_meta(path, num_classes) if path is not None and data == "auto" else {}
    if classes is None:
        classes = trained.get("classes")
    if classes is None and len(preset.class_names) == num_classes:
        classes = list(preset.class_names)
    return Classifier(net.to(device).eval(), arch,
                      rgb_triple(mean, "mean") or trained.get("mean") or preset.mean,
                      rgb_triple(std, "std") or trained.get("std") or preset.std,
                      list(classes or []),
                      int(image_size or trained.get("image_size") or preset.image_size),
                      preset.name, sha256_file(path) if path else "", str(path or ""))


def _spec_of(weights: str | os.PathLike | None, path: Path | None):
    """The registry entry of a file: by the name it was asked for, else by its file name."""
    if weights is not None and str(weights) in REGISTRY:
        return REGISTRY[str(weights)]
    return spec_for_file(path) if path is not None else None


def _preset(data: str, spec, arch: str, num_classes: int, path: Path | None) -> DataPreset:
    if data != "auto":
        if data not in PRESETS:
            raise ValueError(f"unknown --data {data!r}: use auto, {', '.join(PRESETS)}")
        pre = PRESETS[data]
        if pre.num_classes != num_classes:
            raise CheckpointError(path, f"has {num_classes} classes but --data {data} has "
                                  f"{pre.num_classes}")
        return pre
    if spec is not None and spec.data in PRESETS and PRESETS[spec.data].num_classes == num_classes:
        return PRESETS[spec.data]
    pre = PRESETS[default_data(arch, num_classes)]
    if pre.num_classes != num_classes:  # e.g. an ImageNet arch fine-tuned to 16 classes
        pre = dataclasses.replace(pre, num_classes=num_classes, class_names=())
    return pre


def _trainer_meta(weights: Path, num_classes: int) -> dict:
    """What `studio train classifier` recorded next to its ``model.pth``: class names and
    the normalisation and image size it trained with."""
    meta = weights.with_name("train.json")
    if weights.name != "model.pth" or not meta.is_file():
        return {}
    try:
        rec = json.loads(meta.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    out: dict = {}
    classes = rec.get("classes")
    if isinstance(classes, list) and len(classes) == num_classes:
        out["classes"] = list(classes)
    for key in ("mean", "std"):
        if isinstance(rec.get(key), list) and len(rec[key]) == 3:
            out[key] = tuple(float(v) for v in rec[key])
    if isinstance(rec.get("image_size"), int):
        out["image_size"] = rec["image_size"]
    return out


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
