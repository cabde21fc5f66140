"""A tiny three-colour world and a teacher trained on it, for distillation and pruning tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from studio.inversion.data import load_labelled
from studio.models.teachers import DataPreset, Teacher, teacher_from_model
from studio.toyworld.models import ToyVGG, ToyVGGConfig

PRESET = DataPreset("tiny", 16, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 3, ("red", "green", "blue"))
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (40, 50, 230)}


def colour_folder(root, per_class, seed):
    """Flat colour images with noise, one folder per class."""
    rng = np.random.default_rng(seed)
    for name, rgb in COLOURS.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            arr = np.clip(np.array(rgb) + rng.normal(0, 25, (16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(root / name / f"{i:03d}.png")
    return root


def colour_teacher(root: Path) -> Teacher:
    """A tiny teacher trained for a few steps to tell the colours apart (data under root)."""
    torch.manual_seed(0)
    net = ToyVGG(ToyVGGConfig(widths=(4, 6, 8, 8), convs=(1, 1, 1, 1), num_classes=3))
    t = teacher_from_model(net, "toyvgg", PRESET)
    data = load_labelled(colour_folder(root, 10, 1), t.class_names, 16)
    for p in net.parameters():
        p.requires_grad_(True)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(net(t.normalize(data.float01())), data.labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return teacher_from_model(net, "toyvgg", PRESET)
