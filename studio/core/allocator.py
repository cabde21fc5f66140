"""The process's heap policy: large tensors reuse freed memory instead of fresh pages.

glibc serves every allocation above 32 MiB (a batch of activations: 8 x 64 x 224 x 224
floats is 103 MB) with its own ``mmap`` and returns it with ``munmap`` when freed, so each
layer of each batch page-faults its output in again and the kernel zeroes it: 2.4 million
page faults and 5.8 s of system time in a 64-image ``studio stylize`` that computes for
34 s (``studio bench e2e``). With mmap off and the heap kept, freed blocks are reused:
0.3 million faults, 0.9 s, 17 % less wall time, same bits. The cost: the process keeps
its peak heap until it exits, which a command does soon. ``STUDIO_MALLOC=system`` keeps
glibc's defaults.
"""

from __future__ import annotations

import ctypes
import os
import sys

#: mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4
#: the settings, also as the environment variables glibc reads at start (for subprocesses)
SETTINGS = {M_MMAP_MAX: 0, M_TRIM_THRESHOLD: 2**31 - 1, M_TOP_PAD: 64 << 20}
ENV = {name: str(SETTINGS[k]) for name, k in (("MALLOC_MMAP_MAX_", M_MMAP_MAX),
                                               ("MALLOC_TRIM_THRESHOLD_", M_TRIM_THRESHOLD),
                                               ("MALLOC_TOP_PAD_", M_TOP_PAD))}


def keep_freed_memory() -> bool:
    """Apply the policy to this process (glibc only); True when it took effect."""
    if os.environ.get("STUDIO_MALLOC", "").lower() == "system" or not sys.platform.startswith(
            "linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):  # musl and others: no mallopt, nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(k, v) == 1 for k, v in SETTINGS.items())


__all__ = ["keep_freed_memory", "ENV", "SETTINGS"]
