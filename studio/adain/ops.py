"""The AdaIN operation and its controls, as pytorch-AdaIN's ``function.py`` computes them.

Statistics are per sample and channel over H*W, variance UNBIASED (torch.var's
default), ``std = sqrt(var + eps)`` with eps 1e-5 for content and style alike.

Controls (Huang & Belongie 2017, Sec. 7): content-style trade-off ``alpha`` (blend in
feature space), style interpolation (AdaIN per style, targets mixed with weights),
spatial control (each masked region takes its own style) and colour preservation (CORAL
recolouring of the style image as the port does it; luminance-only as the paper describes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.transforms import functional as TF

from studio.models.adain_norm import EPS, adain, adain_from_stats, calc_mean_std

#: the shared statistics, re-exported: ``ops`` is where the AdaIN engine looks for them
__all__ = ["EPS", "adain", "adain_from_stats", "calc_mean_std", "StyleStats",
           "normalize_weights", "adain_target", "region_masks", "masked_mean_std",
           "masked_adain", "coral", "luminance", "match_luminance", "combine_luminance",
           "low_pass"]

# ---------------------------------------------------------------------------------------
# Style statistics: everything AdaIN needs to know about a style image


@dataclass
class StyleStats:
    """Per-channel relu4_1 mean and std of one or more styles, each (N, C, 1, 1).

    All AdaIN needs of a style image: cache it and a style is encoded once, with exactly
    the same result as re-encoding it.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __len__(self) -> int:
        return self.mean.shape[0]

    def __getitem__(self, i: int | slice) -> StyleStats:
        if isinstance(i, int):
            i = slice(i, i + 1)
        return StyleStats(self.mean[i], self.std[i])

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> StyleStats:
        return StyleStats(self.mean.to(device, dtype), self.std.to(device, dtype))

    def expand(self, n: int) -> StyleStats:
        """Broadcast a single style to ``n`` contents (no copy)."""
        if len(self) == n:
            return self
        if len(self) != 1:
            raise ValueError(f"{len(self)} style statistics for {n} contents")
        return StyleStats(self.mean.expand(n, -1, -1, -1), self.std.expand(n, -1, -1, -1))

    @staticmethod
    def cat(items: Sequence[StyleStats]) -> StyleStats:
        return StyleStats(torch.cat([s.mean for s in items]), torch.cat([s.std for s in items]))


def normalize_weights(weights: Sequence[float]) -> list[float]:
    """Interpolation weights scaled to sum 1 (floats welcome; the port's int() is not)."""
    w = [float(x) for x in weights]
    if any(x < 0 for x in w) or sum(w) <= 0:
        raise ValueError(f"style interpolation weights must be >= 0 with a positive sum, "
                         f"got {list(weights)}")
    total = sum(w)
    return [x / total for x in w]


def adain_target(content_feat: torch.Tensor, style: StyleStats | Sequence[StyleStats],
                 *, alpha: float = 1.0, weights: Sequence[float] | None = None,
                 masks: torch.Tensor | None = None, eps: float = EPS) -> torch.Tensor:
    """Decoder input ``t = alpha * AdaIN(f_c, s) + (1 - alpha) * f_c``.

    - one :class:`StyleStats` (one entry, or one per content): plain AdaIN;
    - K styles with ``weights``: AdaIN per style, targets mixed with the normalised
      weights (test.py's interpolation);
    - K styles with ``masks`` (K, H, W) or (N, K, H, W), any resolution: each feature
      position takes the style of the mask that covers it most (>= 0.5, nearest resize);
      the content statistics are taken over that region only (the Lua ``-mask`` option).
      Positions no mask covers keep the content features.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    n = content_feat.shape[0]
    styles = [style] if isinstance(style, StyleStats) else list(style)
    if not styles:
        raise ValueError("no style given")
    if masks is not None:
        if weights is not None:
            raise ValueError("use either interpolation weights or masks, not both")
        feat = masked_adain(content_feat, styles, masks, eps)
    elif len(styles) == 1:
        s = styles[0].expand(n)
        feat = adain_from_stats(content_feat, s.mean, s.std, eps)
    else:
        if weights is None:
            raise ValueError(f"{len(styles)} styles need interpolation weights or masks")
        if len(weights) != len(styles):
            raise ValueError(f"{len(weights)} interpolation weights for {len(styles)} styles")
        feat = torch.zeros_like(content_feat)
        for w, s in zip(normalize_weights(weights), styles):
            s = s.expand(n)
            feat = feat + w * adain_from_stats(content_feat, s.mean, s.std, eps)
    if alpha == 1.0:
        return feat
    return feat * alpha + content_feat * (1 - alpha)


def region_masks(masks: torch.Tensor, n: int, size: tuple[int, int]) -> torch.Tensor:
    """(N, K, h, w) boolean, disjoint masks at feature resolution ``size``."""
    if masks.dim() == 3:
        masks = masks.unsqueeze(0)
    if masks.dim() != 4:
        raise ValueError(f"masks must be (K, H, W) or (N, K, H, W), got {tuple(masks.shape)}")
    masks = masks.float()
    if masks.shape[0] == 1 and n > 1:
        masks = masks.expand(n, -1, -1, -1)
    small = F.interpolate(masks, size=size, mode="nearest")
    best, idx = small.max(dim=1, keepdim=True)
    k = masks.shape[1]
    onehot = F.one_hot(idx.squeeze(1), k).permute(0, 3, 1, 2).bool()
    return onehot & (best >= 0.5)


def masked_mean_std(feat: torch.Tensor, weight: torch.Tensor, *, correction: int = 1,
                    eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and ``sqrt(var + eps)`` of ``feat`` (N, C, h, w) over the positions
    ``weight`` (N, 1, h, w) covers: AdaIN's statistics of a region (``correction`` 1, the
    unbiased variance as calc_mean_std) or of a soft mask (0)."""
    count = weight.sum(dim=(2, 3), keepdim=True)
    mean = (feat * weight).sum(dim=(2, 3), keepdim=True) / count.clamp_min(eps)
    var = (((feat - mean) ** 2) * weight).sum(dim=(2, 3), keepdim=True)
    var = var / (count - correction).clamp_min(eps)
    return mean, (var + eps).sqrt()


def masked_adain(content_feat: torch.Tensor, styles: Sequence[StyleStats],
                 masks: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """AdaIN per region: region k is normalised with its own statistics, styled by k."""
    n, c, h, w = content_feat.shape
    if masks.shape[-3] != len(styles):
        raise ValueError(f"{masks.shape[-3]} masks for {len(styles)} styles")
    regions = region_masks(masks.to(content_feat.device), n, (h, w))
    out = content_feat
    for k, s in enumerate(styles):
        s = s.expand(n)
        m = regions[:, k:k + 1].to(content_feat.dtype)
        count = m.sum(dim=(2, 3), keepdim=True)
        if bool((count < 2).all()):
            continue  # region absent at this resolution
        mean, std = masked_mean_std(content_feat, m, eps=eps)
        styled = (content_feat - mean) / std * s.std + s.mean
        out = torch.where((m > 0) & (count >= 2), styled, out)
    return out


# ---------------------------------------------------------------------------------------
# Colour preservation


def _mat_sqrt(x: torch.Tensor) -> torch.Tensor:
    """U diag(sqrt(S)) V^T from the SVD (the port's matrix square root)."""
    u, s, vh = torch.linalg.svd(x)
    return u @ torch.diag(s.sqrt()) @ vh


def coral(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Recolour ``source`` (3, H, W) to the mean and covariance of ``target`` (3, h, w).

    As pytorch-AdaIN's ``coral``: channels standardised with their unbiased std, the
    covariances of the standardised data get an identity added, and the transfer is
    ``sqrt(C_t) sqrt(C_s)^-1``. Used on the style image before encoding.
    """
    if source.dim() != 3 or source.shape[0] != 3 or target.dim() != 3 or target.shape[0] != 3:
        raise ValueError("coral expects two (3, H, W) images")
    eye = torch.eye(3, dtype=source.dtype, device=source.device)

    def standardised(x):
        f = x.reshape(3, -1)
        mean, std = f.mean(dim=-1, keepdim=True), f.std(dim=-1, keepdim=True)
        return (f - mean) / std, mean, std

    s_norm, _, _ = standardised(source)
    t_norm, t_mean, t_std = standardised(target)
    s_cov = s_norm @ s_norm.t() + eye
    t_cov = t_norm @ t_norm.t() + eye
    transfer = _mat_sqrt(t_cov) @ (torch.inverse(_mat_sqrt(s_cov)) @ s_norm)
    return (transfer * t_std + t_mean).reshape(source.shape)


#: RGB -> YIQ (NTSC); Y is the luminance the paper's luminance-only transfer uses.
_YIQ = torch.tensor([[0.299, 0.587, 0.114],
                     [0.595716, -0.274453, -0.321263],
                     [0.211456, -0.522591, 0.311135]])


def _yiq(x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", _YIQ.to(x.device, x.dtype), x)


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Y of RGB images (N, 3, H, W) -> (N, 1, H, W)."""
    return _yiq(x)[:, :1]


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Style images whose luminance has the content's mean and std (Gatys et al. 2016).

    Returns grey RGB images (N, 3, H, W); one style is broadcast to N contents.
    """
    if style.shape[0] == 1 and content.shape[0] > 1:
        style = style.expand(content.shape[0], -1, -1, -1)
    ls, lc = luminance(style), luminance(content)
    ms, ss = ls.mean(dim=(2, 3), keepdim=True), ls.std(dim=(2, 3), keepdim=True)
    mc, sc = lc.mean(dim=(2, 3), keepdim=True), lc.std(dim=(2, 3), keepdim=True)
    return ((ls - ms) / (ss + EPS) * sc + mc).expand(-1, 3, -1, -1)


def combine_luminance(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The stylised image's luminance with the content's I and Q (colour) channels."""
    if stylized.shape[-2:] != content.shape[-2:]:
        content = F.interpolate(content, size=stylized.shape[-2:], mode="bilinear",
                                align_corners=False)
    yiq = torch.cat([luminance(stylized), _yiq(content)[:, 1:]], dim=1)
    inv = torch.linalg.inv(_YIQ.double()).to(stylized.device, stylized.dtype)
    return torch.einsum("ij,njhw->nihw", inv, yiq)


def low_pass(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of (N, C, H, W) images (kernel 2 ceil(3 sigma) + 1, reflected edges);
    ``sigma`` 0 returns ``x`` itself."""
    if sigma <= 0:
        return x
    k = 2 * math.ceil(3 * sigma) + 1
    return TF.gaussian_blur(x, [k, k], [sigma, sigma])
