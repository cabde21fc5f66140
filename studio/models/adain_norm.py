"""Channel statistics and the AdaIN operation (Huang & Belongie 2017), shared by the AdaIN
engine and TSIT's FAdaIN, as pytorch-AdaIN's ``function.py`` computes them.

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
    if flat.dtype in (torch.float16, torch.bfloat16):  # half precision: statistics in fp32
        flat = flat.float()
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
    if content_feat.shape[:2] != style_feat.shape[:2]:
        raise ValueError(f"AdaIN needs equal batch and channels, got "
                         f"{tuple(content_feat.shape)} and {tuple(style_feat.shape)}")
    s_mean, s_std = calc_mean_std(style_feat, eps)
    return adain_from_stats(content_feat, s_mean, s_std, eps)


__all__ = ["EPS", "calc_mean_std", "adain_from_stats", "adain"]
