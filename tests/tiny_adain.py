"""A tiny AdaIN (random, decoder spread over [0, 1]) and random pictures, shared by the
stylized-builder and output-contract tests; one thread, so bytes compare exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio.adain.model import AdaINConfig, AdaINModel
from studio.texture_shape.stylized import StyleNet

ROOT = Path(__file__).resolve().parents[1]
TINY = AdaINConfig("tiny", encoder_widths=(4, 8, 8, 16), encoder_convs=(1, 1, 1, 1))
S = 32  # crop size used throughout


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def net() -> StyleNet:
    torch.manual_seed(0)
    model = AdaINModel(TINY)
    for m in model.decoder.modules():  # a random decoder outputs ~0; spread it over [0, 1]
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.normal_(m.weight, 0, 0.3)
    return StyleNet.from_model(model, "tiny")


def picture(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
