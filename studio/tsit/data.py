"""Generic TSIT datasets: any two folders, or label maps paired with images.

The official code needs a dataset class per experiment ("How to train on custom
dataset?"); here two layouts cover the tasks:

- **unpaired** (style transfer, multimodal): a content folder and a style folder, or a
  root holding ``trainA``/``trainB`` (``testA``/``testB``) as CycleGAN-style datasets do;
- **paired** (semantic synthesis): a folder of label maps (PNG, one class id per pixel)
  and a folder of images, matched by file stem.

Images are resized to the training size (``preprocess_mode fixed``: bicubic, no crop),
flipped at random (the same flip for content and style, as the official loader draws one
set of params per item) and scaled to [-1, 1]. Unreadable files are reported by name.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from studio.core.images import ImageError, list_images, load_image, quantize, relative_key


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL RGB -> (3, H, W) float in [-1, 1]."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """(3, H, W) tensor in [-1, 1] -> (H, W, 3) uint8 (Studio's one quantisation)."""
    return quantize(t, -1.0, 1.0)


def resolve_unpaired(content: str | Path, style: str | Path | None, phase: str = "train"
                     ) -> tuple[Path, Path]:
    """(content dir, style dir): ``root/{phase}A``/``{phase}B`` when only a root is given."""
    content = Path(content)
    if style is None:
        a, b = content / f"{phase}A", content / f"{phase}B"
        if a.is_dir() and b.is_dir():
            return a, b
        raise FileNotFoundError(f"{content}: give a style folder, or a root with {phase}A/ "
                                f"and {phase}B/ folders")
    return content, Path(style)


def _images(folder: Path, what: str) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: {what} folder does not exist")
    files = list_images(folder, recursive=True)
    if not files:
        raise FileNotFoundError(f"{folder}: no images in the {what} folder")
    return files


def resize(img: Image.Image, hw: tuple[int, int], method=Image.BICUBIC) -> Image.Image:
    h, w = hw
    return img if img.size == (w, h) else img.resize((w, h), method)


@dataclass
class UnpairedFolders(torch.utils.data.Dataset):
    """(content, style) pairs for style transfer / multimodal training.

    ``pairing="fixed"`` is the official loader (sorted lists, the style list doubled, item
    i with item i); ``"random"`` draws the style of each item from the item's own seeded
    RNG (more combinations per epoch on small data; still deterministic).

    ``target_dir`` (not in TSIT) adds, for each content image, the image at the same
    relative path there: the translation it should become (exemplar-paired data such as
    the toy world's silhouette -> textured scene). Content without a target is dropped
    and named in ``unmatched``.
    """

    content_dir: Path
    style_dir: Path
    size_hw: tuple[int, int] = (256, 256)
    pairing: str = "fixed"
    flip: bool = True
    seed: int = 0
    target_dir: Path | None = None

    def __post_init__(self) -> None:
        self.content = _images(Path(self.content_dir), "content")
        self.style = _images(Path(self.style_dir), "style")
        self.target: dict[Path, Path] = {}
        self.unmatched: list[str] = []
        if self.target_dir is not None:
            root, troot = [Path(self.content_dir)], [Path(self.target_dir)]
            by_rel = {relative_key(p, troot): p for p in _images(troot[0], "target")}
            keep = []
            for c in self.content:
                t = by_rel.get(relative_key(c, root))
                if t is None:
                    self.unmatched.append(str(c))
                else:
                    keep.append(c)
                    self.target[c] = t
            if not keep:
                raise FileNotFoundError(f"{self.content_dir} and {self.target_dir}: no "
                                        "content image has a target at the same path")
            self.content = keep
        if self.pairing == "fixed":
            styles = self.style + self.style
            n = min(len(self.content), len(styles))
            self.content, self.style_for = self.content[:n], styles[:n]
        elif self.pairing != "random":
            raise ValueError(f"pairing must be 'fixed' or 'random', got {self.pairing!r}")
        self.epoch = 0
        self.errors: list[str] = []

    def __len__(self) -> int:
        return len(self.content)

    def _rng(self, index: int) -> random.Random:
        return random.Random(f"{self.seed}/{self.epoch}/{index}")

    def item_paths(self, index: int) -> tuple[Path, Path]:
        if self.pairing == "fixed":
            return self.content[index], self.style_for[index]
        return self.content[index], self.style[self._rng(index).randrange(len(self.style))]

    def __getitem__(self, index: int) -> dict:
        cpath, spath = self.item_paths(index)
        flip = self.flip and self._rng(index).random() > 0.5
        out = {}
        paths = [("content", cpath), ("style", spath)]
        if self.target:
            paths.append(("target", self.target[cpath]))
        for key, p in paths:
            img = resize(load_image(p), self.size_hw)
            if flip:
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
            out[key] = to_tensor(img)
        out["cpath"], out["spath"] = str(cpath), str(spath)
        return out


def load_label_map(path: Path, hw: tuple[int, int] | None = None) -> torch.Tensor:
    """A label PNG (mode L/P/I: one class id per pixel) -> (1, H, W) long, nearest-resized."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode not in ("L", "P", "I", "I;16"):
                raise ImageError(path, f"label map must hold one class id per pixel (mode "
                                       f"L, P or I), got mode {im.mode}")
            if hw is not None:
                im = im.resize((hw[1], hw[0]), Image.NEAREST)
            arr = np.asarray(im, dtype=np.int64)
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(path, f"not a readable label map ({exc})") from exc
    return torch.from_numpy(arr.copy())[None]


def one_hot(label: torch.Tensor, label_nc: int, contain_dontcare: bool = False,
            instance: torch.Tensor | None = None) -> torch.Tensor:
    """(N, 1, H, W) ids -> (N, C, H, W) one-hot (+ instance edges), as the official
    ``preprocess_input``; ids >= label_nc count as the 'unknown' class when
    ``contain_dontcare`` (ADE20K), else they are an error."""
    nc = label_nc + (1 if contain_dontcare else 0)
    if int(label.max()) >= nc:
        raise ValueError(f"label id {int(label.max())} >= {nc} classes (label_nc {label_nc})")
    out = torch.zeros(label.shape[0], nc, *label.shape[2:], device=label.device)
    out.scatter_(1, label.long(), 1.0)
    if instance is not None:
        out = torch.cat([out, instance_edges(instance)], dim=1)
    return out


def instance_edges(t: torch.Tensor) -> torch.Tensor:
    """Official ``get_edges``: 1 where a pixel's instance id differs from a neighbour's."""
    edge = torch.zeros_like(t, dtype=torch.bool)
    dx = t[..., :, 1:] != t[..., :, :-1]
    dy = t[..., 1:, :] != t[..., :-1, :]
    edge[..., :, 1:] |= dx
    edge[..., :, :-1] |= dx
    edge[..., 1:, :] |= dy
    edge[..., :-1, :] |= dy
    return edge.float()


@dataclass
class PairedFolders(torch.utils.data.Dataset):
    """(label map, image) pairs for semantic synthesis, matched by file stem."""

    label_dir: Path
    image_dir: Path
    size_hw: tuple[int, int] = (256, 256)
    flip: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        labels = {p.stem: p for p in _images(Path(self.label_dir), "label")}
        images = {p.stem: p for p in _images(Path(self.image_dir), "image")}
        common = sorted(labels.keys() & images.keys())
        if not common:
            raise FileNotFoundError(f"{self.label_dir} and {self.image_dir}: no label map "
                                    "and image share a file name")
        self.pairs = [(labels[k], images[k]) for k in common]
        self.unmatched = sorted(labels.keys() ^ images.keys())
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        lpath, ipath = self.pairs[index]
        flip = self.flip and random.Random(f"{self.seed}/{self.epoch}/{index}").random() > 0.5
        label = load_label_map(lpath, self.size_hw)
        img = resize(load_image(ipath), self.size_hw)
        if flip:
            label = label.flip(-1)
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        return {"label": label, "image": to_tensor(img), "cpath": str(lpath),
                "spath": str(ipath)}
