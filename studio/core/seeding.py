"""Seeds that depend only on what an item *is*, never on when or where it runs.

Builders derive each item's seed from the global seed and a stable key (a file's
relative path, a batch index), so results do not change with worker count, batch size,
sharding or resume points.
"""

from __future__ import annotations

import hashlib
import random
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch and numpy are imported where used: derive_seed alone is cheap
    import torch


def derive_seed(global_seed: int, *keys: object) -> int:
    """A 63-bit seed from the global seed and any stable keys (SHA-256 based)."""
    text = "\x1f".join([str(int(global_seed)), *map(str, keys)])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") >> 1


def generator(global_seed: int, *keys: object, device: str | torch.device = "cpu"
              ) -> torch.Generator:
    """A torch Generator seeded by :func:`derive_seed`."""
    import torch  # noqa: PLC0415 (heavy: loaded when used)

    g = torch.Generator(device=device)
    g.manual_seed(derive_seed(global_seed, *keys))
    return g


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (for training loops that use global RNGs)."""
    import torch  # noqa: PLC0415 (heavy: loaded when used)

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
