"""Choosing the compute device: `auto` takes the first GPU when there is one."""

from __future__ import annotations

import re

import torch


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Turn ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` into a usable :class:`torch.device`.

    Asking for CUDA on a machine without it is an error (silently falling back would make
    a cluster job run 100x slower without anyone noticing).
    """
    if isinstance(spec, torch.device):
        return spec
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    m = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if not m:
        raise ValueError(f"unknown device {spec!r}: use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise ValueError(f"device {spec!r} requested but CUDA is not available on this machine")
    index = int(m.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise ValueError(f"device {spec!r} requested but only {torch.cuda.device_count()} "
                         "CUDA device(s) exist")
    return torch.device("cuda", index)


def describe_device(device: torch.device) -> str:
    """Human-readable name for reports and benchmark headers."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    import platform

    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
