"""The toy AdaIN's encoder, derived from the toy classifier as vgg_normalised was from VGG-19.

``vgg_normalised.pth`` is VGG-19 with the input preprocessing folded into a 1x1 conv and
every filter rescaled so its mean ReLU activation over images is 1, the next layer's input
weights compensating (Gatys et al. 2016). Without that rescaling a classifier's features
have wildly different scales per channel and AdaIN's decoder collapses to a flat colour
(DESIGN.md, "second probe"). :func:`derive_encoder` does the same to a
:class:`~studio.toyworld.models.ToyVGG`: normalisation into child 0, BatchNorm folded into
each conv, then the per-filter rescaling measured on toy-world images.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from studio.adain.model import AdaINConfig, vgg_encoder
from studio.core.checkpoints import check_state_dict, load_state_dict
from studio.toyworld.generate import ToyWorldParams, draw, plan
from studio.toyworld.models import ToyVGG, ToyVGGConfig
from studio.toyworld.standard import CORRELATION, SIZE


def toy_config_for(classifier: ToyVGGConfig, base: AdaINConfig | None = None) -> AdaINConfig:
    """The AdaIN config whose encoder has the classifier's stages (decoder from ``base``)."""
    from studio.adain.model import TOY  # noqa: PLC0415 (loaded when used)

    base = base or TOY
    if len(classifier.widths) < 4:
        raise ValueError("the toy encoder needs four stages (relu1_1 .. relu4_1)")
    return AdaINConfig(name=base.name, encoder_widths=tuple(classifier.widths),
                       encoder_convs=tuple(classifier.convs),
                       decoder_widths=base.decoder_widths, decoder_convs=base.decoder_convs,
                       layer=base.layer, content_sigma=base.content_sigma)


def load_classifier(path: str | os.PathLike) -> ToyVGG:
    """A ToyVGG state_dict (default config, or the widths/convs read from its shapes)."""
    sd = load_state_dict(path, unwrap=("state_dict", "model"), strip_prefixes=("module.",))
    widths, convs, last = [], [], None
    for k, v in sd.items():
        if k.startswith("features.conv") and k.endswith(".weight"):
            stage = int(k[len("features.conv"):].split("_")[0])
            if stage != last:
                widths.append(v.shape[0])
                convs.append(0)
                last = stage
            convs[-1] += 1
    n_cls = sd["fc.weight"].shape[0] if "fc.weight" in sd else 10
    cfg = ToyVGGConfig(widths=tuple(widths) or ToyVGGConfig().widths,
                       convs=tuple(convs) or ToyVGGConfig().convs, num_classes=n_cls)
    model = ToyVGG(cfg)
    check_state_dict(model, sd, path, "expected a studio.toyworld.models.ToyVGG state_dict "
                     "(resources/toy/teacher.pth)")
    model.load_state_dict(sd)
    return model.eval()


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """BatchNorm (eval) folded into the preceding conv: (weight, bias)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    w = conv.weight * scale.view(-1, 1, 1, 1)
    b = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        b = b + conv.bias * scale
    return w, b


@torch.no_grad()
def derive_encoder(classifier: ToyVGG, images: torch.Tensor, *, normalise: bool = True
                   ) -> nn.Sequential:
    """A ``vgg_normalised``-layout encoder computing the classifier's features.

    ``images``: toy-world RGB images in [0, 1] (N, 3, H, W) on which every filter's mean
    ReLU activation is made 1 (``normalise=False`` keeps the folded scales, for probes).
    Padding becomes reflection, as in vgg_normalised.
    """
    classifier = classifier.eval()
    cfg = classifier.config
    enc = vgg_encoder(cfg.widths, cfg.convs)
    mean = torch.tensor(classifier.mean)
    std = torch.tensor(classifier.std)
    enc[0].weight.copy_(torch.diag(1 / std).view(3, 3, 1, 1))
    enc[0].bias.copy_(-mean / std)
    convs = [m for m in enc if isinstance(m, nn.Conv2d)][1:]
    feats = dict(classifier.features.named_children())
    names = [n for n in feats if n.startswith("conv")]
    if len(names) != len(convs):
        raise ValueError(f"classifier has {len(names)} convs, encoder {len(convs)}")
    for name, conv in zip(names, convs):
        w, b = _fold(feats[name], feats["bn" + name[4:]])
        conv.weight.copy_(w)
        conv.bias.copy_(b)
    if normalise:
        x = images
        i = 0
        for li, conv in enumerate(convs):
            while enc[i] is not conv:  # run up to and including this conv's ReLU
                x = enc[i](x)
                i += 1
            act = enc[i + 1](enc[i](x))
            a = act.mean(dim=(0, 2, 3))
            a = torch.where(a > 1e-8, a, torch.ones_like(a))  # dead filters stay as they are
            conv.weight.div_(a.view(-1, 1, 1, 1))
            conv.bias.div_(a)
            if li + 1 < len(convs):
                convs[li + 1].weight.mul_(a.view(1, -1, 1, 1))
    return enc


def toy_images(n_per_kind: int = 64, *, seed: int = 7) -> torch.Tensor:
    """Scenes, silhouettes and texture patches of the standard toy world (3 n, 3, 64, 64)."""
    out: list[np.ndarray] = []
    for kind in ("scene", "shape", "texture"):
        per_class = max(1, -(-n_per_kind // 10))
        p = ToyWorldParams(Path("unused"), per_class=per_class, size=SIZE, seed=seed,
                           shape_texture_correlation=CORRELATION, kind=kind)
        items = plan(p)[:: max(1, len(plan(p)) // n_per_kind)][:n_per_kind]
        out += [draw(p, it) for it in items]
    arr = np.stack(out).astype(np.float32) / 255.0
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def activation_means(encoder: nn.Sequential, images: torch.Tensor) -> list[torch.Tensor]:
    """Mean ReLU activation per filter of every conv (what normalisation sets to 1)."""
    out, x = [], images
    with torch.no_grad():
        for m in encoder:
            x = m(x)
            if isinstance(m, nn.ReLU):
                out.append(x.mean(dim=(0, 2, 3)))
    return out
