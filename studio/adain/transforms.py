"""Image preprocessing exactly as pytorch-AdaIN's ``test.py`` / ``train.py`` do it.

``test_transform(size, crop)``: ``transforms.Resize(size)`` (shorter side to ``size``,
bilinear with antialiasing on PIL images), optional ``CenterCrop(size)``, ``ToTensor()``;
``size == 0`` keeps the image as it is. Images are decoded by the foundation's
:func:`~studio.core.images.load_image`, so grayscale, RGBA (on white), CMYK and 16-bit
files work where the port's bare ``Image.open`` crashes.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

from studio.core.images import load_image, quantize


def test_transform(size: int = 512, crop: bool = False) -> transforms.Compose:
    """Resize shorter side (0 = keep), optional centre crop, to a [0, 1] tensor."""
    steps: list = []
    if size != 0:
        steps.append(transforms.Resize(size))
    if crop:
        steps.append(transforms.CenterCrop(size))
    steps.append(transforms.ToTensor())
    return transforms.Compose(steps)


def train_transform(resize: int = 512, crop: int = 256) -> transforms.Compose:
    """train.py: resize to resize x resize (aspect NOT kept), random crop, to tensor."""
    return transforms.Compose([transforms.Resize((resize, resize)),
                               transforms.RandomCrop(crop), transforms.ToTensor()])


def load_tensor(path: str | os.PathLike, size: int = 512, crop: bool = False) -> torch.Tensor:
    """A (3, H, W) float tensor in [0, 1] of an image file, preprocessed as test.py does."""
    return test_transform(size, crop)(load_image(path))


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
