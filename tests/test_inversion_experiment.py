"""The toy-world comparison job wires synthesis, quality and distillation per method."""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from studio.compression.comparison import ComparisonParams, comparison_job
from studio.core.checkpoints import save_state_dict
from studio.core.jobs import drive
from studio.toyworld.generate import SHAPES
from studio.toyworld.models import ToyVGG, ToyVGGConfig


def test_comparison_rows(tmp_path):
    torch.manual_seed(0)
    save_state_dict(ToyVGG(ToyVGGConfig(widths=(4, 4, 4, 4), convs=(1, 1, 1, 1))),
                    tmp_path / "t.pth")
    rng = np.random.default_rng(0)
    for split, n in (("train", 2), ("test", 1)):
        for c in SHAPES:
            d = tmp_path / "world" / split / c
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
                    d / f"{i}.png")
    p = ComparisonParams(out=tmp_path / "cmp", teacher=str(tmp_path / "t.pth"),
                         real=tmp_path / "world", methods=["noise", "real"], num_images=10,
                         batch_size=10, distill_epochs=2, distill_eval_every=5,
                         distill_batch_size=10, device="cpu")
    res = drive(comparison_job(p))
    rows = {r["method"]: r for r in res["rows"]}
    assert set(rows) == {"noise", "real"}
    assert rows["real"]["num_images"] == 10  # one real training image per class
    assert len(list((tmp_path / "cmp" / "synthetic-real").rglob("*.png"))) == 10
    for r in rows.values():
        assert 0.0 <= r["student_final_real_acc"] <= 1.0
        assert set(r["energy_mean"]) == {"synthetic", "real", "noise"}
    saved = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert [r["method"] for r in saved["rows"]] == ["noise", "real"]
    # eval only at the last epoch when eval_every exceeds the epochs
    hist = json.loads((tmp_path / "cmp" / "student-noise" / "distill.json").read_text())
    assert ["real_acc" in h for h in hist["history"]] == [False, True]
