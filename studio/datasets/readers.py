"""Reading datasets back: ImageFolder trees, Studio's WebDataset shards and
``manifest.jsonl`` files, as labelled items with one class order.

The one reader beside the writers (:mod:`studio.datasets.writers`): the trainer, the
distillation and pruning data and the quality report all read exports through it, so a
dataset means the same thing everywhere. Torch-free: items decode to PIL images.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from PIL import Image

from studio.core.images import ImageError, load_image
from studio.datasets.folders import SPLIT_NAMES, UnsafePathError, resolve_inside, scan_image_folder


@dataclass(frozen=True)
class Item:
    """One labelled image; ``path`` is a file, or a tar with (offset, size) of a member."""

    path: Path
    class_name: str
    split: str | None
    offset: int = -1
    size: int = 0

    def load(self) -> Image.Image:
        if self.offset < 0:
            return load_image(self.path)
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read(self.size)
        try:
            img = Image.open(io.BytesIO(data))
            img.load()
        except Exception as exc:
            raise ImageError(f"{self.path}@{self.offset}", f"cannot decode image ({exc})"
                             ) from exc
        return img.convert("RGB")


@dataclass
class DataSource:
    """What one dataset path holds: its class order and its labelled items."""

    root: Path
    classes: list[str]
    items: list[Item]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def split(self, names: Sequence[str] | None) -> list[Item]:
        """Items of the given splits; ``None`` = all items."""
        if names is None:
            return list(self.items)
        return [it for it in self.items if it.split in names]

    @property
    def splits(self) -> set[str | None]:
        return {it.split for it in self.items}


def _dataset_classes(folder: Path) -> list[str] | None:
    """The class order a Studio export recorded (``dataset.json``), if any."""
    meta = folder / "dataset.json"
    if meta.is_file():
        try:
            classes = json.loads(meta.read_text("utf-8")).get("classes")
        except (OSError, ValueError):
            return None
        if isinstance(classes, list) and all(isinstance(c, str) for c in classes):
            return list(classes)
    return None


def _split_of(rel: str) -> str | None:
    first = PurePosixPath(rel).parts[0] if rel else ""
    return first if first in SPLIT_NAMES else None


def _read_manifest(path: Path) -> DataSource:
    root = path.parent
    items: list[Item] = []
    names: dict[int, str] = {}
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                rel, label = rec["file_name"], int(rec["label"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: not a manifest record with file_name and "
                                 f"label ({exc})") from None
            if not isinstance(rel, str):
                raise ValueError(f"{path}:{n}: file_name must be a string, got {rel!r}")
            try:
                resolve_inside(root, rel)
            except UnsafePathError:
                raise ValueError(f"{path}:{n}: file_name {rel!r} leaves the dataset folder "
                                 f"{root} (manifest paths must be relative and stay inside "
                                 "it); refusing to read it") from None
            cls = str(rec.get("class", label))
            names[label] = cls
            items.append(Item(root / rel, cls, rec.get("split") or _split_of(rel)))
    classes = _dataset_classes(root) or [names[i] for i in sorted(names)]
    return DataSource(path, classes, items)


def _read_shards(folder: Path) -> DataSource:
    shards = sorted((folder / "shards").glob("*.tar")) if (folder / "shards").is_dir() else \
        sorted(folder.glob("*.tar"))
    items: list[Item] = []
    names: dict[int, str] = {}
    for shard in shards:
        with tarfile.open(shard) as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}
            for name, m in members.items():
                if not name.endswith(".png"):
                    continue
                key = name[:-4]
                rec: dict = {}
                if key + ".json" in members:
                    rec = json.loads(tar.extractfile(members[key + ".json"]).read())
                if "label" in rec:
                    label = int(rec["label"])
                elif key + ".cls" in members:
                    label = int(tar.extractfile(members[key + ".cls"]).read())
                else:
                    raise ValueError(f"{shard}: sample {key!r} has no label (.cls or .json)")
                cls = str(rec.get("class", label))
                names[label] = cls
                split = rec.get("split") or (key.split("__")[0] if key.split("__")[0]
                                             in SPLIT_NAMES else None)
                items.append(Item(shard, cls, split, m.offset_data, m.size))
    if not items:
        raise ValueError(f"{folder}: no WebDataset shards with .png samples")
    classes = _dataset_classes(folder) or [names[i] for i in sorted(names)]
    return DataSource(folder, classes, items)


def read_source(path: str | os.PathLike) -> DataSource:
    """An ImageFolder tree, a folder of WebDataset shards, or a ``manifest.jsonl``."""
    path = Path(path)
    if path.is_file():
        if path.suffix == ".jsonl":
            return _read_manifest(path)
        raise ValueError(f"{path}: expected a dataset folder or a manifest .jsonl file")
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: dataset does not exist")
    if (path / "shards").is_dir() or any(path.glob("*.tar")):
        return _read_shards(path)
    scan = scan_image_folder(path)
    classes = _dataset_classes(path) or scan.classes
    items = [Item(s.path, s.class_name, s.split) for s in scan.samples]
    return DataSource(path, classes, items, list(scan.skipped))
