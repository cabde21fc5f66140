"""Optimisation-based style transfer (Gatys, Ecker & Bethge, CVPR 2016).

The reference cue-conflict stimuli were made this way, not with AdaIN: the image itself
is optimised so that its encoder features match the content image at the content layers
and its Gram matrices match the style image at the style layers::

    L = content_weight * sum_l MSE(F_l(x), F_l(c))
      + style_weight   * sum_l w_l * MSE(G_l(x), G_l(s)),   G = F F^T / (C H W)

Works on any VGG-like ``nn.Sequential`` encoder: the official ``vgg_normalised`` layout
(layer names ``relu{stage}_{k}`` computed from the children; input RGB in [0, 1]) and the
toy encoders (a :class:`~studio.toyworld.models.ToyVGG`'s named ``features``, normalised
with TOY_MEAN/TOY_STD, or the toy AdaIN encoder). Each step can report a preview.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: Gatys et al. (2016): style at relu1_1 .. relu5_1 (equal weights), content at relu4_2.
GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
GATYS_CONTENT_LAYERS = ("relu4_2",)


def layer_names(encoder: nn.Sequential) -> dict[str, int]:
    """Layer name -> child index (inclusive) for a VGG-like Sequential.

    Named children (``conv1_1``, ``relu1_1`` ...) keep their names; numbered ones (the
    official layout) are named by counting convolutions and pools: the ReLU after the
    k-th 3x3 conv of stage s is ``relu{s}_{k}``. The 1x1 preprocessing conv is skipped.
    """
    names: dict[str, int] = {}
    children = list(encoder.named_children())
    if children and not children[0][0].isdigit():
        return {name: i for i, (name, _) in enumerate(children)}
    stage, k = 1, 0
    for i, (_, m) in enumerate(children):
        if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1):
            k += 1
            names[f"conv{stage}_{k}"] = i
        elif isinstance(m, nn.ReLU) and k:
            names[f"relu{stage}_{k}"] = i
        elif isinstance(m, nn.MaxPool2d):
            names[f"pool{stage}"] = i
            stage, k = stage + 1, 0
    return names


class FeatureTaps(nn.Module):
    """Run an encoder up to the deepest requested layer, returning the named outputs."""

    def __init__(self, encoder: nn.Sequential, layers: Sequence[str],
                 preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None):
        super().__init__()
        names = layer_names(encoder)
        missing = [n for n in layers if n not in names]
        if missing:
            avail = [n for n in names if n.startswith("relu")]
            raise ValueError(f"encoder has no layer(s) {missing}; available: {avail}")
        self.index = {n: names[n] for n in layers}
        self.encoder = encoder
        self.preprocess = preprocess
        self.last = max(self.index.values())

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.preprocess is not None:
            x = self.preprocess(x)
        want = {i: n for n, i in self.index.items()}
        out: dict[str, torch.Tensor] = {}
        for i in range(self.last + 1):
            m = self.encoder[i]
            x = m(x.clone() if isinstance(m, nn.ReLU) and m.inplace else x)
            if i in want:
                out[want[i]] = x
        return out


def gram(feat: torch.Tensor) -> torch.Tensor:
    """Gram matrix per image, normalised by C*H*W: (N, C, C)."""
    n, c, h, w = feat.shape
    f = feat.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


@dataclass
class GatysConfig:
    iterations: int = 300
    content_weight: float = 1.0
    style_weight: float = 1e6
    content_layers: tuple[str, ...] = GATYS_CONTENT_LAYERS
    style_layers: tuple[str, ...] = GATYS_STYLE_LAYERS
    layer_weights: tuple[float, ...] | None = None   # per style layer (default equal)
    optimizer: str = "lbfgs"                         # lbfgs | adam
    lr: float = 1.0                                  # L-BFGS step (Adam: try 0.02)
    init: str = "content"                            # content | noise
    preview_every: int = 25


@dataclass
class GatysStep:
    """Reported every ``preview_every`` iterations (and at the end)."""

    iteration: int
    loss: float
    content_loss: float
    style_loss: float
    image: torch.Tensor  # (N, 3, H, W) in [0, 1], detached


def style_transfer(taps: FeatureTaps, content: torch.Tensor, style: torch.Tensor,
                   cfg: GatysConfig, *, generator: torch.Generator | None = None
                   ) -> Iterator[GatysStep]:
    """Optimise images (N, 3, H, W) in [0, 1]; yields :class:`GatysStep` previews and
    finally the result (the last yielded step, ``iteration == cfg.iterations``).

    ``style`` may hold one image for all contents. The encoder is frozen; only pixels move.
    """
    for p in taps.parameters():
        p.requires_grad_(False)
    lw = list(cfg.layer_weights or [1.0] * len(cfg.style_layers))
    if len(lw) != len(cfg.style_layers):
        raise ValueError(f"{len(lw)} layer weights for {len(cfg.style_layers)} style layers")
    with torch.no_grad():
        fc = taps(content)
        fs = taps(style)
        target_c = {n: fc[n].detach() for n in cfg.content_layers}
        target_g = {n: gram(fs[n]).expand(content.shape[0], -1, -1).detach()
                    for n in cfg.style_layers}
    if cfg.init == "noise":
        x0 = torch.rand(content.shape, generator=generator, device="cpu").to(content)
    elif cfg.init == "content":
        x0 = content.detach().clone()
    else:
        raise ValueError(f"init must be 'content' or 'noise', not {cfg.init!r}")
    x = x0.requires_grad_(True)
    last: dict[str, float] = {}

    def losses() -> torch.Tensor:
        feats = taps(x)
        lc = sum(F.mse_loss(feats[n], target_c[n]) for n in cfg.content_layers)
        ls = sum(w * F.mse_loss(gram(feats[n]), target_g[n])
                 for w, n in zip(lw, cfg.style_layers))
        total = cfg.content_weight * lc + cfg.style_weight * ls
        last.update(loss=total.item(), content=float(lc.detach()), style=float(ls.detach()))
        return total

    if cfg.optimizer == "lbfgs":
        # a line search keeps L-BFGS from overshooting in pixel space (without one the
        # image turns to clamped noise)
        opt: torch.optim.Optimizer = torch.optim.LBFGS([x], lr=cfg.lr, max_iter=1,
                                                       history_size=50,
                                                       line_search_fn="strong_wolfe")
    elif cfg.optimizer == "adam":
        opt = torch.optim.Adam([x], lr=cfg.lr)
    else:
        raise ValueError(f"optimizer must be 'lbfgs' or 'adam', not {cfg.optimizer!r}")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = losses()
        loss.backward()
        return loss

    for it in range(1, cfg.iterations + 1):
        opt.step(closure)
        with torch.no_grad():
            x.clamp_(0, 1)
        if it == cfg.iterations or (cfg.preview_every and it % cfg.preview_every == 0):
            yield GatysStep(it, last.get("loss", float("nan")), last.get("content", 0.0),
                            last.get("style", 0.0), x.detach().clone())


def default_layers(encoder: nn.Sequential) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Gatys' layers when the encoder has them; else every stage's first ReLU for style
    and the deepest stage's first ReLU but one for content (the toy encoders)."""
    names = layer_names(encoder)
    if all(n in names for n in GATYS_STYLE_LAYERS + GATYS_CONTENT_LAYERS):
        return GATYS_STYLE_LAYERS, GATYS_CONTENT_LAYERS
    firsts = sorted((n for n in names if n.startswith("relu") and n.endswith("_1")),
                    key=lambda n: int(n[4:].split("_")[0]))
    if not firsts:
        raise ValueError("encoder has no relu{s}_1 layers to take Gram matrices of")
    content = firsts[-2] if len(firsts) > 1 else firsts[-1]
    return tuple(firsts), (content,)


def taps_for(encoder: nn.Module, style_layers: Sequence[str], content_layers: Sequence[str],
             mean: Sequence[float] | None = None, std: Sequence[float] | None = None
             ) -> FeatureTaps:
    """FeatureTaps over an encoder Sequential (or a ToyVGG: its ``features``)."""
    seq = encoder.features if hasattr(encoder, "features") else encoder
    pre = None
    if mean is not None and std is not None:
        m = torch.tensor(mean).view(1, 3, 1, 1)
        s = torch.tensor(std).view(1, 3, 1, 1)

        def pre(x: torch.Tensor) -> torch.Tensor:
            return (x - m.to(x)) / s.to(x)
    layers = list(dict.fromkeys([*style_layers, *content_layers]))
    return FeatureTaps(seq, layers, pre)


def as_mapping(step: GatysStep) -> Mapping[str, float]:
    return {"loss": step.loss, "content_loss": step.content_loss,
            "style_loss": step.style_loss}
