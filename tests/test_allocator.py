"""The heap policy of the `studio` process: freed large blocks are reused, not refaulted."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import ctypes, resource
from studio.core.allocator import keep_freed_memory
took = keep_freed_memory()
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def touch():  # what a tensor's first write does: every page of a 100 MB block
    p = libc.malloc(100 << 20); ctypes.memset(p, 1, 100 << 20); libc.free(p)
touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    touch()
print(took, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

def _run(env_extra: dict[str, str]) -> tuple[str, int]:
    env = {**os.environ, **env_extra}
    env.pop("MALLOC_MMAP_MAX_", None)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_large_blocks_are_reused_and_the_policy_can_be_switched_off():
    took, faults = _run({"STUDIO_MALLOC": ""})
    assert took == "True"
    assert faults < 2000                         # 300 MB allocated again from kept memory
    took, faults = _run({"STUDIO_MALLOC": "system"})
    assert took == "False"
    assert faults > 3 * 100 * 256 * 0.9          # glibc's default: every page faulted anew
