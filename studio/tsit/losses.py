"""TSIT's training objectives (official SPADE-family losses).

- hinge GAN over the multi-scale discriminator (mean over scales);
- discriminator feature matching: L1 between the intermediate outputs on fake and real,
  ``lambda_feat / num_D`` per scale;
- perceptual loss: L1 of encoder features at relu1_1..relu5_1 weighted 1/32 .. 1 — VGG-19
  from torchvision when its ImageNet weights are on disk, otherwise a configured encoder
  (the toy world's ToyVGG teacher), announced with a notice. As in the official code the
  images go in as they are, in [-1, 1], without ImageNet normalisation;
- KL divergence of the VAE encoder (SIS only).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from studio.core.checkpoints import (
    CheckpointError,
    load_into,
    load_state_dict,
    models_dir,
    resources_dir,
)
from studio.core.paths import home
from studio.toyworld.models import ToyVGG
from studio.tsit.model import calc_mean_std

#: Official layer weights for relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
VGG_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)
VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's IMAGENET1K_V1 file name


def gan_loss(preds: Sequence, target_is_real: bool, for_discriminator: bool = True,
             mode: str = "hinge") -> torch.Tensor:
    """Official ``GANLoss`` over a list (one entry per scale) of discriminator outputs."""
    total = 0.0
    for pred in preds:
        x = pred[-1] if isinstance(pred, (list, tuple)) else pred
        if mode == "hinge":
            if for_discriminator:
                loss = F.relu(1 - x).mean() if target_is_real else F.relu(1 + x).mean()
            else:
                if not target_is_real:
                    raise ValueError("the generator's hinge loss must aim for real")
                loss = -x.mean()
        elif mode == "ls":
            loss = F.mse_loss(x, torch.full_like(x, 1.0 if target_is_real else 0.0))
        elif mode == "original":
            loss = F.binary_cross_entropy_with_logits(
                x, torch.full_like(x, 1.0 if target_is_real else 0.0))
        elif mode == "w":
            loss = -x.mean() if target_is_real else x.mean()
        else:
            raise ValueError(f"unknown gan_mode {mode!r} (hinge, ls, original, w)")
        total = total + loss
    return total / len(preds)


def feature_matching_loss(pred_fake: Sequence[Sequence[torch.Tensor]],
                          pred_real: Sequence[Sequence[torch.Tensor]],
                          lambda_feat: float) -> torch.Tensor:
    """L1 between D's intermediate features on fake and (detached) real images."""
    num_d = len(pred_fake)
    loss = torch.zeros((), device=pred_fake[0][0].device)
    for fake_i, real_i in zip(pred_fake, pred_real):
        for f, r in zip(fake_i[:-1], real_i[:-1]):
            loss = loss + F.l1_loss(f, r.detach()) * lambda_feat / num_d
    return loss


def kld_loss(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


# ---------------------------------------------------------------------------------------
# Perceptual encoders


class VGG19Features(nn.Module):
    """torchvision VGG-19 cut into the official five slices (relu1_1 .. relu5_1)."""

    weights = VGG_WEIGHTS
    name = "vgg19"

    def __init__(self, state_dict: dict[str, torch.Tensor] | None = None):
        super().__init__()
        from torchvision.models import vgg19  # noqa: PLC0415 (heavy: loaded when used)

        net = vgg19()
        if state_dict is not None:
            net.load_state_dict(state_dict)
        feats = net.features
        cuts = [(0, 2), (2, 7), (7, 12), (12, 21), (21, 30)]
        self.slices = nn.ModuleList(nn.Sequential(*[feats[i] for i in range(a, b)])
                                    for a, b in cuts)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for s in self.slices:
            x = s(x)
            out.append(x)
        return out


class ToyFeatures(nn.Module):
    """The toy world's ToyVGG classifier as a perceptual encoder (relu1_1 .. relu4_1).

    Its BatchNorm keeps every tap near unit scale, so the raw features serve; the four
    taps take the official weights of the four deepest VGG taps (1/16, 1/8, 1/4, 1).
    Inputs in [-1, 1] are mapped to the toy normalisation ((x01 - 0.5) / 0.25 = 2x).
    """

    weights = VGG_WEIGHTS[1:]
    name = "toy"

    def __init__(self, net: nn.Module):
        super().__init__()
        taps = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
        layers, self.cut_names = [], []
        seq: list[nn.Module] = []
        for name, mod in net.features.named_children():
            seq.append(mod)
            if name in taps:
                layers.append(nn.Sequential(*seq))
                self.cut_names.append(name)
                seq = []
        if len(layers) != 4:
            raise ValueError("toy encoder lacks relu1_1..relu4_1 taps")
        self.slices = nn.ModuleList(layers)
        for m in self.modules():  # no in-place ReLU: the taps are reused
            if isinstance(m, nn.ReLU):
                m.inplace = False
        self.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> ToyFeatures:  # BN statistics stay frozen
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = 2.0 * x
        out = []
        for s in self.slices:
            x = s(x)
            out.append(x)
        return out


def torchvision_vgg19_path() -> Path | None:
    """Where torchvision keeps VGG-19 weights, if the user has them."""
    env = os.environ.get("STUDIO_VGG19")
    if env and Path(env).is_file():
        return Path(env)

    user = home(writable=False)
    torch_home = os.environ.get("TORCH_HOME")
    hub = Path(torch_home) if torch_home else (user / ".cache" / "torch" if user else None)
    if hub is not None and (hub / "hub" / "checkpoints" / VGG19_FILE).is_file():
        return hub / "hub" / "checkpoints" / VGG19_FILE

    cand = models_dir() / VGG19_FILE
    return cand if cand.is_file() else None


def toy_teacher_path() -> Path:
    return resources_dir() / "toy" / "teacher.pth"


def build_perceptual(kind: str = "auto", path: str | os.PathLike | None = None
                     ) -> tuple[nn.Module | None, str]:
    """(encoder, notice). ``kind``: auto | vgg19 | toy | none.

    ``auto`` takes torchvision VGG-19 ImageNet weights when present, else the toy
    teacher; the notice says which, so a user never trains with a stand-in unknowingly.
    """
    if kind == "none":
        return None, "perceptual loss off"
    if kind in ("auto", "vgg19"):
        vpath = Path(path) if (path and kind == "vgg19") else torchvision_vgg19_path()
        if vpath is not None and vpath.is_file():
            return VGG19Features(load_state_dict(vpath)), (
                f"perceptual loss: VGG-19 ImageNet weights from {vpath}")
        if kind == "vgg19":
            raise CheckpointError(vpath or VGG19_FILE, "VGG-19 weights not found; put "
                                  f"torchvision's {VGG19_FILE} in ~/.cache/torch/hub/"
                                  "checkpoints or pass its path")
    if kind in ("auto", "toy"):
        tpath = Path(path) if (path and kind == "toy") else toy_teacher_path()
        net = ToyVGG()
        if tpath.is_file():
            load_into(net, tpath, hint="expected a ToyVGG (default config) state_dict")
            note = (f"NOTICE: perceptual loss uses the toy encoder {tpath} (ToyVGG "
                    "relu1_1..relu4_1), not VGG-19: torchvision VGG-19 weights were not found")
        else:
            if kind == "toy" and path:
                raise CheckpointError(tpath, "no such file")
            torch.manual_seed(0)
            net = ToyVGG()
            note = ("NOTICE: perceptual loss uses a RANDOM ToyVGG encoder: neither VGG-19 "
                    f"weights nor the toy teacher ({tpath}) were found")
        return ToyFeatures(net.eval()), note
    raise ValueError(f"unknown perceptual encoder {kind!r} (auto, vgg19, toy, none)")


class PerceptualLoss(nn.Module):
    """Weighted L1 between encoder features of the output and the (detached) target."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.weights = tuple(encoder.weights)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fx, fy = self.encoder(x), self.encoder(y)
        loss = torch.zeros((), device=x.device)
        for w, a, b in zip(self.weights, fx, fy):
            loss = loss + w * F.l1_loss(a, b.detach())
        return loss


def style_statistics_loss(encoder: nn.Module, x: torch.Tensor, style: torch.Tensor
                          ) -> torch.Tensor:
    """AdaIN's style loss (Huang & Belongie 2017) on the perceptual encoder's taps: MSE of
    per-channel mean and std, output vs (detached) style image.

    Not part of TSIT, whose only pull towards the style is the discriminator's feature
    matching; behind ``--lambda_style`` (default 0) for a short training on a small
    world, where that pull alone teaches the generator to ignore its style input.
    """
    loss = torch.zeros((), device=x.device)
    with torch.no_grad():
        fs = [calc_mean_std(f) for f in encoder(style)]
    for fx, (ms, ss) in zip(encoder(x), fs):
        mx, sx = calc_mean_std(fx)
        loss = loss + F.mse_loss(mx, ms) + F.mse_loss(sx, ss)
    return loss

