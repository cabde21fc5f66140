"""Reading labelled image sets into tensors for distillation, pruning and quality reports.

Labels are matched *by class name* to the teacher's classes: an ImageFolder sorts its
folders alphabetically while the toy world and CIFAR order classes otherwise, and a
silent off-by-permutation would make every accuracy meaningless.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from studio.core.images import ImageError, load_image
from studio.datasets.folders import scan_image_folder


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
    """An ImageFolder (optionally one split of it) or a Studio WebDataset folder."""
    root = Path(root)
    if (root / "shards").is_dir():
        return _load_shards(root, class_names, size, limit)
    folder = root / split if split and (root / split).is_dir() else root
    scan = scan_image_folder(folder, splits=False)
    lmap = _label_map(scan.classes, class_names, root)
    samples = scan.samples
    if limit is not None and len(samples) > limit:
        step = len(samples) / limit  # spread over classes (samples are sorted by class)
        samples = [samples[int(i * step)] for i in range(limit)]
    arrays, labels, skipped = [], [], list(scan.skipped)
    for s in samples:
        try:
            arrays.append(_resize(load_image(s.path), size))
        except ImageError as exc:
            skipped.append((str(s.path), str(exc)))
            continue
        labels.append(lmap[s.class_name])
    if not arrays:
        raise ValueError(f"{folder}: no readable images")
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return LabelledImages(x, torch.tensor(labels, dtype=torch.long), root, skipped)


def _load_shards(root: Path, class_names, size, limit) -> LabelledImages:
    info = json.loads((root / "dataset.json").read_text()) if (root / "dataset.json").is_file() \
        else {}
    ds_classes = info.get("classes") or []
    lmap = _label_map(ds_classes, class_names, root) if ds_classes else {}
    arrays, labels, skipped = [], [], []
    for tar_path in sorted((root / "shards").glob("*.tar")):
        with tarfile.open(tar_path) as tf:
            members = {m.name: m for m in tf.getmembers()}
            for name in sorted(members):
                if not name.endswith(".png"):
                    continue
                key = name[:-4]
                try:
                    img = Image.open(io.BytesIO(tf.extractfile(members[name]).read()))
                    arr = _resize(img.convert("RGB"), size)
                    lab = int(tf.extractfile(members[key + ".cls"]).read())
                except (OSError, KeyError, ValueError) as exc:
                    skipped.append((f"{tar_path}:{name}", str(exc)))
                    continue
                if ds_classes:
                    lab = lmap[ds_classes[lab]]
                arrays.append(arr)
                labels.append(lab)
                if limit is not None and len(labels) >= limit:
                    break
    if not arrays:
        raise ValueError(f"{root}: no readable images in shards/")
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
