"""Running under `torchrun`: who am I, how many are we, wait for the others.

Builders split work by a deterministic rule on item indices (``index % world == rank``),
so the union of all ranks' outputs is exactly the single-process result.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where it is used: naming this module costs nothing
    import torch


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def owns(self, index: int) -> bool:
        """Whether this rank processes work item ``index``."""
        return index % self.world_size == self.rank


def dist_info() -> DistInfo:
    """Rank and world size from torchrun's environment (1 process when not set)."""
    return DistInfo(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                    int(os.environ.get("LOCAL_RANK", 0)))


def init_distributed() -> DistInfo:
    """Join the process group when launched by torchrun (gloo on CPU, nccl on GPU)."""
    import torch  # noqa: PLC0415 (heavy: loaded when used)
    import torch.distributed as dist  # noqa: PLC0415 (heavy: loaded when used)

    info = dist_info()
    if info.world_size > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend)
    return info


def barrier() -> None:
    """Wait for the other ranks (nothing to wait for when no process group was joined:
    then torch.distributed was never imported, and is not imported here either)."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.barrier()


def local_device(device: torch.device) -> torch.device:
    """Under torchrun each local rank takes its own GPU."""
    import torch  # noqa: PLC0415 (heavy: loaded when used)

    info = dist_info()
    if device.type == "cuda" and info.world_size > 1:
        return torch.device("cuda", info.local_rank % max(1, torch.cuda.device_count()))
    return device
