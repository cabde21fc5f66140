"""TSIT two-stream image-to-image translation (Jiang et al., ECCV 2020).

Public API for scripting::

    from studio.tsit import load_generator
    g = load_generator("checkpoints/ast_summer2winteryosemite/latest_net_G.pth",
                       task="summer2winter")           # eval(), CPU by default
    noise = g.sample_noise(content, torch.Generator().manual_seed(0))
    out = g(content, style, noise=noise)              # [-1, 1]; same noise, same result

:class:`studio.tsit.translate.Translator` adds loading images, any input size and seeds;
:func:`studio.tsit.fast.make_fast` is the fused inference path.
"""

from typing import Any

_LAZY = ("PRESETS", "TSITConfig", "TSITGenerator", "build_generator", "get_preset",
         "load_encoder", "load_generator")


def __getattr__(name: str) -> Any:
    """The model API, imported on first use (naming the package costs no torch import)."""
    if name in _LAZY:
        from studio.tsit import model

        return getattr(model, name)
    raise AttributeError(f"module 'studio.tsit' has no attribute {name!r}")


__all__ = list(_LAZY)
