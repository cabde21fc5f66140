"""Is this image from the toy world? The warning shown when a toy model meets a real image.

The toy models (toy AdaIN, toy TSIT, the toy teacher) were trained on 64 px procedural
pictures: a few flat palette colours, a plain background. On a photograph they do not
fail loudly — the toy AdaIN returns a flat grey image — so the user is told, once per job,
which toy model ran and how to install the official weights.

Two cheap checks, either of which marks an image as foreign:

- **size**: the toy world is drawn at 32–128 px; anything with a side above
  :data:`MAX_TOY_SIDE` is not from it;
- **colour statistics**: a toy picture is made of a handful of flat colours, so the
  :data:`TOP_COLOURS` most frequent colours (4 bits per channel) cover most of its pixels
  (≥ 0.79 on every toy image we draw, 32–128 px); a photograph spreads over
  hundreds (matplotlib's grace_hopper.jpg: 0.46, also at 64 px).

Torch-free: used by the CLI and the window as well as the engines.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from studio.core.images import ImageError, load_image

#: Largest side (px) of a toy-world image (`studio toyworld generate --size` allows 32–128).
MAX_TOY_SIDE = 128
#: How many colour bins the flat-colour statistic counts.
TOP_COLOURS = 8
#: Below this share of pixels in the top colour bins an image is not a toy picture.
MIN_TOP_SHARE = 0.6

#: What to run to get the real model, per toy model (shown in the warning).
OFFICIAL = {
    "toy AdaIN": ("studio models import vgg_normalised.pth decoder.pth",
                  "the official pytorch-AdaIN weights"),
    "toy TSIT": ("studio models import latest_net_G.pth --name tsit-summer2winter",
                 "an official TSIT checkpoint"),
    "toy teacher": ("studio models import cifar10_resnet34.pth",
                    "a real teacher (e.g. a CIFAR-10 ResNet-34)"),
}


def top_colour_share(rgb: np.ndarray, top: int = TOP_COLOURS) -> float:
    """Share of pixels in the ``top`` most frequent colours at 4 bits per channel."""
    a = np.asarray(rgb)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    a = a[..., :3]
    if a.dtype != np.uint8:
        a = np.clip(np.round(a.astype(np.float32) * (255.0 if a.max() <= 1.0 else 1.0)),
                    0, 255).astype(np.uint8)
    q = (a >> 4).astype(np.int32)
    codes = (q[..., 0] << 8) | (q[..., 1] << 4) | q[..., 2]
    counts = np.bincount(codes.ravel(), minlength=4096)
    return float(np.sort(counts)[::-1][:top].sum() / max(1, codes.size))


def toy_mismatch(rgb: Any) -> str | None:
    """Why ``rgb`` (H, W, 3 uint8, or floats in [0, 1]) is not a toy-world image, else None."""
    a = np.asarray(rgb)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3, 4):
        a = np.transpose(a, (1, 2, 0))  # CHW -> HWC
    h, w = a.shape[:2]
    if max(h, w) > MAX_TOY_SIDE:
        return f"{w}x{h} px (toy-world images are 32-{MAX_TOY_SIDE} px)"
    share = top_colour_share(a)
    if share < MIN_TOP_SHARE:
        return (f"its colours are not the toy world's flat palette (the {TOP_COLOURS} most "
                f"frequent colours cover {share:.0%} of it; toy images ~80% or more)")
    return None


def toy_warning(model: str, reason: str, source: str = "") -> str:
    """The one warning line: which toy model ran on what, and how to install the real one."""
    cmd, what = OFFICIAL.get(model, ("studio models import <files>", "the official weights"))
    on = f"{source}: " if source else ""
    return (f"{on}{reason}; the {model} (trained on 64 px toy shapes, the embedded default) "
            f"was applied to it and its output will not mean much: install {what} with "
            f"`{cmd}`")


def first_foreign(paths: Any, limit: int = 8) -> tuple[str, str] | None:
    """(path, reason) of the first of up to ``limit`` image files that is not a toy picture.

    Unreadable files are skipped here: the job reports them as it always does.
    """
    for path in list(paths)[:limit]:
        try:
            img = np.asarray(load_image(path))
        except (ImageError, OSError):
            continue
        reason = toy_mismatch(img)
        if reason:
            return str(path), reason
    return None


def warn_if_foreign(model: str, paths: Any, limit: int = 8) -> str | None:
    """The warning line when a toy ``model`` is about to run on non-toy files, else None."""
    hit = first_foreign(paths, limit)
    return toy_warning(model, hit[1], hit[0]) if hit else None


__all__ = ["toy_mismatch", "first_foreign", "warn_if_foreign", "toy_warning", "top_colour_share", "MAX_TOY_SIDE", "OFFICIAL"]
