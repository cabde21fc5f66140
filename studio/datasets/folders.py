"""Reading input datasets: ImageFolder trees, with or without split folders.

Every builder starts from :func:`scan_image_folder`, which returns a sorted, stable list
of samples (the order all seeds and shards are derived from) plus a report of what was
skipped and why — non-image files, empty class folders — instead of crashing on them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from studio.core.images import is_image_file

#: Split folder names recognised at the top of a dataset (HF and ImageNet conventions).
SPLIT_NAMES = ("train", "val", "validation", "test")


class UnsafePathError(ValueError):
    """A class or file name would place an output outside the output folder."""


def safe_relpath(rel: str) -> str:
    """Validate a relative POSIX path built from input names; refuse escapes.

    Class and file names come from users' folders and from manifests; ``..``, absolute
    paths, drive letters or backslashes must never turn into a path outside the output.
    """
    if not rel or "\x00" in rel or "\\" in rel:
        raise UnsafePathError(f"unsafe output path {rel!r}")
    p = PurePosixPath(rel)
    if p.is_absolute() or any(part in ("", ".", "..") for part in p.parts) or ":" in p.parts[0]:
        raise UnsafePathError(f"unsafe output path {rel!r}")
    return str(p)


def resolve_inside(root: str | os.PathLike, rel: str) -> Path:
    """``root / rel`` after :func:`safe_relpath`, checked to stay under ``root``."""
    root = Path(root).resolve()
    out = (root / safe_relpath(rel)).resolve()
    if root != out and root not in out.parents:
        raise UnsafePathError(f"{rel!r} resolves outside {root}")
    return out


@dataclass(frozen=True)
class Sample:
    """One input image: where it is, and where its output goes (relative, no extension)."""

    path: Path
    rel: str            # e.g. "train/n01440764/img_001.JPEG"
    split: str | None   # "train", "val", ... or None
    class_name: str
    label: int

    @property
    def stem_rel(self) -> str:
        """Relative output path without extension (the stable key of this sample)."""
        return str(PurePosixPath(self.rel).with_suffix(""))


@dataclass
class FolderScan:
    root: Path
    classes: list[str]
    samples: list[Sample]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def scan_image_folder(root: str | os.PathLike, *, splits: bool | None = None) -> FolderScan:
    """List an ImageFolder dataset in sorted order.

    ``root/<class>/<file>`` or, when ``root`` holds split folders (train/, val/, ...),
    ``root/<split>/<class>/<file>``; classes are the sorted union over splits so labels
    match torchvision's ``class_to_idx``. ``splits=None`` detects the layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: dataset folder does not exist")
    top = _class_dirs(root)
    if splits is None:
        splits = bool(top) and all(d.name in SPLIT_NAMES for d in top)
    groups = [(d.name, d) for d in top] if splits else [(None, root)]
    class_names: set[str] = set()
    per_group: list[tuple[str | None, Path, list[Path]]] = []
    for split, folder in groups:
        dirs = _class_dirs(folder)
        class_names.update(d.name for d in dirs)
        per_group.append((split, folder, dirs))
    classes = sorted(class_names)
    idx = {c: i for i, c in enumerate(classes)}
    samples: list[Sample] = []
    skipped: list[tuple[str, str]] = []
    for split, _folder, dirs in per_group:
        for d in dirs:
            files = sorted(p for p in d.rglob("*") if p.is_file() and not p.name.startswith("."))
            images = [p for p in files if is_image_file(p)]
            for p in files:
                if not is_image_file(p):
                    skipped.append((str(p), "not an image file (extension)"))
            if not images:
                skipped.append((str(d), "empty class folder (no image files)"))
            for p in images:
                rel = p.relative_to(root).as_posix()
                samples.append(Sample(p, rel, split, d.name, idx[d.name]))
    if not samples and not skipped:
        loose = [p for p in root.iterdir() if p.is_file() and is_image_file(p)]
        hint = (" (images found directly in the folder: an ImageFolder needs one "
                "subfolder per class)" if loose else "")
        raise ValueError(f"{root}: no class folders with images{hint}")
    return FolderScan(root, classes, samples, skipped)
