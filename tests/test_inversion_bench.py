"""The benchmark's reference-style loops compute the same losses as our engines."""

from __future__ import annotations

import pytest
import torch

from studio.inversion.bench import RefDeepInversion, RefNaturalInversion, summarize
from studio.inversion.deep import DeepInversion, DeepInversionConfig
from studio.inversion.natural import NaturalInversion, NaturalInversionConfig
from studio.models.teachers import DataPreset, teacher_from_model
from studio.toyworld.models import ToyVGG, ToyVGGConfig

TINY = DataPreset("tiny", 16, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 4)


def teacher():
    torch.manual_seed(0)
    net = ToyVGG(ToyVGGConfig(widths=(4, 6, 8, 8), convs=(1, 1, 1, 1), num_classes=4))
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 1.5)
    return teacher_from_model(net, "toyvgg", TINY)


def test_natural_reference_loop_has_the_same_losses():
    labels = torch.arange(6) % 4
    ours = NaturalInversion(teacher(), labels, NaturalInversionConfig(channels_last=False), 5)
    ours_losses = [ours.step()["loss"] for _ in range(3)]
    best = ours.best()
    ours.close()
    ref = RefNaturalInversion(teacher(), labels, NaturalInversionConfig(), 5)
    ref_losses = [ref.step() for _ in range(3)]
    # equal up to float summation order (fused var_mean vs permute-copy-var)
    assert ref_losses == pytest.approx(ours_losses, rel=1e-3)
    assert torch.allclose(ref.best, best, atol=1e-3)


def test_deep_reference_loop_has_the_same_losses():
    labels = torch.arange(6) % 4
    ours = DeepInversion(teacher(), labels, DeepInversionConfig(channels_last=False), 5)
    ref = RefDeepInversion(teacher(), labels, DeepInversionConfig(), 5)
    ref.inputs.data.copy_(ours.inputs.detach())
    for _ in range(3):
        assert ref.step() == pytest.approx(ours.step()["loss"], rel=1e-3)
    assert torch.allclose(ref.best, ours.best(), atol=1e-5)
    ours.close()


def test_summarize_pairs_reference_and_ours():
    rows = [{"case": "toy", "method": "deep", "variant": "reference", "seconds": 3.0,
             "peak_rss_mb": 900.0},
            {"case": "toy", "method": "deep", "variant": "ours", "seconds": 2.0,
             "peak_rss_mb": 800.0}]
    (s,) = summarize(rows)
    assert s["speedup"] == pytest.approx(1.5) and s["memory_metric"] == "peak_rss_mb"
    assert (s["ref_peak_mb"], s["ours_peak_mb"]) == (900.0, 800.0)


def test_bench_times_the_users_own_teacher_file(tmp_path):
    """`studio bench inversion --teacher FILE`: the user's teacher (here an option-A
    ResNet-20 in akamaster's file format), ours vs the reference-style loop."""
    import json
    import subprocess
    import sys

    from studio.models.cifar import resnet_6n2

    f = tmp_path / "resnet20-mine.th"
    torch.save({"state_dict": {f"module.{k}": v for k, v in resnet_6n2(20).state_dict().items()},
                "best_prec1": 90.0}, f)
    r = subprocess.run([sys.executable, "-m", "studio", "bench", "inversion", "--teacher", str(f),
                        "--methods", "deep", "--batch", "4", "--iters", "1", "--warmup", "0",
                        "--device", "cpu", "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)["summary"]
    assert row["case"] == str(f) and row["method"] == "deep" and row["speedup"] > 0
    assert "resnet20-mine.th deep" in r.stderr + r.stdout
    r = subprocess.run([sys.executable, "-m", "studio", "bench", "inversion", "--teacher",
                        str(tmp_path / "nope.th")], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "nope.th: no such file" in r.stderr
    assert "Traceback" not in r.stderr
