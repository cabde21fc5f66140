"""Teachers to invert and students to distil into.

Any network of the zoo (:mod:`studio.models.classifiers`, one architecture namespace) can
be a teacher. ``forward`` returns logits only; the multi-scale features NaturalInversion
needs are taken with forward hooks on :func:`feature_stages`, which works for any teacher
(and is why the reference's VGG crash cannot happen here).

A :class:`Teacher` bundles the network with what inversion must know about its data:
image size, normalisation mean/std (outputs are de-normalised with them), class names.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from studio.core.checkpoints import REGISTRY, CheckpointError, find_model, resources_dir
from studio.models.cifar import CifarResNet, CifarResNet6n2, CifarVGG
from studio.models.classifiers import (
    PRESETS,
    Classifier,
    DataPreset,
    default_data,
    load_classifier,
)
from studio.toyworld.models import ToyVGG

# ---------------------------------------------------------------------------------------
# Teacher bundle


class Teacher(Classifier):
    """A classifier of the zoo, frozen in eval mode, plus the facts inversion needs about
    its data (the preset: size, mean/std, class names) and where it came from. One
    network + normalisation bundle for the trainer, the shape-bias test and inversion."""

    def __init__(self, model: nn.Module, arch: str, preset: DataPreset, sha256: str = "",
                 path: str = "", class_names: tuple[str, ...] = ()):
        super().__init__(model, arch, preset.mean, preset.std, list(class_names),
                         preset.image_size)
        self.preset, self.sha256, self.path = preset, sha256, path
        self.class_names = tuple(class_names)

    @property
    def model(self) -> nn.Module:
        return self.net

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_size(self) -> int:
        return self.preset.image_size

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised space -> [0, 1] RGB with the teacher's mean/std (then clamped)."""
        return self.denormalize_unclamped(x).clamp(0.0, 1.0)

    def denormalize_unclamped(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised space -> RGB, values outside [0, 1] kept (how much saving clips)."""
        m = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        s = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return x * s + m

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
                                  "(see studio/resources/toy/README.md) or pass a checkpoint path")
        return p
    return find_model(name_or_path)


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
                 image_size: int | None = None, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None) -> Teacher:
    """Load a teacher file (any layout the zoo knows; ``toy`` is the shipped toy teacher)
    through the one classifier loader, with its normalisation from the registry or the
    architecture unless ``data``/``mean``/``std``/``image_size`` say otherwise."""
    path = resolve_teacher_path(name_or_path)
    clf = load_classifier(arch, name_or_path if str(name_or_path) in REGISTRY else path,
                          data=data, mean=mean, std=std, image_size=image_size)
    nc = _num_classes(clf.net)
    pre = PRESETS[clf.data] if clf.data in PRESETS else PRESETS[default_data(clf.arch, nc)]
    pre = DataPreset(pre.name, clf.input_size, clf.mean, clf.std, nc,
                     tuple(clf.classes) if len(clf.classes) == nc else ())
    return teacher_from_model(clf.net, clf.arch, pre, sha256=clf.sha256, path=clf.path)


# ---------------------------------------------------------------------------------------
# Multi-scale features for the Feature Transfer Pyramid


def feature_stages(model: nn.Module, image_size: int | None = None) -> list[nn.Module]:
    """Modules whose outputs are the teacher's multi-scale features, finest first.

    Known architectures have an explicit mapping (CIFAR ResNet ``layer1..4``, the 6n+2
    CIFAR ResNets' ``layer1..3``, the ReLU before each VGG max-pool, ToyVGG's last ReLU
    per stage, torchvision ResNet ``layer1..4``); any other network is probed once: the last ReLU (or last 4-D
    producing leaf module) at each spatial resolution, up to four, finest first.
    """
    if isinstance(model, (CifarResNet, CifarResNet6n2, CifarVGG)):
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


__all__ = ["DataPreset", "PRESETS", "Teacher", "freeze", "load_teacher", "teacher_from_model",
           "resolve_teacher_path", "feature_stages", "discover_stages"]
