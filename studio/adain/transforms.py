"""Image preprocessing exactly as pytorch-AdaIN's ``test.py`` / ``train.py`` do it.

``test_transform(size, crop)``: ``transforms.Resize(size)`` (shorter side to ``size``,
bilinear with antialiasing on PIL images), optional ``CenterCrop(size)``, ``ToTensor()``;
``size == 0`` keeps the image as it is. Images are decoded by the foundation's
:func:`~studio.core.images.load_image`, so grayscale, RGBA (on white), CMYK and 16-bit
files work where the port's bare ``Image.open`` crashes.

The three steps are written here on PIL and torch directly, with torchvision's size
arithmetic, instead of importing ``torchvision.transforms``: that import pulls in
``torch._dynamo`` and costs ~2 s of every ``studio stylize`` start-up. The results are the
same bits (the tests compare them with torchvision on odd sizes, crops and padding).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image, ImageOps

from studio.core.guards import ImageBudget, shorter_side_to
from studio.core.images import ImageError, load_image, quantize


def resized_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(w, h) after ``Resize(size)``: the shorter side becomes ``size``, the longer one
    ``int(size * long / short)`` (torchvision's arithmetic, truncating)."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def resize_shorter(img: Image.Image, size: int) -> Image.Image:
    """``transforms.Resize(size)`` on a PIL image: bilinear (PIL antialiases), and the
    image itself when it already has that size."""
    w, h = resized_size(*img.size, size)
    if (w, h) == img.size:
        return img
    return img.resize((w, h), Image.Resampling.BILINEAR)


def center_crop(img: Image.Image, height: int, width: int | None = None) -> Image.Image:
    """``transforms.CenterCrop`` on a PIL image: zero padding where the image is smaller
    than the crop, offsets rounded as torchvision rounds them."""
    width = height if width is None else width
    w, h = img.size
    if width > w or height > h:
        pad = ((width - w) // 2 if width > w else 0, (height - h) // 2 if height > h else 0,
               (width - w + 1) // 2 if width > w else 0,
               (height - h + 1) // 2 if height > h else 0)
        img = ImageOps.expand(img, border=pad, fill=(0,) * len(img.getbands()))
        w, h = img.size
        if (w, h) == (width, height):
            return img
    top, left = int(round((h - height) / 2.0)), int(round((w - width) / 2.0))
    return img.crop((left, top, left + width, top + height))


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """``transforms.ToTensor()`` of an 8-bit RGB or L image: (C, H, W) float32 / 255."""
    arr = np.array(img, np.uint8, copy=True)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous().to(torch.float32).div(255)


def test_transform(size: int = 512, crop: bool = False) -> Callable[[Image.Image], torch.Tensor]:
    """Resize shorter side (0 = keep), optional centre crop, to a [0, 1] tensor."""

    def apply(img: Image.Image) -> torch.Tensor:
        if size != 0:
            img = resize_shorter(img, size)
        if crop:
            img = center_crop(img, size)
        return pil_to_tensor(img)

    return apply


def train_transform(resize: int = 512, crop: int = 256) -> Callable:
    """train.py: resize to resize x resize (aspect NOT kept), random crop, to tensor."""
    from torchvision import transforms  # noqa: PLC0415 (heavy: loaded when used)

    return transforms.Compose([transforms.Resize((resize, resize)),
                               transforms.RandomCrop(crop), transforms.ToTensor()])


def load_tensor(path: str | os.PathLike, size: int = 512, crop: bool = False,
                budget: ImageBudget | None = None) -> torch.Tensor:
    """A (3, H, W) float tensor in [0, 1] of an image file, preprocessed as test.py does.

    With ``budget``, an image whose resize (and the network at that size) would not fit in
    memory — a 1x3000 strip at size 512 becomes 512 x 1,536,000 px — is refused with an
    :class:`ImageError` naming it and its size, before anything is allocated."""
    img = load_image(path)
    if budget is not None:
        target = shorter_side_to(*img.size, size)
        why = budget.reason(img.size, target, (size, size) if crop and size else None)
        if why:
            raise ImageError(path, why)
    return test_transform(size, crop)(img)


def prepare(image: Image.Image | np.ndarray | torch.Tensor, size: int = 0,
            crop: bool = False) -> torch.Tensor:
    """A PIL image, HWC uint8 array or CHW [0, 1] tensor -> preprocessed (3, H, W) tensor."""
    if isinstance(image, torch.Tensor):
        image = Image.fromarray(quantize(image))
    elif isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    return test_transform(size, crop)(image.convert("RGB"))


#: (N, 3, H, W) or (3, H, W) network output -> uint8 HWC arrays, quantised like
#: torchvision's ``save_image`` (x255, +0.5, clamp, truncate): Studio's one rule.
to_uint8 = quantize
