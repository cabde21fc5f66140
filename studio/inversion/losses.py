"""The loss terms of DeepInversion and NaturalInversion, plus the scores used around them.

All terms follow the reference code's math (see ``shared/reference/natural_inversion.md``):

- ``r_feature``: for every ``BatchNorm2d`` of the teacher, the L2 distance between the
  running statistics and the statistics of the batch entering the layer (mean over N, H, W;
  biased variance), summed over layers;
- ``tv_l2``: the L2 norms of the horizontal, vertical and both diagonal differences;
- ``l2``: the L2 norm of the whole image batch;
- ``adi_competition``: Adaptive DeepInversion's ``1 - clamp(JS(student, teacher), 0, 1)``.

The BN statistics are computed with one fused ``var_mean`` over (N, H, W) instead of the
reference's permute-copy-view, which gives the same numbers without a copy of every
activation, and only while :class:`BNStatistics` is enabled (the reference also computes
them in passes whose value it throws away).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn


class BNStatistics:
    """Forward hooks on every ``BatchNorm2d`` of ``model`` that measure the feature loss.

    ``first_bn_multiplier`` weights the first BN layer (DeepInversion's ImageNet setting
    uses 10; CIFAR uses 1). After a forward pass while enabled, :meth:`loss` is the sum of
    the per-layer distances.
    """

    def __init__(self, model: nn.Module, first_bn_multiplier: float = 1.0):
        self.layers = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        if not self.layers:
            raise ValueError("the teacher has no BatchNorm2d layer: DeepInversion and "
                             "NaturalInversion need its running statistics")
        self.weights = [first_bn_multiplier] + [1.0] * (len(self.layers) - 1)
        self.values: list[torch.Tensor | None] = [None] * len(self.layers)
        self.enabled = True
        self._handles = [m.register_forward_hook(self._hook(i))
                         for i, m in enumerate(self.layers)]

    def _hook(self, i: int):
        def fn(module: nn.BatchNorm2d, inputs: tuple[torch.Tensor, ...], output: torch.Tensor
               ) -> None:
            if self.enabled:
                self.values[i] = bn_distance(inputs[0], module.running_mean, module.running_var)
        return fn

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Forward passes inside do not compute the statistics (feature/no-grad passes)."""
        old, self.enabled = self.enabled, False
        try:
            yield
        finally:
            self.enabled = old

    def loss(self) -> torch.Tensor:
        vals = [v * w for v, w in zip(self.values, self.weights) if v is not None]
        if not vals:
            raise RuntimeError("no BatchNorm statistics were recorded: run a forward pass first")
        return torch.stack(vals).sum()

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


def bn_distance(x: torch.Tensor, running_mean: torch.Tensor, running_var: torch.Tensor
                ) -> torch.Tensor:
    """``||running_var - var||_2 + ||running_mean - mean||_2`` of a BN input (N, C, H, W)."""
    var, mean = torch.var_mean(x, dim=(0, 2, 3), unbiased=False)
    return (torch.linalg.vector_norm(running_var.to(var.dtype) - var)
            + torch.linalg.vector_norm(running_mean.to(mean.dtype) - mean))


def tv_l2(x: torch.Tensor) -> torch.Tensor:
    """Total-variation prior with L2 norms over four directions (DeepInversion's ``loss_var``)."""
    d1 = x[:, :, :, :-1] - x[:, :, :, 1:]
    d2 = x[:, :, :-1, :] - x[:, :, 1:, :]
    d3 = x[:, :, 1:, :-1] - x[:, :, :-1, 1:]
    d4 = x[:, :, :-1, :-1] - x[:, :, 1:, 1:]
    n = torch.linalg.vector_norm
    return n(d1) + n(d2) + n(d3) + n(d4)


def l2_prior(x: torch.Tensor) -> torch.Tensor:
    """The L2 norm of the image batch (``torch.norm(x, 2)``)."""
    return torch.linalg.vector_norm(x)


def adi_competition(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                    temperature: float = 3.0) -> torch.Tensor:
    """Adaptive DeepInversion: ``1 - clamp(JS, 0, 1)`` of the softened outputs.

    Minimising it pushes the images towards where student and teacher *disagree*.
    Probabilities are clamped to [0.01, 0.99] before the logs, as in the reference.
    """
    p = F.softmax(student_logits / temperature, dim=1)
    q = F.softmax(teacher_logits / temperature, dim=1)
    m = (0.5 * (p + q)).clamp(0.01, 0.99)
    p, q = p.clamp(0.01, 0.99), q.clamp(0.01, 0.99)
    kl = nn.functional.kl_div
    js = 0.5 * kl(p.log(), m, reduction="batchmean") + 0.5 * kl(q.log(), m, reduction="batchmean")
    return 1.0 - js.clamp(0.0, 1.0)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
            temperature: float = 3.0) -> torch.Tensor:
    """Hinton's distillation loss: ``T^2 * KL(softmax(t/T) || softmax(s/T))`` per sample.

    The T^2 factor keeps gradient magnitudes comparable across temperatures.
    """
    t = temperature
    return F.kl_div(F.log_softmax(student_logits / t, dim=1),
                    F.log_softmax(teacher_logits / t, dim=1),
                    reduction="batchmean", log_target=True) * (t * t)


def energy_score(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Energy of Liu et al. (NeurIPS 2020): ``-T * logsumexp(logits / T)``.

    Lower means more in-distribution for the classifier; unlike the max softmax it is not
    saturated by over-confident logits.
    """
    return -temperature * torch.logsumexp(logits / temperature, dim=1)


__all__ = ["BNStatistics", "bn_distance", "tv_l2", "l2_prior", "adi_competition", "kd_loss",
           "energy_score"]
