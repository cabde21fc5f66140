"""Quality report: balance, teacher accuracy, diversity, energy; the CLI commands."""

from __future__ import annotations

import json

import pytest
import torch

from studio.cli import main
from studio.core.checkpoints import save_state_dict
from studio.core.jobs import drive
from studio.inversion.data import LabelledImages
from studio.inversion.quality import (
    QualityParams,
    auroc,
    diversity,
    energy_report,
    quality_job,
    quality_report,
)
from studio.inversion.synthesize import SynthesizeParams, synthesize_job
from studio.models.teachers import DataPreset, teacher_from_model
from studio.toyworld.models import ToyVGG, ToyVGGConfig

TINY = DataPreset("tiny", 16, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 4)


def tiny_teacher():
    torch.manual_seed(0)
    net = ToyVGG(ToyVGGConfig(widths=(4, 6, 8, 8), convs=(1, 1, 1, 1), num_classes=4))
    return teacher_from_model(net, "toyvgg", TINY)


def test_auroc_and_diversity_by_hand():
    assert auroc(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])) == 1.0
    assert auroc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 0.0
    assert auroc(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.0])) == 0.5
    same = torch.ones(4, 3)
    labels = torch.tensor([0, 0, 1, 1])
    assert diversity(same, labels) == pytest.approx(0.0, abs=1e-6)
    ortho = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    assert diversity(ortho, labels) == pytest.approx(1.0)


def test_energy_report_shares_bins():
    rep = energy_report({"synthetic": torch.tensor([-5.0, -4.0]), "real": torch.tensor([-6.0]),
                         "noise": torch.tensor([-1.0, -2.0, -1.5])}, bins=5)
    assert len(rep["bin_edges"]) == 6 and rep["bin_edges"][0] == -6.0
    assert sum(rep["sets"]["noise"]["histogram"]) == 3
    assert rep["sets"]["synthetic"]["mean"] == pytest.approx(-4.5)
    assert rep["auroc_synthetic_vs_real"] == 1.0 and rep["auroc_noise_vs_real"] == 1.0


def test_quality_report_on_a_synthetic_set(tmp_path):
    t = tiny_teacher()
    out = tmp_path / "syn"
    drive(synthesize_job(SynthesizeParams(out=out, method="deep", num_images=12, batch_size=6,
                                          iterations=3, preview_every=0, device="cpu"),
                         None, teacher=t))
    rep = drive(quality_job(QualityParams(synthetic=out, real=out, num_noise=16, device="cpu"),
                            None, teacher=t))
    assert rep["num_images"] == 12
    assert rep["class_balance"]["counts"] == {n: 3 for n in t.class_names}
    assert rep["class_balance"]["min_over_max"] == 1.0
    assert 0.0 <= rep["teacher_accuracy"] <= 1.0
    sets = rep["energy"]["sets"]
    assert sets["synthetic"]["n"] == 12 and sets["noise"]["n"] == 16
    # the same images as "real": indistinguishable by energy
    assert rep["energy"]["auroc_synthetic_vs_real"] == pytest.approx(0.5)
    assert json.loads((out / "quality.json").read_text())["num_images"] == 12
    # the manifest's teacher confidence is what the report recomputes from the PNGs
    recs = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert rep["teacher_confidence_mean"] == pytest.approx(
        sum(r["teacher_confidence"] for r in recs) / 12, abs=1e-4)


def test_quality_report_counts_missing_classes():
    t = tiny_teacher()
    imgs = LabelledImages(torch.zeros(3, 3, 16, 16, dtype=torch.uint8),
                          torch.tensor([0, 0, 1]), None, [])
    rep = quality_report(t, imgs, None, 0, torch.device("cpu"))
    assert rep["class_balance"]["counts"]["class_002"] == 0
    assert rep["class_balance"]["min_over_max"] == 0.0
    assert set(rep["energy"]["sets"]) == {"synthetic"}


def test_cli_synthesize_and_quality(tmp_path, capsys):
    torch.manual_seed(0)
    save_state_dict(ToyVGG(ToyVGGConfig(widths=(4, 6, 8, 8), convs=(1, 1, 1, 1))),
                    tmp_path / "t.pth")
    out = tmp_path / "cli"
    assert main(["synthesize", "--teacher", str(tmp_path / "t.pth"), "--out", str(out),
                 "--method", "natural", "--num-images", "4", "--batch-size", "4",
                 "--iterations", "1", "--device", "cpu", "-q"]) == 0
    assert len(list(out.rglob("*.png"))) == 4
    ds = json.loads((out / "dataset.json").read_text())
    assert ds["teacher"]["image_size"] == 64 and ds["config"]["r_feature"] == 10.0
    assert main(["eval", "synthetic", "--synthetic", str(out), "--teacher",
                 str(tmp_path / "t.pth"), "--num-noise", "4", "--device", "cpu", "-q"]) == 0
    assert "energy synthetic" in capsys.readouterr().out
    assert main(["synthesize", "--teacher", str(tmp_path / "missing.pth"), "--out",
                 str(out), "-q"]) == 2
    assert "missing.pth" in capsys.readouterr().err
