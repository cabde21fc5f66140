"""AdaIN arbitrary style transfer (Huang & Belongie, ICCV 2017), faithful to pytorch-AdaIN.

Public API (what the dataset builders, the cue-conflict builder and the GUI build on)::

    from studio.adain import AdaINModel, StyleStats, load_default, load_tensor

    model = AdaINModel.load_official("vgg_normalised.pth", "decoder.pth")  # strict keys
    model = AdaINModel.load_toy()        # resources/toy/adain_{encoder,decoder}.pth
    model = load_default()               # official if installed, else the toy one
    model.to(device)

    c = load_tensor("content.jpg", size=512, crop=False)[None]   # (1, 3, H, W) in [0, 1]
    s = load_tensor("style.jpg", size=512)[None]

    out = model.stylize(c, s, alpha=1.0)             # (N, 3, H, W), NOT clamped
    # the cacheable pieces, for speed:
    stats = model.style_stats(s)        # StyleStats(mean, std) (N, C, 1, 1): cache per style
    feats = model.encode_content(c)     # relu4_1 features: cache per content
    t = model.target(feats, stats, alpha=0.5)   # AdaIN + alpha blend (cheap)
    out = model.decode(t)               # decoder only: the GUI alpha slider re-runs this
    # interpolation / spatial control / colour:
    model.stylize(c, [s1, s2], weights=[0.3, 0.7])                 # floats, normalised
    model.stylize(c, [s1, s2], masks=torch.stack([m, 1 - m]))      # (K, H, W) masks
    model.stylize(c, s, preserve_color="coral")   # or "luminance" (the paper's variant)
    images = to_uint8(out)              # (N, H, W, 3) uint8, quantised like save_image

A ``StyleStats`` with one entry is broadcast over a content batch; ``stylize`` accepts
images or ``StyleStats`` (colour preservation needs images). Everything runs under
``torch.inference_mode`` in ``stylize``; call ``encode``/``decode`` inside your own
``torch.inference_mode()``. Jobs: ``adain.stylize`` (directory runs, `studio stylize`)
and ``adain.train`` (`studio train adain`); ``studio bench adain`` measures speed.

Modules: ``model`` (networks as data, config, loaders), ``ops`` (calc_mean_std, adain,
coral, masks, interpolation, luminance), ``transforms`` (test.py preprocessing),
``toy`` (encoder derived from the toy classifier), ``stylize``, ``train``, ``bench``.
"""

from __future__ import annotations

import importlib
from typing import Any

#: What the package exports, and where it lives: imported on first use, so that naming
#: the package (the CLI's parser, recipes) costs no torch import.
_EXPORTS = {
    "OFFICIAL": "studio.adain.model", "TOY": "studio.adain.model",
    "AdaINConfig": "studio.adain.model", "AdaINModel": "studio.adain.model",
    "decoder": "studio.adain.model", "vgg_normalised": "studio.adain.model",
    "StyleStats": "studio.adain.ops", "adain": "studio.adain.ops",
    "adain_target": "studio.adain.ops", "calc_mean_std": "studio.adain.ops",
    "coral": "studio.adain.ops",
    "load_tensor": "studio.adain.transforms", "prepare": "studio.adain.transforms",
    "test_transform": "studio.adain.transforms", "to_uint8": "studio.adain.transforms",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'studio.adain' has no attribute {name!r}")


def load_default(vgg: str | None = None, decoder_path: str | None = None) -> Any:
    """The official AdaIN when its two files are given or installed, else the toy AdaIN."""
    from studio.adain.model import AdaINModel
    from studio.core.checkpoints import CheckpointError, find_model

    if vgg or decoder_path:
        return AdaINModel.load_official(find_model(vgg or "adain-vgg"),
                                        find_model(decoder_path or "adain-decoder"))
    try:
        vgg_path, dec_path = find_model("adain-vgg"), find_model("adain-decoder")
    except CheckpointError:  # not installed: the embedded default
        return AdaINModel.load_toy()
    return AdaINModel.load_official(vgg_path, dec_path)  # installed but broken -> error


__all__ = [
    "AdaINModel", "AdaINConfig", "StyleStats", "OFFICIAL", "TOY", "load_default",
    "load_tensor", "prepare", "test_transform", "to_uint8", "adain", "adain_target",
    "calc_mean_std", "coral", "vgg_normalised", "decoder",
]
