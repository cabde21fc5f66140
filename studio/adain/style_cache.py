"""Style statistics cached: in memory for a run (:class:`studio.core.memo.Memo`, what
``studio stylize``, cue-conflict stimuli and the Stylize page's live preview keep), and on
disk across runs for dataset builds (:class:`StyleStatsCache`): the relu4_1 mean and std
of every style image.

AdaIN needs nothing else from a style (``StyleStats``), so a style set is encoded once —
a third of the FLOPs of a Stylized-ImageNet build — and every later build, rank or resume
reads a few KB per style instead. Rejected styles (unreadable, too small) are remembered
too, with their reason, so they are not decoded again.

Layout: ``<root>/<fingerprint>/chunk-<hash>.npz`` (``keys``, ``mean``, ``std``,
``rejected_keys``, ``rejected_reasons``; plain arrays, no pickle) plus ``info.json``.
The fingerprint covers everything the numbers depend on: the encoder's weights, the style
preparation (size, minimum size, crop) and the device type. A style's key is its path,
size and modification time (the ``make`` rule), so an edited file is recomputed. Chunks
are written atomically and only added, never rewritten, so concurrent ranks and killed
runs cannot corrupt the cache.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from studio.core.images import atomic_write
from studio.core.paths import cache_dir


def default_cache_root() -> Path:
    """``$STUDIO_CACHE/style-stats`` or ``~/.cache/studio/style-stats`` (a temporary
    folder, with a warning, when the home folder is missing or read-only)."""
    env = os.environ.get("STUDIO_CACHE")
    base = Path(env) if env else cache_dir("studio", what="style statistics",
                                           env="STUDIO_CACHE")
    return base / "style-stats"


def style_key(path: str | os.PathLike) -> str:
    """Identity of a style file: resolved path, size and mtime (cheap, changes on edit)."""
    p = Path(path).resolve()
    st = p.stat()
    return f"{p}|{st.st_size}|{st.st_mtime_ns}"


def fingerprint(info: dict[str, Any]) -> str:
    """Stable hash of what the statistics depend on (encoder hash, preparation, device)."""
    text = json.dumps(info, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class StyleStatsCache:
    """Statistics per style key, for one fingerprint. ``root=None`` keeps them in memory."""

    def __init__(self, root: str | os.PathLike | None, info: dict[str, Any]):
        self.info = dict(info)
        self.fingerprint = fingerprint(self.info)
        self.dir = Path(root) / self.fingerprint if root is not None else None
        self.stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.rejected: dict[str, str] = {}
        self.reload()

    # -- reading -----------------------------------------------------------------------
    def reload(self) -> None:
        """Read every chunk on disk (other ranks or earlier runs may have added some)."""
        if self.dir is None or not self.dir.is_dir():
            return
        for f in sorted(self.dir.glob("chunk-*.npz")):
            try:
                with np.load(f, allow_pickle=False) as z:
                    keys, mean, std = z["keys"], z["mean"], z["std"]
                    rkeys, reasons = z["rejected_keys"], z["rejected_reasons"]
            except (OSError, ValueError, KeyError):
                continue  # unreadable chunk: its styles are simply computed again
            for i, k in enumerate(keys.tolist()):
                self.stats[k] = (mean[i], std[i])
            for k, r in zip(rkeys.tolist(), reasons.tolist()):
                self.rejected[k] = r

    def __contains__(self, key: str) -> bool:
        return key in self.stats or key in self.rejected

    def __len__(self) -> int:
        return len(self.stats)

    def missing(self, keys: list[str]) -> list[str]:
        return [k for k in keys if k not in self]

    def gather(self, keys: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std) as (N, C, 1, 1) float32 tensors, in the order of ``keys``."""
        mean = np.stack([self.stats[k][0] for k in keys])
        std = np.stack([self.stats[k][1] for k in keys])
        return (torch.from_numpy(mean)[:, :, None, None],
                torch.from_numpy(std)[:, :, None, None])

    # -- writing -----------------------------------------------------------------------
    def add(self, keys: list[str], mean: np.ndarray | torch.Tensor,
            std: np.ndarray | torch.Tensor, rejected: dict[str, str] | None = None) -> None:
        """Store statistics (N, C) or (N, C, 1, 1) of ``keys`` and rejections; one chunk."""
        rejected = rejected or {}
        if not keys and not rejected:
            return
        mean = _as_matrix(mean, len(keys))
        std = _as_matrix(std, len(keys))
        for i, k in enumerate(keys):
            self.stats[k] = (mean[i], std[i])
        self.rejected.update(rejected)
        if self.dir is None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        info_path = self.dir / "info.json"
        if not info_path.exists():
            with atomic_write(info_path) as fh:
                fh.write(json.dumps(self.info, indent=2, sort_keys=True, default=str).encode())
        rkeys = sorted(rejected)
        arrays = {
            "keys": np.array(keys, dtype=str), "mean": mean, "std": std,
            "rejected_keys": np.array(rkeys, dtype=str),
            "rejected_reasons": np.array([rejected[k] for k in rkeys], dtype=str),
        }
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        data = buf.getvalue()
        name = hashlib.sha256("\n".join(keys + rkeys).encode("utf-8")).hexdigest()[:20]
        with atomic_write(self.dir / f"chunk-{name}.npz", fsync=False) as fh:
            fh.write(data)


def _as_matrix(x: np.ndarray | torch.Tensor, n: int) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    x = np.asarray(x, dtype=np.float32)
    if n == 0:
        return np.zeros((0, x.shape[1] if x.ndim > 1 else 0), np.float32)
    return np.ascontiguousarray(x.reshape(n, -1))


__all__ = ["StyleStatsCache", "default_cache_root", "style_key", "fingerprint"]
