"""Reading labelled image sets into tensors for distillation, pruning and quality reports.

Labels are matched *by class name* to the teacher's classes: an ImageFolder sorts its
folders alphabetically while the toy world and CIFAR order classes otherwise, and a
silent off-by-permutation would make every accuracy meaningless.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from studio.core.images import ImageError
from studio.datasets.readers import read_source


class LabelledImages:
    """Images as a uint8 tensor (N, 3, H, W), labels in the teacher's class order."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, root: Path,
                 skipped: list[tuple[str, str]]):
        self.images, self.labels, self.root, self.skipped = images, labels, root, skipped

    def __len__(self) -> int:
        return len(self.labels)

    def float01(self, idx: torch.Tensor | slice | None = None) -> torch.Tensor:
        x = self.images if idx is None else self.images[idx]
        return x.float().div_(255.0)


def _resize(img: Image.Image, size: int | None) -> np.ndarray:
    if size and img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def _label_map(folder_classes: list[str], class_names: tuple[str, ...] | list[str],
               root: Path) -> dict[str, int]:
    names = list(class_names)
    if names and all(c in names for c in folder_classes):
        return {c: names.index(c) for c in folder_classes}
    info = root / "dataset.json"
    if info.is_file():
        c2i = json.loads(info.read_text()).get("class_to_idx") or {}
        if all(c in c2i for c in folder_classes):
            return {c: int(c2i[c]) for c in folder_classes}
    return {c: i for i, c in enumerate(sorted(folder_classes))}


def load_labelled(root: str | Path, class_names: tuple[str, ...] | list[str] = (),
                  size: int | None = None, split: str | None = None, limit: int | None = None
                  ) -> LabelledImages:
    """An ImageFolder (optionally one split of it), Studio's WebDataset shards or a
    manifest, read by the one dataset reader (:func:`studio.datasets.readers.read_source`)."""
    root = Path(root)
    folder = root / split if split and (root / split).is_dir() else root
    src = read_source(folder)
    items = src.items
    if split and folder == root and any(it.split == split for it in items):
        items = [it for it in items if it.split == split]
    lmap = _label_map(src.classes, class_names, root)
    if limit is not None and len(items) > limit:
        step = len(items) / limit  # spread over classes (items are sorted by class)
        items = [items[int(i * step)] for i in range(limit)]
    arrays, labels, skipped = [], [], list(src.skipped)
    for it in items:
        try:
            arrays.append(_resize(it.load(), size))
        except ImageError as exc:
            skipped.append((str(it.path), str(exc)))
            continue
        labels.append(lmap[it.class_name])
    if not arrays:
        raise ValueError(f"{folder}: no readable images")
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return LabelledImages(x, torch.tensor(labels, dtype=torch.long), root, skipped)


def batched_logits(model: torch.nn.Module, normalize, data: LabelledImages,
                   device: torch.device, batch_size: int = 256) -> torch.Tensor:
    """Eval-mode logits of a model over a whole set (CPU tensor)."""
    was = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(data), batch_size):
            x = normalize(data.float01(slice(i, i + batch_size)).to(device))
            out.append(model(x).float().cpu())
    model.train(was)
    return torch.cat(out)


def accuracy(model: torch.nn.Module, normalize, data: LabelledImages, device: torch.device,
             batch_size: int = 256) -> float:
    """Top-1 accuracy in [0, 1]."""
    logits = batched_logits(model, normalize, data, device, batch_size)
    return float((logits.argmax(1) == data.labels).float().mean())


__all__ = ["LabelledImages", "load_labelled", "batched_logits", "accuracy"]
