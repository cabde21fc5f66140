"""Read training records back as tracking tools do: TensorBoard's own event reader."""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest


def tb_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} of every event file in ``folder``, via TensorBoard."""
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = ea.EventAccumulator(str(folder), size_guidance={ea.SCALARS: 0})
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def hide_tensorboard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``torch.utils.tensorboard`` unimportable, as without the tensorboard package."""
    real_import = builtins.__import__

    def no_tensorboard(name, *a, **kw):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
