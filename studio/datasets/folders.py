"""Reading input datasets: ImageFolder trees, with or without split folders.

Every builder starts from :func:`scan_image_folder`, which returns a sorted, stable list
of samples (the order all seeds and shards are derived from) plus a report of what was
skipped and why — non-image files, empty class folders, hidden folders, broken symbolic
links, unreadable folders — instead of crashing on them or dropping them silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from studio.core.errors import NoInputError
from studio.core.guards import NOT_UTF8, is_utf8_name, safe_name
from studio.core.images import is_image_file, walk_images

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


def unusable_name(name: str) -> str | None:
    """Why a class folder or file name cannot name an output (a backslash, a colon, which
    is a drive letter on Windows), else None: such an input is skipped alone instead of
    the whole build being refused at its output path."""
    try:
        safe_relpath(name)
    except UnsafePathError:
        what = "a backslash" if "\\" in name else "a colon" if ":" in name else \
            "a character"
        return f"{name!r} has {what}, which cannot name an output; rename it to use it"
    return None


def _class_dirs(folder: Path, skipped: list[tuple[str, str]]) -> list[Path]:
    """The sub-folders of ``folder``, sorted; hidden folders, broken symbolic links,
    image files lying beside the class folders and folders whose names cannot be written
    (not UTF-8, a backslash) are reported in ``skipped``."""
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    dirs: list[Path] = []
    for e in entries:
        p = folder / e.name
        if not is_utf8_name(e.name):
            skipped.append((safe_name(p), NOT_UTF8))
        elif e.is_symlink() and not os.path.exists(p):
            skipped.append((str(p), "broken symbolic link"))
        elif e.is_dir():
            if e.name.startswith("."):
                skipped.append((str(p), "hidden folder"))
            elif unusable_name(e.name):
                skipped.append((str(p), f"class folder {unusable_name(e.name)}"))
            else:
                dirs.append(p)
        elif is_image_file(e.name) and not e.name.startswith("."):
            skipped.append((str(p), "image file outside the class folders"))
    return dirs


def scan_image_folder(root: str | os.PathLike, *, splits: bool | None = None) -> FolderScan:
    """List an ImageFolder dataset in sorted order.

    ``root/<class>/<file>`` or, when ``root`` holds split folders (train/, val/, ...),
    ``root/<split>/<class>/<file>``; classes are the sorted union over splits so labels
    match torchvision's ``class_to_idx``. ``splits=None`` detects the layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: dataset folder does not exist")
    skipped: list[tuple[str, str]] = []
    top = _class_dirs(root, skipped)  # an unreadable root raises PermissionError
    if splits is None:
        splits = bool(top) and all(d.name in SPLIT_NAMES for d in top)
    class_names: set[str] = set()
    per_group: list[tuple[str | None, Path, list[Path]]] = []
    if splits:
        for d in top:
            try:
                dirs = _class_dirs(d, skipped)
            except PermissionError:
                skipped.append((str(d), "permission denied"))
                continue
            class_names.update(x.name for x in dirs)
            per_group.append((d.name, d, dirs))
    else:
        class_names.update(d.name for d in top)
        per_group.append((None, root, top))
    classes = sorted(class_names)
    idx = {c: i for i, c in enumerate(classes)}
    samples: list[Sample] = []
    for split, _folder, dirs in per_group:
        for d in dirs:
            try:
                images = walk_images(d, recursive=True, skipped=skipped)
            except PermissionError:
                skipped.append((str(d), "permission denied"))
                continue
            if not images:
                skipped.append((str(d), "empty class folder (no image files)"))
            for p in images:
                rel = p.relative_to(root).as_posix()
                why = unusable_name(rel)
                if why:
                    skipped.append((str(p), f"file name {why}"))
                    continue
                samples.append(Sample(p, rel, split, d.name, idx[d.name]))
    if not samples and not any(dirs for _s, _f, dirs in per_group):
        loose = any(reason.startswith("image file outside") for _p, reason in skipped)
        hint = (" (images found directly in the folder: an ImageFolder needs one "
                "subfolder per class)" if loose else "")
        others = [f"{Path(p).name}: {r}" for p, r in skipped
                  if not r.startswith("image file outside")]
        if others:
            hint += "; skipped " + ", ".join(others[:3]) + (
                f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise NoInputError(f"{root}: no class folders with images{hint}")
    return FolderScan(root, classes, samples, skipped)


def distinct_stems(names: list[str]) -> list[str]:
    """Output stems for input names (relative POSIX paths): the name without extension,
    plus the extension where two inputs would share a stem (``a.jpg`` + ``a.png`` ->
    ``a_jpg``, ``a_png``), compared case-insensitively as macOS and Windows do."""
    stems = [str(PurePosixPath(n).with_suffix("")) for n in names]
    count: dict[str, int] = {}
    for st in stems:
        count[st.lower()] = count.get(st.lower(), 0) + 1
    return [f"{st}_{PurePosixPath(n).suffix.lstrip('.').lower()}" if count[st.lower()] > 1
            else st for st, n in zip(stems, names)]
