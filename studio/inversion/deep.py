"""DeepInversion (Yin et al., CVPR 2020): optimise the pixels directly.

The baseline every data-free paper compares with. One iteration:

    x_j = roll(x, ±2 px) (flip optional; the CIFAR script has none)
    L = CE(T(x_j), y) + r_feature·Σ_BN + var_scale·TV_L2(x_j) + l2_scale·‖x_j‖₂
        [+ adi_scale · (1 - clamp(JS(S(x_j)/T, T(x_j)/T), 0, 1))]      Adaptive DeepInversion
    Adam step on x

Defaults are the paper's CIFAR-10 settings (lr 0.05, r_feature 10, TV 2.5e-5, l2 0). The
reference returns the *last* image because its "best" aliases the live tensor; here the
best is a copy. For ADI the student must be trained between batches (the synthesis job
does that; the released code never did).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from studio.inversion.losses import BNStatistics, adi_competition, l2_prior, tv_l2
from studio.inversion.natural import TOY_LOSS, Jitter
from studio.models.teachers import Teacher


@dataclass
class DeepInversionConfig:
    """Defaults = DeepInversion's CIFAR-10 paper settings."""

    iterations: int = 2000
    lr: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    r_feature: float = 10.0
    first_bn_multiplier: float = 1.0
    var_scale: float = 2.5e-5
    l2_scale: float = 0.0
    jitter: int = 2
    flip: bool = False
    cosine_lr: bool = False
    adi_scale: float = 0.0
    adi_temperature: float = 3.0
    #: Run convolutions in NHWC (same math; faster on CPU with oneDNN).
    channels_last: bool = True


#: The ImageNet settings of the reference (224 px; 2k iterations).
DEEP_IMAGENET = {"lr": 0.2, "betas": (0.5, 0.9), "r_feature": 0.05, "first_bn_multiplier": 10.0,
                 "var_scale": 1e-4, "l2_scale": 1e-5, "jitter": 30, "flip": True,
                 "cosine_lr": True}

#: ``--preset toy`` (named deviation, docs/inversion.md): the toy preset's loss weights
#: (:data:`studio.inversion.natural.TOY_LOSS`, the same for both methods) with the
#: reference's ImageNet optimiser (Adam lr 0.2, betas (0.5, 0.9), cosine lr); jitter ±2,
#: no flip, as in the CIFAR script.
DEEP_TOY = {**TOY_LOSS, "lr": 0.2, "betas": (0.5, 0.9), "cosine_lr": True, "jitter": 2,
            "flip": False}

#: DeepInversion settings per ``--preset`` (the paper presets: the class defaults).
DEEP_PRESETS: dict[str, dict] = {"cifar10": {}, "cifar100": {}, "toy": DEEP_TOY}


class DeepInversion:
    """One batch of DeepInversion (or ADI when ``student`` and ``cfg.adi_scale`` are set)."""

    method = "deep"

    def __init__(self, teacher: Teacher, labels: torch.Tensor, cfg: DeepInversionConfig,
                 seed: int, device: torch.device | str = "cpu",
                 student: nn.Module | None = None):
        self.teacher, self.cfg = teacher, cfg
        self.device = torch.device(device)
        self.net = teacher.model
        self.labels = labels.to(self.device)
        self.student = student if cfg.adi_scale else None
        s = teacher.image_size
        g = torch.Generator().manual_seed(seed)
        x0 = torch.randn(len(labels), 3, s, s, generator=g).to(self.device)
        if cfg.channels_last:
            x0 = x0.contiguous(memory_format=torch.channels_last)
            self.net.to(memory_format=torch.channels_last)
            if self.student is not None:
                self.student.to(memory_format=torch.channels_last)
        self.inputs = x0.requires_grad_(True)
        self.opt = torch.optim.Adam([self.inputs], lr=cfg.lr, betas=cfg.betas)
        self.jitter = Jitter(random.Random(seed), cfg.jitter, cfg.flip)
        self.bn = BNStatistics(self.net, cfg.first_bn_multiplier)
        self.iteration = 0
        self.best_loss = float("inf")
        self.best_terms: dict[str, float] = {}
        self._best: torch.Tensor | None = None

    def _lr(self) -> float:
        if not self.cfg.cosine_lr:
            return self.cfg.lr
        return 0.5 * self.cfg.lr * (1 + math.cos(math.pi * self.iteration / self.cfg.iterations))

    def step(self) -> dict[str, float]:
        cfg = self.cfg
        for group in self.opt.param_groups:
            group["lr"] = self._lr()
        x = self.jitter(self.inputs)
        logits = self.net(x)
        loss_ce = F.cross_entropy(logits, self.labels)
        loss_bn = self.bn.loss()
        loss_tv = tv_l2(x)
        loss_l2 = l2_prior(x)
        loss = loss_ce + cfg.r_feature * loss_bn + cfg.var_scale * loss_tv + cfg.l2_scale * loss_l2
        terms = {"ce": loss_ce.item(), "r_feature": loss_bn.item(), "tv_l2": loss_tv.item(),
                 "l2": loss_l2.item()}
        if self.student is not None:
            self.student.eval()
            with self.bn.paused():
                comp = adi_competition(self.student(x), logits, cfg.adi_temperature)
            loss = loss + cfg.adi_scale * comp
            terms["adi"] = comp.item()
        terms = {"loss": loss.item(), **terms}
        if terms["loss"] < self.best_loss:
            self.best_loss, self.best_terms = terms["loss"], terms
            self._best = self.inputs.detach().clone()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.iteration += 1
        return terms

    def current(self) -> torch.Tensor:
        return self.inputs.detach()

    def best(self) -> torch.Tensor:
        return self._best if self._best is not None else self.inputs.detach().clone()

    def close(self) -> None:
        self.bn.close()


__all__ = ["DeepInversionConfig", "DEEP_IMAGENET", "DEEP_TOY", "DEEP_PRESETS", "DeepInversion"]
