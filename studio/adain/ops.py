"""The AdaIN operation, as pytorch-AdaIN's ``function.py`` computes it.

Statistics are per sample and channel over H*W, variance UNBIASED (torch.var's
default), ``std = sqrt(var + eps)`` with eps 1e-5 for content and style alike.
"""

from __future__ import annotations

import torch

EPS = 1e-5


def calc_mean_std(feat: torch.Tensor, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std), each (N, C, 1, 1), of features (N, C, H, W)."""
    if feat.dim() != 4:
        raise ValueError(f"expected (N, C, H, W) features, got shape {tuple(feat.shape)}")
    n, c = feat.shape[:2]
    flat = feat.reshape(n, c, -1)
    var = flat.var(dim=2) + eps
    return flat.mean(dim=2).view(n, c, 1, 1), var.sqrt().view(n, c, 1, 1)


def adain_from_stats(content_feat: torch.Tensor, style_mean: torch.Tensor,
                     style_std: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """AdaIN with the style given only by its statistics (what the style cache stores)."""
    c_mean, c_std = calc_mean_std(content_feat, eps)
    normalized = (content_feat - c_mean.expand_as(content_feat)) / c_std.expand_as(content_feat)
    return normalized * style_std.expand_as(content_feat) + style_mean.expand_as(content_feat)


def adain(content_feat: torch.Tensor, style_feat: torch.Tensor, eps: float = EPS
          ) -> torch.Tensor:
    """adain(c, s) = (c - mean_c) / std_c * std_s + mean_s."""
    s_mean, s_std = calc_mean_std(style_feat, eps)
    return adain_from_stats(content_feat, s_mean, s_std, eps)
