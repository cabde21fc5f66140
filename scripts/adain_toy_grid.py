"""Before/after grid of a toy AdaIN: first row styles, first column contents.

Held-out toy images (seed 99, not a training seed), rendered fresh, so the picture shows
what the shipped model does on images it never saw. Used for docs/screenshots and the
closing notes; `python scripts/adain_toy_grid.py OUT.png [ENCODER DECODER]`.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from PIL import Image

from studio.adain.model import AdaINModel
from studio.core.images import image_grid
from studio.toyworld.generate import SHAPES, TEXTURES, render


def toy_grid(model: AdaINModel, seed: int = 99, scale: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    contents = [render("shape", "star", None, 64, rng), render("shape", "heart", None, 64, rng),
                render("shape", "cross", None, 64, rng),
                render("scene", "circle", TEXTURES[0], 64, rng),
                render("scene", "square", TEXTURES[1], 64, rng)]
    styles = [render("texture", None, t, 64, rng) for t in TEXTURES[:4]] + \
             [render("scene", SHAPES[2], TEXTURES[3], 64, rng),
              render("scene", SHAPES[9], TEXTURES[7], 64, rng)]
    c = torch.from_numpy(np.stack(contents)).permute(0, 3, 1, 2).float() / 255
    s = torch.from_numpy(np.stack(styles)).permute(0, 3, 1, 2).float() / 255
    cells: list = [np.full_like(contents[0], 255)] + styles
    for i in range(len(contents)):
        out = model.stylize(c[i:i + 1].expand(len(styles), -1, -1, -1), s).clamp(0, 1)
        cells += [contents[i]] + list(out)
    grid = image_grid(cells, ncols=len(styles) + 1, pad=2)
    return np.kron(grid, np.ones((scale, scale, 1), np.uint8))


if __name__ == "__main__":
    out = sys.argv[1]
    model = (AdaINModel.from_files(sys.argv[2], sys.argv[3]) if len(sys.argv) > 3
             else AdaINModel.load_toy())
    Image.fromarray(toy_grid(model.eval())).save(out)
    print(out)
