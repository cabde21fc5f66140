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

from studio.core.images import load_image


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
        image = Image.fromarray(
            image.detach().cpu().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy())
    elif isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    return test_transform(size, crop)(image.convert("RGB"))


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) or (3, H, W) network output -> uint8 HWC arrays, quantised like
    torchvision's ``save_image`` (clamp to [0, 1], x255, +0.5, truncate)."""
    x = images.detach().float().cpu()
    squeeze = x.dim() == 3
    if squeeze:
        x = x.unsqueeze(0)
    arr = x.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return arr[0] if squeeze else arr
